// `npm run demo:adapt:web`: serves the adaptation demo's live page on loopback.
// The digits go to the page as the same quantized bytes the terminal run uses.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { portFromArgs } from "../../scripts/serve-page.mjs";
import { servePageWithDigits } from "../serve.mjs";

/** Resolves to { url, close }. */
export function startAdaptServer({ port = 0 } = {}) {
  return servePageWithDigits(join(import.meta.dirname, "page"), { port });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url } = await startAdaptServer({ port: portFromArgs(8082) });
  console.log(`live adaptation demo: ${url} (Ctrl-C to stop; ?steps=N&shifts=a,b&test=N for a shorter run)`);
}
