// The npm package from the outside: `npm pack`, install the tarball into a
// fresh project, and use it from Node ESM, Node CJS, Deno, Bun, TypeScript
// and an esbuild-bundled page in Chromium. Every consumer must print exactly
// the numbers this process computes from the sources.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as source from "../../src/index.ts";
import { withChromiumPage } from "../support/chromium.ts";

const root = resolve(import.meta.dirname, "../..");
const bin = (name: string) => join(root, "node_modules/.bin", name);
let project = "";
const SINGLE_BUILDS = ["simd", "scalar"] as const;

/** The consumer's work; its source text is written into every entry point. */
async function consume(lib: typeof source) {
  const { init, BatchNorm, Tensor, liveTensorCount } = lib;
  const { build } = await init();
  const shape = [2, 3, 5];
  const x = Tensor.from(Float32Array.from({ length: 30 }, (_, i) => ((i * 37) % 11) - 5 + (i % 3) * 100), shape);
  const dy = Tensor.from(Float32Array.from({ length: 30 }, (_, i) => ((i * 13) % 7) / 7 - 0.5), shape);
  const bn = new BatchNorm(3);
  const y = bn.forward(x);
  const dx = bn.backward(dy);
  bn.eval();
  const yEval = bn.forward(x);
  const result = {
    build, y: Array.from(y.toFloat32Array()), dx: Array.from(dx.toFloat32Array()), yEval: Array.from(yEval.toFloat32Array()),
    runningVar: Array.from(bn.runningVar!.toFloat32Array()), weightGrad: Array.from(bn.weightGrad!.toFloat32Array()),
    numBatchesTracked: bn.numBatchesTracked,
  };
  for (const t of [x, dy, y, dx, yEval]) t.dispose();
  bn.dispose();
  return { ...result, liveTensors: liveTensorCount() };
}
// esbuild (vitest's transform) strips the types, so the text is plain JavaScript.
const consumeSource = `const consume = ${consume.toString()};`;

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { cwd: project, encoding: "utf8", env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, timeout: 120_000 });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed:\n${stdout}${stderr}`);
  }
}

const lastJson = (output: string) => JSON.parse(output.trim().split("\n").at(-1)!);

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), "batchnorm-wasm-consumer-"));
  execFileSync("npm", ["pack", "--silent", "--pack-destination", project], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  const tarball = readdirSync(project).find((f) => f.endsWith(".tgz"))!;
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, version: "1.0.0" }));
  run("npm", ["install", "--no-audit", "--no-fund", "--offline", `./${tarball}`]);
  writeFileSync(join(project, "esm.mjs"), `import * as lib from "batchnorm-wasm";\n${consumeSource}\nconsole.log(JSON.stringify(await consume(lib)));\n`);
  writeFileSync(join(project, "cjs.cjs"), `const lib = require("batchnorm-wasm");\n${consumeSource}\nconsume(lib).then((r) => console.log(JSON.stringify(r)));\n`);
  writeFileSync(join(project, "page.mjs"), `import * as lib from "batchnorm-wasm";\n${consumeSource}\nwindow.__RESULT__ = await consume(lib);\n`);
  for (const build of SINGLE_BUILDS) {
    const other = build === "simd" ? "scalar" : "simd";
    // Each single-build entry point refuses the other build (pointing to the entry that has it), then runs its own.
    const refusal = `const refused = await lib.init({ build: ${JSON.stringify(other)} }).then(() => "loaded", (e) => e.code + " " + e.message);`;
    writeFileSync(join(project, `${build}.mjs`), `import * as lib from "batchnorm-wasm/${build}";\n${consumeSource}\n${refusal}\nconst result = await consume(lib);\nconsole.log(JSON.stringify({ ...result, refused }));\n`);
    writeFileSync(join(project, `${build}.cjs`), `const lib = require("batchnorm-wasm/${build}");\n${consumeSource}\nconsume(lib).then((r) => console.log(JSON.stringify(r)));\n`);
  }
}, 180_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe("the packed tarball in a fresh project", () => {
  let expected: Awaited<ReturnType<typeof consume>>;
  beforeAll(async () => {
    expected = await consume(source);
  });

  it("the tarball holds only dist/, README, LICENSE and package.json, and has no dependencies", () => {
    const listing = execFileSync("tar", ["-tzf", join(project, readdirSync(project).find((f) => f.endsWith(".tgz"))!)], { encoding: "utf8" });
    const files = listing.trim().split("\n").map((f) => f.replace(/^package\//, ""));
    expect(files.every((f) => ["package.json", "README.md", "LICENSE"].includes(f) || f.startsWith("dist/"))).toBe(true);
    expect(files).toEqual(expect.arrayContaining([
      "LICENSE", "dist/index.js", "dist/index.cjs", "dist/simd.js", "dist/simd.cjs", "dist/scalar.js", "dist/scalar.cjs", "dist/types/index.d.ts",
      "dist/node.js", "dist/node.cjs", "dist/onnx.js", "dist/onnx.cjs", "dist/types/node.d.ts", "dist/types/onnx.d.ts",
    ]));
    const manifest = JSON.parse(execFileSync("node", ["-p", "JSON.stringify(require('batchnorm-wasm/package.json'))"], { cwd: project, encoding: "utf8" }));
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.engines).toEqual({ node: ">=20" });
    expect(manifest.license).toBe("MIT");
  });

  it.each(SINGLE_BUILDS)("batchnorm-wasm/%s runs its build only, with the same numbers (ESM and CJS)", (build) => {
    const other = build === "simd" ? "scalar" : "simd";
    const { refused, ...got } = lastJson(run(process.execPath, [`${build}.mjs`]));
    expect(got).toEqual({ ...expected, build }); // both builds give identical bits
    expect(refused).toMatch(new RegExp(`^ERR_BUILD .*only the ${build === "simd" ? "SIMD" : "scalar"} build.*"batchnorm-wasm/${other}"`));
    expect(lastJson(run(process.execPath, [`${build}.cjs`]))).toEqual({ ...expected, build });
  });

  it("each single-build file embeds only its build and is smaller than the auto-detecting one", () => {
    const dist = join(project, "node_modules/batchnorm-wasm/dist");
    const text = (file: string) => readFileSync(join(dist, file), "utf8");
    const base64Of = (build: string) => /wasmBase642? = "([^"]{100,})"/.exec(text(`${build}.js`))![1];
    const simd = base64Of("simd"), scalar = base64Of("scalar");
    expect(text("index.js")).toContain(simd);
    expect(text("index.js")).toContain(scalar);
    for (const format of ["js", "cjs"]) {
      expect(text(`simd.${format}`)).not.toContain(scalar);
      expect(text(`scalar.${format}`)).not.toContain(simd);
      expect(text(`simd.${format}`).length).toBeLessThan(text(`index.${format}`).length - scalar.length / 2);
      expect(text(`scalar.${format}`).length).toBeLessThan(text(`index.${format}`).length - simd.length / 2);
    }
  });

  it("Node ESM import gives the same numbers", () => {
    const got = lastJson(run(process.execPath, ["esm.mjs"]));
    expect(got).toEqual(expected);
    expect(got.build).toBe("simd");
    expect(got.liveTensors).toBe(0);
  });

  it("Node CJS require gives the same numbers", () => {
    expect(lastJson(run(process.execPath, ["cjs.cjs"]))).toEqual(expected);
  });

  it("Deno gives the same numbers", () => {
    expect(lastJson(run(bin("deno"), ["run", "--quiet", "esm.mjs"]))).toEqual(expected);
  });

  it("Bun gives the same numbers (ESM and CJS)", () => {
    expect(lastJson(run(bin("bun"), ["esm.mjs"]))).toEqual(expected);
    expect(lastJson(run(bin("bun"), ["cjs.cjs"]))).toEqual(expected);
  });

  it("TypeScript finds the types (nodenext and bundler resolution)", () => {
    writeFileSync(join(project, "typed.mts"), [
      `import { BatchNorm, Tensor, init, BatchNormError, type BatchNormState } from "batchnorm-wasm";`,
      `await init({ build: "scalar" });`,
      `const bn: BatchNorm = new BatchNorm(3, { momentum: null, layout: "channels-last" });`,
      `const state: BatchNormState = bn.stateDict();`,
      `const size: number = Tensor.zeros([2, 3]).size + Number(state.num_batches_tracked ?? 0);`,
      `import { init as initSimd, tidy } from "batchnorm-wasm/simd";`,
      `import { SGD } from "batchnorm-wasm";`,
      `import { BatchNorm as ScalarBatchNorm } from "batchnorm-wasm/scalar";`,
      `const kept: Tensor = tidy(() => Tensor.zeros([1]));`,
      `void initSimd; void ScalarBatchNorm; void kept;`,
      // Parameter accessors follow the flags; toArray() is typed by rank; the internals are not in the types.
      `const weight: Tensor = new BatchNorm(3).weight, mean: Tensor = new BatchNorm(3).runningMean;`,
      `const none: null = new BatchNorm(3, { affine: false }).weight;`,
      `const anyLayer: BatchNorm = new BatchNorm(3, { affine: false, trackRunningStats: false });`,
      `const rows: number[][] = Tensor.zeros([2, 3]).toArray();`,
      `const sgd: SGD = new SGD(new BatchNorm(2).parameters(), { lr: 0.1, momentum: 0.9 });`,
      `void weight; void mean; void none; void anyLayer; void rows; void sgd;`,
      `// @ts-expect-error internal`,
      `Tensor.zeros([1]).markWritten();`,
      `// @ts-expect-error internal`,
      `void Tensor.zeros([1]).byteOffset;`,
      `// @ts-expect-error internal`,
      `void Tensor.zeros([1]).version;`,
      `// @ts-expect-error internal`,
      `Tensor.zeros([1]).assertLive("t");`,
      `// @ts-expect-error numFeatures is a number`,
      `new BatchNorm("3");`,
      `export { size, BatchNormError };`,
    ].join("\n"));
    for (const resolution of [["--module", "nodenext", "--moduleResolution", "nodenext"], ["--module", "esnext", "--moduleResolution", "bundler"]]) {
      run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "--noEmit", "--strict", "--target", "es2022", "--lib", "es2022,esnext.disposable,dom", ...resolution, "typed.mts"]);
    }
  });

  it("an esbuild-bundled page in Chromium gives the same numbers", async () => {
    await build({ entryPoints: [join(project, "page.mjs")], absWorkingDir: project, bundle: true, format: "esm", outfile: join(project, "page.js"), logLevel: "warning" });
    const server = createServer((req, res) => {
      if (req.url === "/page.js") res.writeHead(200, { "content-type": "text/javascript" }).end(execFileSync("cat", [join(project, "page.js")]));
      else res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><script type="module" src="/page.js"></script>`);
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    try {
      await withChromiumPage({ width: 800, height: 600 }, async (page) => {
        await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
        await page.waitForFunction(() => (window as { __RESULT__?: unknown }).__RESULT__ !== undefined, undefined, { timeout: 30_000 });
        expect(await page.evaluate(() => (window as { __RESULT__?: unknown }).__RESULT__)).toEqual(expected);
      });
    } finally {
      server.close();
    }
  });
});
