// Runs the conformance suite (every file of test/conformance, unchanged) in
// Deno, Bun, headless Chromium and headless Firefox ESR, with the SIMD and the
// scalar build. The files are bundled once with esbuild, "vitest" aliased to
// test/runtimes/shim.ts. Exports runRuntimes(); run directly it prints a table.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const outDir = join(root, ".tmp/runtimes");
const BUILDS = ["simd", "scalar"];
const CHROMIUM = "/usr/bin/chromium";
const FIREFOX = "/usr/bin/firefox-esr";
const CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const TIMEOUT_MS = 240_000;

/** Bundles every conformance test file into one ES module exporting runAll(). */
async function bundleSuite() {
  mkdirSync(outDir, { recursive: true });
  const testDir = join(root, "test/conformance");
  const files = readdirSync(testDir).filter((f) => f.endsWith(".test.ts")).sort();
  const shim = join(root, "test/runtimes/shim.ts");
  const lines = [`import { beginFile, runCollected } from ${JSON.stringify(shim)};`, "export async function runAll() {"];
  for (const file of files) {
    lines.push(`  beginFile(${JSON.stringify(file)});`, `  await import(${JSON.stringify(join(testDir, file))});`);
  }
  lines.push("  return runCollected();", "}");
  const entry = join(outDir, "entry.ts");
  writeFileSync(entry, lines.join("\n"));
  await build({
    entryPoints: [entry], bundle: true, format: "esm", platform: "neutral", target: "es2022",
    mainFields: ["module", "main"], alias: { vitest: shim }, outfile: join(outDir, "suite.js"), logLevel: "warning",
  });
  for (const b of BUILDS) {
    writeFileSync(join(outDir, `driver-${b}.mjs`), [
      `globalThis.__BN_BUILD__ = ${JSON.stringify(b)};`,
      `const { runAll } = await import("./suite.js");`,
      `console.log("__OUTCOMES__" + JSON.stringify(await runAll()));`,
    ].join("\n"));
  }
  writeFileSync(join(outDir, "index.html"), `<!doctype html><meta charset="utf-8"><title>batchnorm-wasm conformance</title>
<script type="module">
globalThis.__BN_BUILD__ = new URLSearchParams(location.search).get("build");
const { runAll } = await import("./suite.js");
window.__OUTCOMES__ = await runAll();
</script>`);
  return files;
}

function parseOutcomes(stdout) {
  const line = stdout.split("\n").find((l) => l.startsWith("__OUTCOMES__"));
  if (!line) throw new Error(`no results; output ended with: ${stdout.slice(-500)}`);
  return JSON.parse(line.slice("__OUTCOMES__".length));
}

function runCli(command, args) {
  const result = spawnSync(command, args, { cwd: outDir, encoding: "utf8", timeout: TIMEOUT_MS, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, maxBuffer: 64 << 20 });
  if (result.error) throw result.error;
  return parseOutcomes(`${result.stdout}\n${result.stderr}`);
}

function version(command, args) {
  const out = spawnSync(command, args, { encoding: "utf8" });
  return (out.stdout || out.stderr || "").split("\n")[0].trim();
}

/** A static file server for .tmp/runtimes on loopback; resolves to { url, close }. */
function serve() {
  const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html", ".wasm": "application/wasm" };
  const server = createServer((req, res) => {
    const path = join(outDir, decodeURIComponent(new URL(req.url, "http://x").pathname));
    if (!path.startsWith(outDir) || !existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[path.slice(path.lastIndexOf("."))] ?? "application/octet-stream" });
    res.end(readFileSync(path));
  });
  return new Promise((done) => server.listen(0, "127.0.0.1", () => done({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() })));
}

const runtimes = {
  deno: {
    engine: () => version(join(root, "node_modules/.bin/deno"), ["--version"]).replace(/ \(.*\)$/, ""),
    run: async (b) => runCli(join(root, "node_modules/.bin/deno"), ["run", "--quiet", `driver-${b}.mjs`]),
  },
  bun: {
    engine: () => `bun ${version(join(root, "node_modules/.bin/bun"), ["--version"])}`,
    run: async (b) => runCli(join(root, "node_modules/.bin/bun"), [`driver-${b}.mjs`]),
  },
  chromium: {
    async open() {
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
      return { browser, engine: `Chromium ${browser.version()}`, newPage: () => browser.newPage() };
    },
  },
  firefox: {
    async open() {
      const puppeteer = (await import("puppeteer-core")).default;
      const browser = await puppeteer.launch({ browser: "firefox", executablePath: FIREFOX, headless: true, protocol: "webDriverBiDi" });
      return { browser, engine: `Firefox ${(await browser.version()).replace(/^firefox\//i, "")}`, newPage: () => browser.newPage() };
    },
  },
};

async function runInBrowser(name, server) {
  const session = await runtimes[name].open();
  try {
    const results = {};
    for (const b of BUILDS) {
      const page = await session.newPage();
      page.on("pageerror", (error) => console.error(`[${name} ${b}] page error: ${error.message ?? error}`));
      await page.goto(`${server.url}/index.html?build=${b}`);
      await page.waitForFunction(() => window.__OUTCOMES__ !== undefined, { timeout: TIMEOUT_MS, polling: 200 });
      results[b] = await page.evaluate(() => window.__OUTCOMES__);
      await page.close();
    }
    return { engine: session.engine, results };
  } finally {
    await session.browser.close();
  }
}

/** Runs every runtime and build; returns rows { runtime, engine, build, passed, failed, failures }. */
export async function runRuntimes() {
  const files = await bundleSuite();
  console.log(`bundled ${files.length} conformance files for Deno, Bun, Chromium and Firefox`);
  const rows = [];
  const record = (runtime, engine, b, outcomes, error) => {
    const failures = error ? [{ name: "(runtime)", error: String(error?.message ?? error) }] : outcomes.filter((o) => !o.passed);
    rows.push({ runtime, engine, build: b, passed: error ? 0 : outcomes.length - failures.length, failed: failures.length, failures });
  };
  for (const name of ["deno", "bun"]) {
    const engine = runtimes[name].engine();
    for (const b of BUILDS) {
      try {
        record(name, engine, b, await runtimes[name].run(b));
      } catch (error) {
        record(name, engine, b, [], error);
      }
    }
  }
  const server = await serve();
  try {
    for (const name of ["chromium", "firefox"]) {
      try {
        const { engine, results } = await runInBrowser(name, server);
        for (const b of BUILDS) record(name, engine, b, results[b]);
      } catch (error) {
        for (const b of BUILDS) record(name, "?", b, [], error);
      }
    }
  } finally {
    server.close();
  }
  for (const row of rows) {
    for (const f of row.failures.slice(0, 20)) console.log(`FAIL [${row.runtime} ${row.build}] ${f.name}\n    ${f.error}`);
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runRuntimes();
  for (const r of rows) console.log(`${r.runtime.padEnd(9)} ${r.engine.padEnd(28)} ${r.build.padEnd(7)} ${String(r.passed).padStart(5)} passed ${String(r.failed).padStart(4)} failed`);
  process.exitCode = rows.some((r) => r.failed > 0) ? 1 : 0;
}
