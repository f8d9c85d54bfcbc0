// Prints README's bundle-size table: each entry point of package.json's
// exports map that embeds a wasm build, as a user's bundler would ship it
// (ESM, minified by esbuild), raw and gzip-compressed (level 9).
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const { name, exports } = JSON.parse(readFileSync("package.json", "utf8"));
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;
console.log("| entry point | builds | minified | gzip |\n|---|---|---:|---:|");
for (const [subpath, target] of Object.entries(exports)) {
  if (typeof target === "string") continue; // ./package.json
  const source = readFileSync(target.import, "utf8");
  const builds = ["simd", "scalar"].filter((b) => new RegExp(`generated/wasm-${b}\\.ts`).test(source)).join(", ");
  if (builds === "") continue; // a helper entry point without kernels of its own
  const minified = (await build({ entryPoints: [target.import], bundle: true, minify: true, format: "esm", write: false, logLevel: "warning" })).outputFiles[0].contents;
  console.log(`| \`${name}${subpath.slice(1)}\` | ${builds} | ${kb(minified.length)} | ${kb(gzipSync(minified, { level: 9 }).length)} |`);
}
