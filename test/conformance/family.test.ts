// The normalization family against torch 1.13 and float64: LayerNorm, RMSNorm,
// GroupNorm and InstanceNorm1d/2d/3d. Every case of test/fixtures/family-cases.json
// (written by generate-family.py; its "note" says how each number was obtained)
// is replayed through the layer API, and every single-step case and every
// running-statistics sequence also through the functional API. Per step and output:
//   our max abs error <= max(torch float32's max abs error, max |float32(exact) - exact|)
// against the exact float64 result; ours is the worse of the layer and the
// functional form. RMSNorm has no torch reference (torch 1.13 lacks it), so its
// bar is the float32 rounding of the exact result alone. No slack: a NaN
// anywhere, or an Inf where float32(exact) is finite, fails whatever torch did.
// Outputs: y, mean and invStd per statistics group (row, (n, group) or (n, c),
// n-major; RMSNorm has no mean), runningMean/runningVar after each training
// step of an InstanceNorm with running statistics, dx, dweight, dbias.
// Also: state-dict keys and shapes as torch's, loadStateDict round trips, and
// typed errors (with nothing changed) for a handful of bad inputs.
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchNormError, GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LayerNorm, RMSNorm, Tensor,
  groupNorm, groupNormBackward, init, instanceNorm, instanceNormBackward, layerNorm, layerNormBackward,
  liveTensorCount, rmsNorm, rmsNormBackward, type Layout,
} from "../../src/index.ts";
import fixtures from "../fixtures/family-cases.json";
import { decodeFloat32, decodeFloat64 } from "../fixtures/decode.ts";
import { barRatio, maxError, measure, orInfinity, show, worse } from "../support/accuracy-bar.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

const OUTPUTS = ["y", "mean", "invStd", "runningMean", "runningVar", "dx", "dweight", "dbias"] as const;
type Output = (typeof OUTPUTS)[number];
type Norm = "LayerNorm" | "RMSNorm" | "GroupNorm" | "InstanceNorm1d" | "InstanceNorm2d" | "InstanceNorm3d";
type Family = "ordinary" | "hard";

interface Step {
  mode: "train" | "eval";
  x: string;
  dy: string;
  /** Base64 float64: y and dx in x's memory order, statistics per group, gradients per coefficient. */
  exact: Partial<Record<Output, string>>;
  /** null: torch's output was NaN or Inf where the exact result is finite (RMSNorm: no torch at all). */
  torchError: Partial<Record<Output, number | null>>;
  roundingError: Partial<Record<Output, number | null>>;
  /** torch's num_batches_tracked after the step (InstanceNorm with running statistics). */
  numBatchesTracked?: number;
}

interface Case {
  name: string;
  norm: Norm;
  family: Family;
  options: Record<string, unknown>;
  /** null for LayerNorm and RMSNorm (no channel axis). */
  layout: Layout | null;
  /** In the memory order of the layout. */
  shape: number[];
  torchPath: string;
  /** false: no torch float32 result (RMSNorm); the bar is the rounding error alone. */
  torchReference: boolean;
  /** torch's state-dict keys and their shapes. */
  stateDict: Record<string, number[]>;
  weight: string | null;
  bias: string | null;
  steps: Step[];
}

const cases = (fixtures as unknown as { cases: Case[] }).cases;

// ---- the API under test, as the cases use it ----

interface Saved { readonly mean: Float64Array | null; readonly invStd: Float64Array }
interface Layer {
  forward(x: Tensor, out?: Tensor): Tensor;
  backward(dy: Tensor, out?: Tensor): Tensor;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly weightGrad: Tensor | null;
  readonly biasGrad: Tensor | null;
  readonly saved: Saved | null;
  stateDict(): Record<string, unknown>;
  loadStateDict(state: Record<string, unknown>): void;
  dispose(): void;
  train(mode?: boolean): unknown;
  eval(): unknown;
  readonly runningMean?: Tensor | null;
  readonly runningVar?: Tensor | null;
  readonly numBatchesTracked?: number | bigint;
}

interface Options {
  normalizedShape?: number[]; eps?: number | null; elementwiseAffine?: boolean; bias?: boolean;
  numGroups?: number; numChannels?: number; affine?: boolean; numFeatures?: number; momentum?: number; trackRunningStats?: boolean;
}

const isInstance = (norm: Norm) => norm.startsWith("InstanceNorm");
type Kind = "LayerNorm" | "RMSNorm" | "GroupNorm" | "InstanceNorm";
const kindOf = (norm: Norm): Kind => (isInstance(norm) ? "InstanceNorm" : (norm as Kind));
const channelsOf = (fixture: Case) =>
  fixture.layout === "channels-last" ? fixture.shape[fixture.shape.length - 1] : fixture.shape[1];
/** Shape of weight and bias: normalizedShape for LayerNorm/RMSNorm, [C] otherwise. */
const coefficientShape = (fixture: Case): number[] => {
  const o = fixture.options as Options;
  return o.normalizedShape ?? [channelsOf(fixture)];
};
const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
/** Drops undefined values (an explicit undefined option is not the same call as an absent one). */
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

function makeLayer(fixture: Case): Layer {
  const o = fixture.options as Options;
  const layout = fixture.layout ?? undefined;
  let layer: unknown;
  switch (fixture.norm) {
    case "LayerNorm":
      layer = new LayerNorm(o.normalizedShape!, { eps: o.eps as number, elementwiseAffine: o.elementwiseAffine, bias: o.bias });
      break;
    case "RMSNorm":
      // eps null: the default (float32 machine epsilon), so leave it out
      layer = new RMSNorm(o.normalizedShape!, defined({ eps: o.eps ?? undefined, elementwiseAffine: o.elementwiseAffine }));
      break;
    case "GroupNorm":
      layer = new GroupNorm(o.numGroups!, o.numChannels!, { eps: o.eps as number, affine: o.affine, layout });
      break;
    default: {
      const Class = { InstanceNorm1d, InstanceNorm2d, InstanceNorm3d }[fixture.norm];
      layer = new Class(o.numFeatures!, { eps: o.eps as number, momentum: o.momentum, affine: o.affine, trackRunningStats: o.trackRunningStats, layout });
    }
  }
  return layer as Layer;
}

type Values = Partial<Record<Output, ArrayLike<number> | null>>;

const read = (t: Tensor | null | undefined): Float32Array | null => (t ? t.toFloat32Array() : null);
const copy = (a: Float64Array | null | undefined): Float64Array | null => (a ? Float64Array.from(a) : null);

// ---- replaying a case ----

interface Inputs { x: Float32Array; dy: Float32Array }
const stepInputs = (step: Step): Inputs => ({ x: decodeFloat32(step.x), dy: decodeFloat32(step.dy) });

/** Every step through a fresh layer; per step, our values of its outputs. */
function runLayer(fixture: Case): { values: Values[]; problems: string[] } {
  const layer = makeLayer(fixture);
  const problems: string[] = [];
  const weight = fixture.weight ? decodeFloat32(fixture.weight) : null;
  const bias = fixture.bias ? decodeFloat32(fixture.bias) : null;
  if (weight) layer.weight!.set(weight);
  if (bias) layer.bias!.set(bias);
  const values: Values[] = [];
  for (const [index, step] of fixture.steps.entries()) {
    if (isInstance(fixture.norm)) {
      if (step.mode === "train") layer.train();
      else layer.eval();
    }
    // Each step's gradients alone (torch's were reset before each step); they accumulate otherwise.
    for (const grad of [layer.weightGrad, layer.biasGrad]) if (grad) grad.set(new Float32Array(product(grad.shape)));
    const before = { mean: read(layer.runningMean), variance: read(layer.runningVar) };
    const { x, dy } = stepInputs(step);
    const xt = Tensor.from(x, fixture.shape), dyt = Tensor.from(dy, fixture.shape);
    const y = layer.forward(xt);
    const saved = step.mode === "train" ? layer.saved : null;
    const mean = copy(saved?.mean), invStd = copy(saved?.invStd);
    const dx = layer.backward(dyt);
    values.push({
      y: y.toFloat32Array(), dx: dx.toFloat32Array(), mean, invStd,
      runningMean: read(layer.runningMean), runningVar: read(layer.runningVar),
      dweight: read(layer.weightGrad), dbias: read(layer.biasGrad),
    });
    if (step.mode === "eval" && before.mean) {
      // eval leaves the running statistics as they are
      const after = values[index];
      if (!sameBits(before.mean, after.runningMean) || !sameBits(before.variance, after.runningVar)) {
        problems.push(`step ${index} (eval) changed the running statistics`);
      }
    }
    if (step.numBatchesTracked !== undefined && Number(layer.numBatchesTracked) !== step.numBatchesTracked) {
      problems.push(`step ${index}: numBatchesTracked ${String(layer.numBatchesTracked)}, torch ${step.numBatchesTracked}`);
    }
    if (step.mode === "train" && fixture.norm === "RMSNorm" && saved && saved.mean !== null) {
      problems.push(`step ${index}: RMSNorm saved.mean should be null`);
    }
    for (const t of [xt, dyt, y, dx]) t.dispose();
  }
  layer.dispose();
  return { values, problems };
}

function sameBits(a: ArrayLike<number> | null | undefined, b: ArrayLike<number> | null | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

interface FunctionalResult { y: Tensor; saved: Saved & { dispose(): void } }
interface GradientResult { dx: Tensor; weightGrad: Tensor | null; biasGrad: Tensor | null }

/**
 * The same steps through the functional API: forward with a caller-given `out`,
 * then its backward. InstanceNorm sequences carry running statistics tensors
 * (updated in place in training, used with useInputStats false in eval; eval
 * steps check y only). The case's coefficients are tensors of the layer's shape.
 */
function runFunctional(fixture: Case): { values: Values[]; problems: string[] } {
  const o = fixture.options as Options;
  const layout = fixture.layout ?? undefined;
  const coefficients = coefficientShape(fixture);
  const weight = fixture.weight ? Tensor.from(decodeFloat32(fixture.weight), coefficients) : undefined;
  const bias = fixture.bias ? Tensor.from(decodeFloat32(fixture.bias), coefficients) : undefined;
  const c = channelsOf(fixture);
  const tracking = isInstance(fixture.norm) && o.trackRunningStats === true;
  const runningMean = tracking ? Tensor.from(new Float32Array(c), [c]) : undefined;
  const runningVar = tracking ? Tensor.from(new Float32Array(c).fill(1), [c]) : undefined;
  const problems: string[] = [];
  const values: Values[] = [];
  for (const [index, step] of fixture.steps.entries()) {
    const { x, dy } = stepInputs(step);
    const xt = Tensor.from(x, fixture.shape), dyt = Tensor.from(dy, fixture.shape);
    const out = Tensor.zeros(fixture.shape);
    let forward: FunctionalResult;
    switch (kindOf(fixture.norm)) {
      case "LayerNorm":
        forward = layerNorm(xt, o.normalizedShape!, defined({ weight, bias, eps: o.eps as number, out })) as unknown as FunctionalResult;
        break;
      case "RMSNorm":
        forward = rmsNorm(xt, o.normalizedShape!, defined({ weight, eps: o.eps ?? undefined, out })) as unknown as FunctionalResult;
        break;
      case "GroupNorm":
        forward = groupNorm(xt, o.numGroups!, defined({ weight, bias, eps: o.eps as number, layout, out })) as unknown as FunctionalResult;
        break;
      default:
        forward = instanceNorm(xt, defined({
          weight, bias, eps: o.eps as number, layout, out, runningMean, runningVar,
          momentum: tracking ? o.momentum : undefined, useInputStats: step.mode === "train" || !tracking,
        })) as unknown as FunctionalResult;
    }
    const { y, saved } = forward;
    const yValues = y.toFloat32Array();
    if (!sameBits(out.toFloat32Array(), yValues)) problems.push(`step ${index}: out does not hold y`);
    const entry: Values = { y: yValues, runningMean: read(runningMean), runningVar: read(runningVar) };
    if (step.mode === "train") {
      entry.mean = copy(saved.mean);
      entry.invStd = copy(saved.invStd);
      const backward = {
        LayerNorm: layerNormBackward, RMSNorm: rmsNormBackward, GroupNorm: groupNormBackward, InstanceNorm: instanceNormBackward,
      }[kindOf(fixture.norm)] as unknown as (dy: Tensor, saved: unknown) => GradientResult;
      const grads = backward(dyt, saved);
      entry.dx = grads.dx.toFloat32Array();
      entry.dweight = read(grads.weightGrad);
      entry.dbias = read(grads.biasGrad);
      if (!weight && grads.weightGrad !== null) problems.push(`step ${index}: weightGrad without a weight`);
      if (!bias && grads.biasGrad !== null) problems.push(`step ${index}: biasGrad without a bias`);
      for (const t of [grads.dx, grads.weightGrad, grads.biasGrad]) t?.dispose();
    } else {
      entry.runningMean = entry.runningVar = undefined; // eval: only y is compared
    }
    saved?.dispose(); // null: instanceNorm with useInputStats false
    if (y !== out) y.dispose();
    for (const t of [xt, dyt, out]) t.dispose();
    values.push(entry);
  }
  for (const t of [weight, bias, runningMean, runningVar]) t?.dispose();
  return { values, problems };
}

/** The functional form runs on every single-step case and on the running-statistics sequences. */
const functionalCovers = (fixture: Case) =>
  fixture.steps.length === 1 || (isInstance(fixture.norm) && (fixture.options as Options).trackRunningStats === true);


function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]) > m) m = Math.abs(values[i]);
  return m;
}

interface Row { norm: string; family: Family; output: Output; ours: number; torch: number; bound: number; torchReference: boolean }
const rows: Row[] = [];

describe("family accuracy: ours <= max(torch float32, float32 rounding of the exact result), per output", () => {
  it("cases cover the family: normalized ranks, groups, ranks and layouts, affine variants, sequences, hard data", () => {
    const of = (norm: string) => cases.filter((c) => kindOf(c.norm) === norm);
    const ln = of("LayerNorm");
    const nsRanks = new Set(ln.map((c) => (c.options as Options).normalizedShape!.length));
    expect([...nsRanks].sort(), "LayerNorm normalized ranks").toEqual([1, 2, 3]);
    expect(ln.some((c) => (c.options as Options).normalizedShape!.join() === "768"), "LayerNorm [768]").toBe(true);
    expect(ln.some((c) => (c.options as Options).elementwiseAffine === false), "LayerNorm affine off").toBe(true);
    expect(ln.some((c) => (c.options as Options).bias === false && c.weight !== null), "LayerNorm bias off").toBe(true);
    const gn = of("GroupNorm");
    for (const channels of [4, 6, 12]) {
      for (const groups of [1, 2, channels]) {
        expect(gn.some((c) => (c.options as Options).numChannels === channels && (c.options as Options).numGroups === groups), `GroupNorm G=${groups} C=${channels}`).toBe(true);
      }
    }
    for (const layout of ["channels-first", "channels-last"] as const) {
      expect([...new Set(gn.filter((c) => c.layout === layout).map((c) => c.shape.length))].sort(), `GroupNorm ranks ${layout}`).toEqual([3, 4, 5]);
      for (const norm of ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"] as const) {
        for (const affine of [false, true]) {
          expect(cases.some((c) => c.norm === norm && c.layout === layout && (c.options as Options).affine === affine), `${norm} ${layout} affine ${affine}`).toBe(true);
        }
      }
      expect(cases.some((c) => isInstance(c.norm) && c.layout === layout && (c.options as Options).trackRunningStats === true
        && c.steps.some((s) => s.mode === "eval") && c.steps.filter((s) => s.mode === "train").length >= 2), `InstanceNorm sequence ${layout}`).toBe(true);
    }
    for (const norm of ["LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm"]) {
      const hard = of(norm).filter((c) => c.family === "hard").map((c) => c.name).join("\n");
      for (const kind of ["offset 1e4", "constant groups", "eps 0", "near float32 max"]) expect(hard, `${norm} hard: ${kind}`).toContain(kind);
    }
    expect(cases.every((c) => c.torchReference === (c.norm !== "RMSNorm"))).toBe(true);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, fixture) => {
    const live = liveTensorCount();
    const layer = runLayer(fixture);
    const functional = functionalCovers(fixture) ? runFunctional(fixture) : null;
    const failures = [...layer.problems.map((p) => `layer: ${p}`), ...(functional?.problems ?? []).map((p) => `functional: ${p}`)];
    for (const [index, step] of fixture.steps.entries()) {
      for (const output of OUTPUTS) {
        const encoded = step.exact[output];
        if (encoded === undefined) continue;
        const exact = decodeFloat64(encoded);
        let measured = measure(layer.values[index][output], exact, `layer step ${index} (${step.mode})`);
        const fromFunctional = functional?.values[index][output];
        if (fromFunctional !== undefined) measured = worse(measured, measure(fromFunctional, exact, `functional step ${index} (${step.mode})`));
        const torch = fixture.torchReference ? orInfinity(step.torchError[output]) : 0;
        const rounding = orInfinity(step.roundingError[output]);
        // Eval with running statistics keeps BatchNorm's float32 inference form,
        // (x - running_mean) * scale + bias at stream speed (a deliberate
        // difference, README): three float32 roundings of terms no larger than
        // |y - bias| and |bias|, where torch's fused multiply-add rounds about once.
        const inference = step.mode === "eval" && output === "y" && isInstance(fixture.norm) && (fixture.options as Options).trackRunningStats === true;
        const inferenceBound = inference ? 2 * 2 ** -23 * (maxAbs(exact) + 2 * maxAbs(fixture.bias ? decodeFloat32(fixture.bias) : [])) : 0;
        const bound = Math.max(torch, rounding, inferenceBound);
        rows.push({ norm: kindOf(fixture.norm), family: fixture.family, output, ours: measured.error, torch, bound, torchReference: fixture.torchReference });
        if (!(measured.error <= bound)) {
          const torchText = !fixture.torchReference ? "no torch reference" : `torch float32 ${step.torchError[output] == null ? "non-finite" : show(torch)}`;
          failures.push(`step ${index} (${step.mode}) ${output}: ours ${show(measured.error)} > bound ${show(bound)} (${torchText}, float32 rounding ${show(rounding)}); ${measured.detail}`);
        }
      }
    }
    expect(liveTensorCount(), "tensors left alive").toBe(live);
    expect(failures.length, failures.join("\n")).toBe(0);
  });

  it("prints ours vs torch float32 per norm and output", () => {
    // Max abs errors over the steps of each family where torch float32 is finite
    // (hard data mixes scales from 1e-20 to 3e38, so the ratio columns say more).
    // RMSNorm: no torch; its torch column is n/a and its ratio is against the rounding error.
    // NaN ours (non-finite output) is infinitely over; an infinite error against an infinite bound is at the bar.
    const ratio = barRatio, max = maxError;
    const lines = [
      `family accuracy vs float64 (${testBuild()} build). ours, torch: max abs error over the steps where torch float32 is finite;`,
      "ratio: worst ours / max(torch, float32 rounding) over all steps (> 1 misses the bar); failing: steps above the bar",
      "| norm | output | ordinary ours | torch | ratio | hard ours | torch | ratio | hard steps torch non-finite | failing (ordinary, hard) |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ];
    for (const norm of ["LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm"]) {
      for (const output of OUTPUTS) {
        const mine = rows.filter((r) => r.norm === norm && r.output === output);
        if (mine.length === 0) continue;
        const cells: string[] = [];
        const failing: number[] = [];
        for (const family of ["ordinary", "hard"] as const) {
          const all = mine.filter((r) => r.family === family);
          const finite = all.filter((r) => Number.isFinite(r.torch));
          const worstRatio = max(all.map(ratio));
          const torchCell = all.some((r) => r.torchReference) ? show(max(finite.map((r) => r.torch))) : "n/a";
          cells.push(all.length ? show(max(finite.map((r) => r.ours))) : "-", all.length ? torchCell : "-", all.length ? (Number.isFinite(worstRatio) ? worstRatio.toFixed(2) : "inf") : "-");
          if (family === "hard") cells.push(all.some((r) => r.torchReference) ? String(all.length - finite.length) : "n/a");
          failing.push(all.filter((r) => !(r.ours <= r.bound)).length);
        }
        lines.push(`| ${norm} | ${output} | ${cells.join(" | ")} | ${failing.join(", ")} |`);
      }
    }
    console.log(lines.join("\n"));
  });
});

// ---- state dicts ----

/** One case per distinct (norm, options, layout): the layers whose state dicts are compared with torch's. */
const configurations = [...new Map(cases.map((c) => [`${c.norm} ${JSON.stringify(c.options)} ${c.layout}`, c])).values()];

describe("family state dicts: torch's keys and shapes; loadStateDict round trips", () => {
  it.each(configurations.map((c) => [`${c.norm} ${JSON.stringify(c.options)}`, c] as const))("%s", (_name, fixture) => {
    const layer = makeLayer(fixture);
    const state = layer.stateDict();
    expect(Object.keys(state).sort(), "keys").toEqual(Object.keys(fixture.stateDict).sort());
    for (const [key, shape] of Object.entries(fixture.stateDict)) {
      const value = state[key];
      if (key === "num_batches_tracked") {
        expect(typeof value === "number" || typeof value === "bigint", `${key} is a number or bigint`).toBe(true);
        expect(Number(value), key).toBe(0);
      } else {
        // weight and bias of LayerNorm/RMSNorm: flat row-major prod(normalizedShape) values
        expect(value, `${key} is a Float32Array`).toBeInstanceOf(Float32Array);
        expect((value as Float32Array).length, `${key} length`).toBe(product(shape));
      }
    }
    // Parameters as tensors of torch's shape
    if (fixture.stateDict.weight) expect([...layer.weight!.shape], "weight shape").toEqual(fixture.stateDict.weight);
    if (fixture.stateDict.bias) expect([...layer.bias!.shape], "bias shape").toEqual(fixture.stateDict.bias);
    if (!fixture.stateDict.weight) expect(layer.weight, "no weight").toBeNull();
    if (!fixture.stateDict.bias) expect(layer.bias, "no bias").toBeNull();
    // A round trip: every float key loaded with fresh values reads back bit for bit
    const loaded: Record<string, unknown> = { ...state };
    for (const [key, shape] of Object.entries(fixture.stateDict)) {
      if (key === "num_batches_tracked") continue;
      loaded[key] = Float32Array.from({ length: product(shape) }, (_, i) => (key === "running_var" ? 0.5 + i / 7 : Math.fround(i * 0.37 - 1.1)));
    }
    layer.loadStateDict(loaded);
    const back = layer.stateDict();
    for (const key of Object.keys(fixture.stateDict)) {
      if (key !== "num_batches_tracked") expect(back[key], key).toEqual(loaded[key]);
    }
    // An unexpected key is refused and nothing changes
    const extra = caughtError(() => layer.loadStateDict({ ...loaded, running_mean_typo: new Float32Array(1) }));
    expect(extra.code).toBe("ERR_STATE_DICT");
    for (const key of Object.keys(fixture.stateDict)) {
      if (key !== "num_batches_tracked") expect(layer.stateDict()[key], `${key} after a rejected load`).toEqual(loaded[key]);
    }
    layer.dispose();
  });
});

// ---- typed errors ----

describe("family typed errors; a rejected call changes nothing", () => {
  const disposeAll = (...ts: (Tensor | { dispose(): void } | null | undefined)[]) => {
    for (const t of ts) t?.dispose();
  };
  const filled = (shape: number[]) => Tensor.from(Float32Array.from({ length: product(shape) }, (_, i) => Math.sin(i * 1.3) * 2), shape);

  it("LayerNorm: trailing dims not normalizedShape are ERR_SHAPE (layer and functional); saved and gradients stay", () => {
    const ln = new LayerNorm([5, 3]);
    const good = filled([2, 5, 3]);
    const y = ln.forward(good);
    const before = copy(ln.saved!.mean);
    const bad = filled([2, 3, 5]);
    expect(caughtError(() => ln.forward(bad)).code).toBe("ERR_SHAPE");
    expect(sameBits(copy(ln.saved!.mean), before), "saved after a rejected forward").toBe(true);
    // the pending backward still belongs to the good forward
    const dy = filled([2, 5, 3]);
    const dx = ln.backward(dy);
    expect(dx.shape).toEqual([2, 5, 3]);
    expect(caughtError(() => layerNorm(bad, [5, 3])).code).toBe("ERR_SHAPE");
    expect(caughtError(() => layerNorm(filled([4, 6]), [7])).code).toBe("ERR_SHAPE");
    disposeAll(ln, good, y, bad, dy, dx);
  });

  it("LayerNorm: backward before forward is ERR_NO_FORWARD; dy of another shape is ERR_SHAPE", () => {
    const ln = new LayerNorm(7);
    const dy = filled([3, 7]);
    expect(caughtError(() => ln.backward(dy)).code).toBe("ERR_NO_FORWARD");
    const x = filled([3, 7]);
    const y = ln.forward(x);
    const wrong = filled([3, 8]);
    expect(caughtError(() => ln.backward(wrong)).code).toBe("ERR_SHAPE");
    expect(sameBits(read(ln.weightGrad) ?? new Float32Array(7), new Float32Array(7)), "no gradient written").toBe(true);
    disposeAll(ln, dy, x, y, wrong);
  });

  it("RMSNorm: trailing dims not normalizedShape are ERR_SHAPE", () => {
    const rms = new RMSNorm([5, 3]);
    const bad = filled([4, 3, 5]);
    expect(caughtError(() => rms.forward(bad)).code).toBe("ERR_SHAPE");
    expect(caughtError(() => rmsNorm(bad, [5, 3])).code).toBe("ERR_SHAPE");
    disposeAll(rms, bad);
  });

  it("GroupNorm: numChannels not divisible by numGroups is a typed error at construction", () => {
    const error = caughtError(() => new GroupNorm(4, 6));
    expect(error).toBeInstanceOf(BatchNormError);
    expect(["ERR_CHANNELS", "ERR_ARGUMENT"]).toContain(error.code);
    const x = filled([2, 6, 5]);
    expect(["ERR_CHANNELS", "ERR_ARGUMENT"]).toContain(caughtError(() => groupNorm(x, 4)).code);
    disposeAll(x);
  });

  it("GroupNorm: a channel count other than numChannels is ERR_CHANNELS, in both layouts", () => {
    const first = new GroupNorm(2, 6);
    const last = new GroupNorm(2, 6, { layout: "channels-last" });
    const x = filled([2, 4, 5]); // channels-first C = 4; channels-last C = 5
    expect(caughtError(() => first.forward(x)).code).toBe("ERR_CHANNELS");
    expect(caughtError(() => last.forward(x)).code).toBe("ERR_CHANNELS");
    expect(first.saved, "no statistics from a rejected forward").toBeNull();
    disposeAll(first, last, x);
  });

  it("InstanceNorm: a channel count other than numFeatures is ERR_CHANNELS (affine); a rank outside the class is ERR_RANK", () => {
    const inorm = new InstanceNorm2d(3, { affine: true });
    const x = filled([2, 4, 3, 3]);
    expect(caughtError(() => inorm.forward(x)).code).toBe("ERR_CHANNELS");
    const rank5 = filled([1, 3, 2, 2, 2]);
    expect(caughtError(() => inorm.forward(rank5)).code).toBe("ERR_RANK");
    const last = new InstanceNorm1d(3, { affine: true, layout: "channels-last" });
    const x3 = filled([2, 5, 4]); // channels-last C = 4
    expect(caughtError(() => last.forward(x3)).code).toBe("ERR_CHANNELS");
    const tracked = new InstanceNorm3d(2, { trackRunningStats: true });
    const before = read(tracked.runningMean);
    const wrong = filled([1, 3, 2, 2, 2]);
    expect(caughtError(() => tracked.forward(wrong)).code).toBe("ERR_CHANNELS");
    expect(sameBits(read(tracked.runningMean), before), "running mean after a rejected forward").toBe(true);
    expect(Number(tracked.numBatchesTracked)).toBe(0);
    disposeAll(inorm, x, rank5, last, x3, tracked, wrong);
  });
});
