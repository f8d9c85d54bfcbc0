// Bundles the facade (with the embedded wasm) into dist/ as ESM and CJS, and
// emits .d.ts files into dist/types (relative imports rewritten to .js).
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const common = { entryPoints: ["src/index.ts"], bundle: true, platform: "neutral", target: "es2022", external: [] };
await build({ ...common, format: "esm", outfile: "dist/index.js", mainFields: ["module", "main"] });
await build({ ...common, format: "cjs", outfile: "dist/index.cjs", mainFields: ["module", "main"] });

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
console.log("bundled dist/index.js and dist/index.cjs; types in dist/types");
