// `npm run demo:web`: serves the live demo page on loopback. The digits go to
// the page as the same quantized bytes the terminal demo trains on.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { portFromArgs, servePage } from "../scripts/serve-page.mjs";
import { encodeDataset } from "../shared/mnist.mjs";
import { loadMnist } from "../shared/mnist-node.mjs";

const pageDir = join(import.meta.dirname, "page");

/** Serves the page in `dir` (index.html, main.mjs) with the digits at ./mnist.bin; resolves to { url, close }. */
export function servePageWithDigits(dir, { port = 0 } = {}) {
  return servePage({
    html: join(dir, "index.html"), script: join(dir, "main.mjs"), port,
    extraFiles: { "/mnist.bin": { type: "application/octet-stream", body: encodeDataset(loadMnist()) } },
  });
}

/** Resolves to { url, close }. */
export function startDemoServer({ port = 0 } = {}) {
  return servePageWithDigits(pageDir, { port });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url } = await startDemoServer({ port: portFromArgs(8081) });
  console.log(`live demo: ${url} (Ctrl-C to stop)`);
}
