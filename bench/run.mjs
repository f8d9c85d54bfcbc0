// `npm run bench`: this library against memory bandwidth baselines and its
// peers, shape by shape, in one process: BatchNorm's shapes, then the
// family's (LayerNorm, RMSNorm, GroupNorm, InstanceNorm2d). Every
// implementation is checked against a float64 reference before it is timed;
// cells are interleaved round by round and reported as medians with their
// spread, as ratios. The measuring loop is bench/browser/suite.mjs's (shared
// with the headless-Chromium bench); this file supplies Node's instances and
// peers (onnxruntime-web and onnxruntime-node) and prints and writes the results.
// Flags: --smoke (one round, two small BatchNorm shapes and one shape per
// family norm), --only LABEL[,LABEL] (a shape's label, or a norm's name:
// BatchNorm, LayerNorm, RMSNorm, GroupNorm, InstanceNorm2d), --no-peers,
// --json FILE (default bench/out/results.json), --no-results-md (a full run
// otherwise replaces its own section of bench/RESULTS.md), --results-md FILE
// (write that section to FILE instead, after any run, smoke or partial too).
import asc from "assemblyscript/asc";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { rawInstance } from "./cells/ours.mjs";
import { loadPeers } from "./cells/peers.mjs";
import { familyShapeTable, familySummaryTable, machineFacts, shapeTable, targetTable, writeResultsMarkdown } from "./report.mjs";
import { benchSettings, runSuite } from "./browser/suite.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const smoke = args.includes("--smoke");
const jsonPath = args.includes("--json") ? resolve(args[args.indexOf("--json") + 1]) : join(root, "bench/out/results.json");
const settings = benchSettings(smoke);

async function buildBaselines() {
  const { error, stderr } = await asc.main(["--config", join(root, "bench/baselines/asconfig.json")]);
  if (error) throw new Error(`baselines failed to compile: ${stderr.toString()}`);
  return rawInstance(readFileSync(join(root, "bench/out/baselines.wasm")));
}

/**
 * A fresh copy of the built package (its own module instance, so its own wasm
 * memory): memory never shrinks, so a per-shape peak needs a new instance per shape.
 */
async function freshLibrary(tag) {
  const fresh = await import(`${pathToFileURL(join(root, "dist/index.js")).href}?instance=${tag}`);
  await fresh.init({ build: "simd" });
  return fresh;
}

const started = performance.now();
mkdirSync(join(root, "bench/out"), { recursive: true });
const build = (await freshLibrary("probe")).activeBuild();
const baselines = await buildBaselines();
const raw = await rawInstance(readFileSync(join(root, "build/batchnorm.simd.wasm")));
const scalar = await rawInstance(readFileSync(join(root, "build/batchnorm.scalar.wasm")));
const peers = await loadPeers();
const machine = machineFacts(peers.versions);
console.log(`batchnorm-wasm bench (${smoke ? "smoke" : "full"}): ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ${settings.rounds} rounds of ~${settings.roundMs} ms per cell`);

const withPeers = !args.includes("--no-peers");
const only = args.includes("--only") ? args[args.indexOf("--only") + 1].split(",") : null;
// Tables as the suite finishes each shape; BatchNorm's target table between its shapes and the family's.
let batchNormTargetsShown = false;
const showBatchNormTargets = (results) => {
  if (!batchNormTargetsShown && results.length) console.log(`\n${targetTable(results)}`);
  batchNormTargetsShown = true;
};
const shown = [];
const env = {
  freshLibrary, baselines, raw, scalar, peers: withPeers ? peers : null, ortVariants: ["web", "node"],
  onResult: (kind, result) => {
    if (kind === "shape") {
      shown.push(result);
      console.log(`\n${shapeTable(result)}`);
    } else {
      showBatchNormTargets(shown);
      console.log(`\n${familyShapeTable(result)}`);
    }
  },
};
const { results, family } = await runSuite(env, { smoke, only, settings });
showBatchNormTargets(results);
if (family.length) console.log(`\nThe normalization family, summary (* = target missed)\n${familySummaryTable(family)}\n\n${targetTable(family)}`);

const wallSeconds = (performance.now() - started) / 1000;
const output = { date: new Date().toISOString(), machine, build, settings, smoke, wallSeconds, results, family };
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify(output, null, 1)}\n`);
// RESULTS.md keeps one section per (host, runtime); this run replaces its own. --results-md FILE writes FILE instead, after any run.
const mdPath = args.includes("--results-md") ? resolve(args[args.indexOf("--results-md") + 1]) : join(root, "bench/RESULTS.md");
const writeResults = args.includes("--results-md") || (!smoke && !only && withPeers && !args.includes("--no-results-md"));
if (writeResults) writeResultsMarkdown(mdPath, output);
console.log(`\nwrote ${jsonPath}${writeResults ? ` and ${mdPath}` : ""} · wall time ${wallSeconds.toFixed(0)} s`);
