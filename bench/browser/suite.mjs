// The benchmark's measuring loop with no Node built-ins, for the page (and any
// other runtime): the same cells, checks, warm-up, calibration and interleaved
// rounds as bench/run.mjs, shape by shape, BatchNorm's shapes then the
// family's. The caller supplies how to get a fresh library instance, the
// baseline and raw kernel instances, the peers, and which ONNX Runtime
// variants exist (in a page only "web").
import { baselineCells } from "../cells/baselines.mjs";
import { apiCells, rawCells } from "../cells/ours.mjs";
import { ortCells, tfjsCells } from "../cells/peers.mjs";
import { familyCells } from "../cells/family.mjs";
import { familyOrtCells, familyTfjsCells } from "../cells/family-peers.mjs";
import { familyData, familyShapes } from "../family.mjs";
import { evaluateFamilyTargets, familyDiagnostics, familyInGraphPerNode } from "../family-targets.mjs";
import { calibrate, median, spread, timeRounds, warm } from "../harness.mjs";
import { maxError } from "../reference.mjs";
import { benchData, benchShapes } from "../shapes.mjs";
import { diagnostics, evaluateLayoutPairs, evaluateTargets, inGraphPerNode } from "../targets.mjs";

// A check passes when max |error| / max(1, max |reference|) stays below this (float32 work on O(1) data).
export const CHECK_TOLERANCE = 1e-4;

export const benchSettings = (smoke) => (smoke
  ? { rounds: 1, roundMs: 2, warm: { minCalls: 20, maxCalls: 20, maxMs: 0 } }
  : { rounds: 9, roundMs: 25, warm: { minCalls: 50, maxCalls: 4000, maxMs: 1000 } });

/** Checks every cell against its float64 reference, warms and calibrates it, then times all of them in interleaved rounds. */
export async function measureCells(cells, settings) {
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

const TRAINING_KINDS = new Set(["train", "step", "backward"]);

// Peer cells not run on tensors above 32 MiB (the L3 of the host the bench was
// written on): one call of tfjs-wasm's train step (tf.grads through moments and
// batchNorm) took ~2 s on 16x256x64x64 (64 MiB), so its 50 warm-up calls and
// timed rounds would add about two minutes per shape. The result lists them
// under `skipped`, and the shape's table says so.
const SLOW_PEER_CELLS = {
  aboveBytes: 32 * 2 ** 20,
  names: new Set(["tfjs-wasm train step"]),
  why: "not run on tensors above 32 MiB: one call takes ~2 s at 64 MiB",
};

/**
 * Runs every selected shape. `env`: { freshLibrary(tag), baselines, raw,
 * scalar, peers (null: no peer cells), ortVariants, onResult(kind, result) }.
 * `options`: { smoke, only (labels or norm names, or null), settings }.
 * Resolves to { results, family } in bench/run.mjs's JSON form.
 */
export async function runSuite(env, { smoke, only, settings }) {
  const picked = (label, group) => !only || only.includes(label) || only.includes(group);
  const measure = (cells) => measureCells(cells, settings);
  const results = [];
  for (const shape of benchShapes({ smoke }).filter((s) => picked(s.label, "BatchNorm"))) {
    const data = benchData(shape);
    const lib = await env.freshLibrary(shape.label);
    const groups = [
      baselineCells(env.baselines, shape, data, { float64: true }),
      apiCells(lib, shape, data),
      rawCells(env.raw, "raw", shape, data),
      rawCells(env.scalar, "scalar", shape, data),
      ...(env.peers ? [tfjsCells(env.peers, shape, data), ...await Promise.all(env.ortVariants.map((which) => ortCells(env.peers, which, shape, data)))] : []),
    ];
    const peakWasmBytes = lib.wasmMemoryBytes();
    // One value per channel (1x1024) cannot be normalized with batch statistics: inference only.
    const inferenceOnly = shape.geometry.N * shape.geometry.S === 1;
    const tooSlow = (cell) => shape.bytes > SLOW_PEER_CELLS.aboveBytes && SLOW_PEER_CELLS.names.has(cell.name);
    const selected = groups.flatMap((g) => g.cells.map((cell) => ({ ...cell, layoutNote: g.layoutNote })))
      .filter((cell) => !(inferenceOnly && TRAINING_KINDS.has(cell.kind)));
    const skipped = selected.filter(tooSlow).map((cell) => ({ name: cell.name, why: SLOW_PEER_CELLS.why }));
    const rows = await measure(selected.filter((cell) => !tooSlow(cell)));
    const medians = Object.fromEntries(rows.map((r) => [r.name, r.medianMs]));
    const result = { shape: shape.label, dims: shape.dims, layout: shape.layout, geometry: shape.geometry, bytes: shape.bytes, peakWasmBytes, rows, skipped, inGraphPerNodeMs: inGraphPerNode(medians), targets: evaluateTargets(shape, medians), diagnostics: diagnostics(medians) };
    results.push(result);
    await env.onResult("shape", result);
    for (const g of groups) await g.dispose();
  }
  evaluateLayoutPairs(results);
  const family = [];
  for (const shape of familyShapes({ smoke }).filter((s) => picked(s.label, s.norm))) {
    const data = familyData(shape);
    const lib = await env.freshLibrary(shape.label);
    const groups = [
      baselineCells(env.baselines, shape, data, { jsLoop: false, float64: true }),
      familyCells(lib, shape, data),
      ...(env.peers ? [familyTfjsCells(env.peers, shape, data), ...await Promise.all(env.ortVariants.map((which) => familyOrtCells(env.peers, which, shape, data)))] : []),
    ];
    const peakWasmBytes = lib.wasmMemoryBytes();
    const rows = await measure(groups.flatMap((g) => g.cells));
    const medians = Object.fromEntries(rows.map((r) => [r.name, r.medianMs]));
    const inGraph = familyInGraphPerNode(medians);
    const result = {
      shape: shape.label, norm: shape.norm, numGroups: shape.numGroups, model: shape.model, dims: shape.dims, geometry: shape.geometry, bytes: shape.bytes, peakWasmBytes, rows,
      inGraphPerNodeMs: Number.isFinite(inGraph) ? inGraph : null, targets: evaluateFamilyTargets(shape, medians), diagnostics: familyDiagnostics(shape, medians),
    };
    family.push(result);
    await env.onResult("family", result);
    for (const g of groups) await g.dispose();
  }
  return { results, family };
}

/** "shape: cell (error)" for every cell whose check against float64 failed. */
export function failedChecks({ results, family }) {
  return [...results, ...family].flatMap((r) => r.rows.filter((row) => row.check && !row.check.passed)
    .map((row) => `${r.shape}: ${row.name} (max error ${row.check.error.toExponential(2)} > ${CHECK_TOLERANCE})`));
}
