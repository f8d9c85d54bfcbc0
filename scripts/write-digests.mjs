// Writes test/golden/digests.json from the battery in test/support/digest-battery.ts,
// run with the SIMD build; refuses unless the scalar build gives the same digests.
import { build } from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

mkdirSync(".tmp", { recursive: true });
await build({
  stdin: {
    contents: `export { runBattery } from "./test/support/digest-battery.ts"; export { init } from "./src/index.ts";`,
    resolveDir: process.cwd(), loader: "ts",
  },
  bundle: true, format: "esm", platform: "neutral", outfile: ".tmp/digest-battery.mjs", logLevel: "warning",
});
const perBuild = {};
for (const buildName of ["simd", "scalar"]) {
  // A fresh module instance per build: init() is memoised per instance.
  const { init, runBattery } = await import(`${pathToFileURL(".tmp/digest-battery.mjs").href}?build=${buildName}`);
  await init({ build: buildName });
  perBuild[buildName] = runBattery();
}
if (JSON.stringify(perBuild.simd) !== JSON.stringify(perBuild.scalar)) {
  console.error("the SIMD and scalar builds disagree; not writing the golden file");
  process.exit(1);
}
writeFileSync("test/golden/digests.json", `${JSON.stringify({ note: "FNV-1a of output bytes; see test/support/digest-battery.ts", cases: perBuild.simd }, null, 1)}\n`);
console.log(`wrote test/golden/digests.json (${Object.keys(perBuild.simd).length} cases)`);
