// `npm run example`: bundles examples/page with esbuild (the package imported
// by its name, as a user would) and serves it on loopback.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pageDir = join(root, "examples/page");

/** Bundles the page and serves it; resolves to { url, close }. */
export async function startExampleServer({ port = 0, host = "127.0.0.1" } = {}) {
  const bundle = await build({
    entryPoints: [join(pageDir, "main.mjs")], bundle: true, format: "esm", target: "es2022", write: false,
    alias: { "batchnorm-wasm": join(root, "dist/index.js") }, logLevel: "warning",
  });
  const files = {
    "/": { type: "text/html", body: readFileSync(join(pageDir, "index.html")) },
    "/main.js": { type: "text/javascript", body: bundle.outputFiles[0].contents },
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url, "http://localhost").pathname];
    if (file) res.writeHead(200, { "content-type": file.type }).end(file.body);
    else res.writeHead(404).end("not found");
  });
  await new Promise((done) => server.listen(port, host, done));
  return { url: `http://${host}:${server.address().port}/`, close: () => new Promise((done) => server.close(done)) };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const portFlag = process.argv.indexOf("--port");
  const { url } = await startExampleServer({ port: portFlag > 0 ? Number(process.argv[portFlag + 1]) : 8080 });
  console.log(`example page: ${url} (Ctrl-C to stop)`);
}
