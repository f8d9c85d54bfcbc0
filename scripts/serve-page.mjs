// Serves a page on loopback: its HTML, its script bundled by esbuild (the
// package imported by name resolves to dist/), and any extra files.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");

/** Resolves to { url, close }. `extraFiles`: path -> { type, body }. */
export async function servePage({ html, script, extraFiles = {}, port = 0, host = "127.0.0.1" }) {
  const bundle = await build({
    entryPoints: [script], bundle: true, format: "esm", target: "es2022", write: false,
    alias: { "batchnorm-wasm": join(root, "dist/index.js") }, logLevel: "warning",
  });
  const files = {
    "/": { type: "text/html", body: readFileSync(html) },
    "/main.js": { type: "text/javascript", body: bundle.outputFiles[0].contents },
    ...extraFiles,
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url, "http://localhost").pathname];
    if (file) res.writeHead(200, { "content-type": file.type }).end(file.body);
    else res.writeHead(404).end("not found");
  });
  await new Promise((done) => server.listen(port, host, done));
  return { url: `http://${host}:${server.address().port}/`, close: () => new Promise((done) => server.close(done)) };
}

/** The port given by `--port N` on the command line, else `fallback`. */
export function portFromArgs(fallback) {
  const at = process.argv.indexOf("--port");
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}
