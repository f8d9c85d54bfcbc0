// `npm run bench:browser`: the benchmark of bench/run.mjs in headless Chromium
// (playwright-core driving /usr/bin/chromium), for the cells that run in a
// page: baselines, this library's API and raw cells, the family, and the page
// peers (TensorFlow.js wasm backend, ONNX Runtime Web; not onnxruntime-node).
// This launcher builds the baselines, bundles bench/browser/page.mjs with
// esbuild (Node built-ins and esbuild, imported by bench/cells/peers.mjs for
// its Node loader only, become empty modules), serves it with dist/, build/,
// the baselines and the peers' .wasm files on loopback, prints each shape's
// table as the page reports it, and writes bench/out/browser-results.json.
// It exits non-zero with a message when a cell throws or a check fails.
// Flags: --smoke, --only LABEL[,LABEL], --no-peers, --json FILE,
// --no-results-md, --results-md FILE (also after a smoke or partial run; a
// full run writes bench/RESULTS.md by default).
import asc from "assemblyscript/asc";
import { build } from "esbuild";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { familyShapeTable, familySummaryTable, machineFacts, shapeTable, targetTable, writeResultsMarkdown } from "../report.mjs";
import { failedChecks } from "./suite.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const flag = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : null);
const smoke = args.includes("--smoke");
const only = flag("--only");
const withPeers = !args.includes("--no-peers");
const jsonPath = resolve(flag("--json") ?? join(root, "bench/out/browser-results.json"));
const CHROMIUM = "/usr/bin/chromium";
const TIMEOUT_MS = 45 * 60_000; // a full run took ~8 minutes in Node on 2 shared cores: a page silent this long has hung
const CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function buildBaselines() {
  const { error, stderr } = await asc.main(["--config", join(root, "bench/baselines/asconfig.json")]);
  if (error) throw new Error(`baselines failed to compile: ${stderr.toString()}`);
}

/**
 * esbuild plugin: what bench/cells/peers.mjs's Node loader (loadPeers, not
 * called in a page) imports becomes an empty CommonJS module: Node built-ins,
 * esbuild, onnxruntime-node, and onnxruntime-web's default entry (the page
 * imports onnxruntime-web/wasm: the plain wasm build, as Node's entry loads).
 */
const nodeOnlyAsEmpty = {
  name: "node-only-as-empty",
  setup(b) {
    b.onResolve({ filter: /^(node:|esbuild$|onnxruntime-node$|onnxruntime-web$)/ }, (a) => ({ path: a.path, namespace: "node-only" }));
    b.onLoad({ filter: /.*/, namespace: "node-only" }, () => ({ contents: "module.exports = {};", loader: "js" }));
  },
};

async function bundlePage() {
  const out = await build({
    entryPoints: [join(root, "bench/browser/page.mjs")], bundle: true, format: "esm", platform: "browser", target: "es2022",
    write: false, plugins: [nodeOnlyAsEmpty], logLevel: "warning",
  });
  return out.outputFiles[0].contents;
}

const packageDir = (name) => join(root, "node_modules", name); // onnxruntime-web exports no ./package.json to resolve
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm" };

/**
 * Loopback server: the page, its bundle, and URL prefixes mapped to folders.
 * Cross-origin isolated (COOP/COEP), so the page's timer has fine resolution.
 */
async function serve(bundle) {
  const html = `<!doctype html><meta charset="utf-8"><title>batchnorm-wasm bench</title><script type="module" src="/page.js"></script>`;
  const fixed = { "/": ["text/html", html], "/page.js": ["text/javascript", bundle] };
  const folders = {
    "/dist/": join(root, "dist"), "/build/": join(root, "build"), "/bench/out/": join(root, "bench/out"),
    "/tfjs/": join(packageDir("@tensorflow/tfjs-backend-wasm"), "dist"), "/ort/": join(packageDir("onnxruntime-web"), "dist"),
  };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://localhost").pathname);
    const headers = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
    if (path === "/favicon.ico") return res.writeHead(204).end();
    if (fixed[path]) return res.writeHead(200, { ...headers, "content-type": fixed[path][0] }).end(fixed[path][1]);
    const prefix = Object.keys(folders).find((p) => path.startsWith(p));
    const file = prefix && resolve(folders[prefix], path.slice(prefix.length));
    if (!file || !file.startsWith(folders[prefix] + sep) || !existsSync(file)) return res.writeHead(404).end("not found");
    res.writeHead(200, { ...headers, "content-type": TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream" }).end(readFileSync(file));
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((done) => server.close(done)) };
}

/** Runs the page to its end; resolves to { engine, done } or rejects on a page error, a crash or a reported error. */
async function runPage(url) {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  let watchdog;
  try {
    const page = await browser.newPage();
    const finished = new Promise((done, fail) => {
      watchdog = setTimeout(() => fail(new Error(`no result after ${TIMEOUT_MS / 60_000} minutes`)), TIMEOUT_MS);
      page.on("pageerror", (error) => fail(new Error(`page error: ${error.stack ?? error.message ?? error}`)));
      page.on("crash", () => fail(new Error("the page crashed")));
      page.on("console", (message) => { if (message.type() === "error") console.error(`[page] ${message.text()}`); });
      page.on("response", (response) => { if (process.env.BENCH_BROWSER_DEBUG || response.status() >= 400) console.error(`[page] ${response.status()} ${response.url()}`); });
      page.exposeFunction("benchReport", ({ type, payload }) => {
        if (type === "shape") console.log(`\n${shapeTable(payload)}`);
        else if (type === "family") console.log(`\n${familyShapeTable(payload)}`);
        else if (type === "start") console.log(`page: ${payload.page.userAgent}; ${payload.page.hardwareConcurrency} cores; cross-origin isolated: ${payload.page.crossOriginIsolated}; tfjs backend: ${payload.page.tfjsBackend ?? "-"}`);
        else if (type === "done") done(payload);
        else if (type === "error") fail(new Error(`the page reported: ${payload.message}`));
      }).then(() => page.goto(url)).catch(fail);
    });
    return { engine: `Chromium ${browser.version()}`, done: await finished };
  } finally {
    clearTimeout(watchdog);
    await browser.close();
  }
}

const started = performance.now();
mkdirSync(join(root, "bench/out"), { recursive: true });
await buildBaselines();
const server = await serve(await bundlePage());
const query = new URLSearchParams({ smoke: smoke ? "1" : "0", peers: withPeers ? "1" : "0", ...(only ? { only } : {}) });
const host = machineFacts({});
console.log(`batchnorm-wasm browser bench (${smoke ? "smoke" : "full"}): ${host.cpu}, ${host.cores} cores; headless Chromium`);
let run;
try {
  run = await runPage(`${server.url}?${query}`);
} catch (error) {
  console.error(`\nbrowser bench FAILED: ${error.message}`);
  process.exit(1);
} finally {
  await server.close();
}
const { engine, done } = run;
const { results, family, page } = done;
if (results.length) console.log(`\n${targetTable(results)}`);
if (family.length) console.log(`\nThe normalization family, summary (* = target missed)\n${familySummaryTable(family)}\n\n${targetTable(family)}`);

const wallSeconds = (performance.now() - started) / 1000;
const machine = { ...machineFacts(page.packages), runtime: engine, page };
const output = { date: new Date().toISOString(), machine, build: done.build, settings: done.settings, smoke, wallSeconds, results, family };
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify(output, null, 1)}\n`);
const failures = failedChecks(done);
if (failures.length) {
  console.error(`\nbrowser bench FAILED: ${failures.length} check(s) against float64 failed:\n${failures.map((f) => `  ${f}`).join("\n")}\nwrote ${jsonPath}`);
  process.exit(1);
}
const mdPath = flag("--results-md") ? resolve(flag("--results-md")) : join(root, "bench/RESULTS.md");
const writeResults = Boolean(flag("--results-md")) || (!smoke && !only && withPeers && !args.includes("--no-results-md"));
if (writeResults) writeResultsMarkdown(mdPath, output);
console.log(`\n${engine}: all checks passed. wrote ${jsonPath}${writeResults ? ` and ${mdPath}` : ""} · wall time ${wallSeconds.toFixed(0)} s`);
