// Re-evaluates saved runs with the current targets and explanations, without
// timing anything again: reads each JSON a bench run wrote (default
// bench/out/results.json and bench/out/browser-results.json, where present),
// recomputes every BatchNorm shape's targets and diagnostics from its medians,
// and replaces that run's section of bench/RESULTS.md (--results-md FILE: FILE).
// For a change to targets.mjs or report.mjs; any kernel change needs a new run.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeResultsMarkdown } from "./report.mjs";
import { diagnostics, evaluateLayoutPairs, evaluateTargets, inGraphPerNode } from "./targets.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const mdFlag = args.indexOf("--results-md");
const mdPath = mdFlag >= 0 ? resolve(args[mdFlag + 1]) : join(root, "bench/RESULTS.md");
const given = args.filter((a, i) => !a.startsWith("--") && i !== mdFlag + 1);
const files = given.length ? given.map((f) => resolve(f)) : ["bench/out/results.json", "bench/out/browser-results.json"].map((f) => join(root, f)).filter(existsSync);

for (const file of files) {
  const output = JSON.parse(readFileSync(file, "utf8"));
  if (output.smoke) throw new Error(`${file} is a smoke run: RESULTS.md holds full runs only`);
  for (const result of output.results) {
    const medians = Object.fromEntries(result.rows.map((r) => [r.name, r.medianMs]));
    result.inGraphPerNodeMs = inGraphPerNode(medians);
    result.targets = evaluateTargets({ label: result.shape, bytes: result.bytes, layout: result.layout }, medians);
    result.diagnostics = diagnostics(medians);
  }
  evaluateLayoutPairs(output.results);
  writeResultsMarkdown(mdPath, output);
  console.log(`${file}: ${output.results.length} shapes re-evaluated into ${mdPath}`);
}
