// `npm run example`: serves examples/page (bundled, the package imported by
// its name as a user would) on loopback.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { portFromArgs, servePage } from "../scripts/serve-page.mjs";

const pageDir = join(import.meta.dirname, "page");

/** Resolves to { url, close }. */
export function startExampleServer({ port = 0 } = {}) {
  return servePage({ html: join(pageDir, "index.html"), script: join(pageDir, "main.mjs"), port });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url } = await startExampleServer({ port: portFromArgs(8080) });
  console.log(`example page: ${url} (Ctrl-C to stop)`);
}
