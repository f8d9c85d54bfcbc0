// `npm run bench`: this library against memory bandwidth baselines and its
// peers, shape by shape, in one process: BatchNorm's shapes, then the
// family's (LayerNorm, RMSNorm, GroupNorm, InstanceNorm2d). Every
// implementation is checked against a float64 reference before it is timed;
// cells are interleaved round by round and reported as medians with their
// spread, as ratios.
// Flags: --smoke (one round, two small BatchNorm shapes and one shape per
// family norm), --only LABEL[,LABEL] (a shape's label, or a norm's name:
// BatchNorm, LayerNorm, RMSNorm, GroupNorm, InstanceNorm2d), --no-peers,
// --json FILE, --no-results-md (RESULTS.md is written only by a full run).
import asc from "assemblyscript/asc";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { baselineCells } from "./cells/baselines.mjs";
import { apiCells, rawCells, rawInstance } from "./cells/ours.mjs";
import { loadPeers, ortCells, tfjsCells } from "./cells/peers.mjs";
import { familyCells } from "./cells/family.mjs";
import { familyOrtCells, familyTfjsCells } from "./cells/family-peers.mjs";
import { familyData, familyShapes } from "./family.mjs";
import { evaluateFamilyTargets, familyDiagnostics, familyInGraphPerNode } from "./family-targets.mjs";
import { calibrate, median, spread, timeRounds, warm } from "./harness.mjs";
import { maxError } from "./reference.mjs";
import { familyShapeTable, familySummaryTable, machineFacts, resultsMarkdown, shapeTable, targetTable } from "./report.mjs";
import { benchData, benchShapes } from "./shapes.mjs";
import { diagnostics, evaluateTargets, inGraphPerNode } from "./targets.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const smoke = args.includes("--smoke");
const jsonPath = args.includes("--json") ? resolve(args[args.indexOf("--json") + 1]) : join(root, "bench/out/results.json");
const settings = smoke
  ? { rounds: 1, roundMs: 2, warm: { minCalls: 20, maxCalls: 20, maxMs: 0 } }
  : { rounds: 9, roundMs: 25, warm: { minCalls: 50, maxCalls: 4000, maxMs: 1000 } };
// A check passes when max |error| / max(1, max |reference|) stays below this (float32 work on O(1) data).
const CHECK_TOLERANCE = 1e-4;

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

/** Checks every cell against its float64 reference, warms and calibrates it, then times all of them in interleaved rounds. */
async function measure(cells) {
  for (const cell of cells) {
    if (cell.async) await cell.run();
    else cell.run();
    if (cell.expected) {
      const error = maxError(cell.output(), cell.expected());
      cell.check = { error, passed: error <= CHECK_TOLERANCE };
    }
    await warm(cell, settings.warm);
    cell.reps = await calibrate(cell, settings.roundMs);
  }
  const samples = await timeRounds(cells, settings.rounds);
  return cells.map((cell, i) => ({
    name: cell.name, kind: cell.kind, layoutNote: cell.layoutNote ?? null, check: cell.check ?? null,
    medianMs: median(samples[i]), spread: spread(samples[i]), rounds: samples[i], reps: cell.reps,
  }));
}

const results = [];
const withPeers = !args.includes("--no-peers");
const only = args.includes("--only") ? args[args.indexOf("--only") + 1].split(",") : null;
for (const shape of benchShapes({ smoke }).filter((s) => !only || only.includes(s.label) || only.includes("BatchNorm"))) {
  const data = benchData(shape);
  const lib = await freshLibrary(shape.label);
  const groups = [
    baselineCells(baselines, shape, data, { float64: true }), // the training passes run in float64 lanes
    apiCells(lib, shape, data),
    rawCells(raw, "raw", shape, data),
    rawCells(scalar, "scalar", shape, data),
    ...(withPeers ? [tfjsCells(peers, shape, data), await ortCells(peers, "web", shape, data), await ortCells(peers, "node", shape, data)] : []),
  ];
  const peakWasmBytes = lib.wasmMemoryBytes(); // the API cells' tensors and layers, in this shape's own instance
  // One value per channel (1x1024) cannot be normalized with batch statistics (PyTorch's rule): inference only.
  const inferenceOnly = shape.geometry.N * shape.geometry.S === 1;
  const trainingKinds = new Set(["train", "step", "backward"]);
  const cells = groups.flatMap((g) => g.cells.map((cell) => ({ ...cell, layoutNote: g.layoutNote })))
    .filter((cell) => !(inferenceOnly && trainingKinds.has(cell.kind)));
  const rows = await measure(cells);
  const medians = Object.fromEntries(rows.map((r) => [r.name, r.medianMs]));
  const result = { shape: shape.label, dims: shape.dims, layout: shape.layout, geometry: shape.geometry, bytes: shape.bytes, peakWasmBytes, rows, inGraphPerNodeMs: inGraphPerNode(medians), targets: evaluateTargets(shape, medians), diagnostics: diagnostics(medians) };
  results.push(result);
  console.log(`\n${shapeTable(result)}`);
  for (const g of groups) await g.dispose();
}

if (results.length) console.log(`\n${targetTable(results)}`);

// The family: the same method, its own shapes, references and peers.
const family = [];
for (const shape of familyShapes({ smoke }).filter((s) => !only || only.includes(s.label) || only.includes(s.norm))) {
  const data = familyData(shape);
  const lib = await freshLibrary(shape.label);
  const groups = [
    baselineCells(baselines, shape, data, { jsLoop: false, float64: true }),
    familyCells(lib, shape, data),
    ...(withPeers ? [familyTfjsCells(peers, shape, data), await familyOrtCells(peers, "web", shape, data), await familyOrtCells(peers, "node", shape, data)] : []),
  ];
  const peakWasmBytes = lib.wasmMemoryBytes();
  const rows = await measure(groups.flatMap((g) => g.cells));
  const medians = Object.fromEntries(rows.map((r) => [r.name, r.medianMs]));
  const result = {
    shape: shape.label, norm: shape.norm, numGroups: shape.numGroups, model: shape.model, dims: shape.dims, geometry: shape.geometry, bytes: shape.bytes, peakWasmBytes, rows,
    inGraphPerNodeMs: withPeers ? familyInGraphPerNode(medians) : null, targets: evaluateFamilyTargets(shape, medians), diagnostics: familyDiagnostics(shape, medians),
  };
  family.push(result);
  console.log(`\n${familyShapeTable(result)}`);
  for (const g of groups) await g.dispose();
}
if (family.length) console.log(`\nThe normalization family, summary (* = target missed)\n${familySummaryTable(family)}\n\n${targetTable(family)}`);

const wallSeconds = (performance.now() - started) / 1000;
const output = { date: new Date().toISOString(), machine, build, settings, smoke, wallSeconds, results, family };
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify(output, null, 1)}\n`);
// RESULTS.md keeps one section per (host, runtime); this run replaces its own. --results-md FILE writes FILE instead, after any run.
const mdPath = args.includes("--results-md") ? resolve(args[args.indexOf("--results-md") + 1]) : join(root, "bench/RESULTS.md");
const writeResults = args.includes("--results-md") || (!smoke && !only && withPeers && !args.includes("--no-results-md"));
if (writeResults) (await import("./report.mjs")).writeResultsMarkdown(mdPath, output);
console.log(`\nwrote ${jsonPath}${writeResults ? ` and ${mdPath}` : ""} · wall time ${wallSeconds.toFixed(0)} s`);
