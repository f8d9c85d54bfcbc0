// Bundles the facade (with the embedded wasm) into dist/ as ESM and CJS, once
// per entry point: index (both builds, chosen at init), simd and scalar (one
// build each: the other's generated module is replaced by an empty string,
// which src/wasm.ts reads as "not in this entry point"). Then emits .d.ts
// files into dist/types (relative imports rewritten to .js), shared by all.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Entry point name -> the builds it embeds. */
const ENTRY_POINTS = { index: ["simd", "scalar"], simd: ["simd"], scalar: ["scalar"] };

/** An esbuild plugin that embeds only `builds`: any other build's generated module becomes `wasmBase64 = ""`. */
const onlyBuilds = (builds) => ({
  name: "only-builds",
  setup(esbuild) {
    esbuild.onResolve({ filter: /generated\/wasm-(simd|scalar)\.ts$/ }, (args) => {
      const build = /wasm-(simd|scalar)\.ts$/.exec(args.path)[1];
      return builds.includes(build) ? undefined : { path: build, namespace: "absent-build" };
    });
    esbuild.onLoad({ filter: /.*/, namespace: "absent-build" }, () => ({ contents: `export const wasmBase64 = "";`, loader: "ts" }));
  },
});

for (const [name, builds] of Object.entries(ENTRY_POINTS)) {
  const common = { entryPoints: ["src/index.ts"], bundle: true, platform: "neutral", target: "es2022", external: [], mainFields: ["module", "main"], plugins: [onlyBuilds(builds)] };
  await build({ ...common, format: "esm", outfile: `dist/${name}.js` });
  await build({ ...common, format: "cjs", outfile: `dist/${name}.cjs` });
}

// batchnorm-wasm/node (Node file helpers) and batchnorm-wasm/onnx (ONNX models,
// protobufjs left external: an optional peer dependency) around the core, which
// they import from dist/index.{js,cjs} rather than bundling a second copy (one BatchNormError class).
const coreExternal = (file) => ({
  name: "core-external",
  setup(esbuild) {
    esbuild.onResolve({ filter: /^(\.\/|\.\.\/)index\.ts$/ }, () => ({ path: `./${file}`, external: true }));
  },
});
for (const [entry, platform] of [["node", "node"], ["onnx", "neutral"]]) {
  for (const [format, extension] of [["esm", "js"], ["cjs", "cjs"]]) {
    await build({
      entryPoints: [`src/${entry}.ts`], bundle: true, platform, target: "es2022", format, outfile: `dist/${entry}.${extension}`,
      external: ["protobufjs"], mainFields: ["module", "main"], plugins: [coreExternal(`index.${extension}`)],
    });
  }
}

rmSync("dist/types", { recursive: true, force: true });
const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
function rewriteImports(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) rewriteImports(path);
    else if (path.endsWith(".d.ts")) writeFileSync(path, readFileSync(path, "utf8").replace(/(from\s+["']\.{1,2}\/[^"']+)\.ts(["'])/g, "$1.js$2"));
  }
}
rewriteImports("dist/types");
console.log(`bundled ${[...Object.keys(ENTRY_POINTS), "node", "onnx"].map((name) => `dist/${name}.js`).join(", ")} (and .cjs); types in dist/types`);
