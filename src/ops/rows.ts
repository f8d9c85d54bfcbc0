// The engine shared by LayerNorm and RMSNorm: statistics per row of the D
// trailing values (normalizedShape), weight and bias per element of the row.
// Index space: Q = rows groups of one run of D contiguous values.
import { fail } from "../errors.ts";
import { readFlag, readOptions } from "../options.ts";
import { checkSameShape, sizeOf } from "../shape.ts";
import { checkTensor, Tensor, zerosFor } from "../tensor.ts";
import { kernels } from "../wasm.ts";
import { allocateAll, ptrOf } from "./common.ts";
import { ArrayBlock, forwardState, makeNormSaved, type NormKind, type SavedNormStatistics } from "./saved.ts";

type RowArray = "pilot" | "shift" | "sumA" | "sumB" | "mean" | "variance" | "invStd" | "meanOffset" | "coefA" | "coefB" | "coefC";
type ColumnArray = "columnA" | "columnB";

/** A validated copy of normalizedShape: a positive integer or a non-empty array of them. */
export function readNormalizedShape(value: unknown, argument: string): number[] {
  const sizes = typeof value === "number" ? [value] : value;
  if (!Array.isArray(sizes) || sizes.length === 0 || !sizes.every((s) => typeof s === "number" && Number.isSafeInteger(s) && s > 0)) {
    fail("ERR_SHAPE", argument, `must be a positive integer or a non-empty array of them, got ${JSON.stringify(value)}`);
  }
  return [...(sizes as number[])];
}

/** Rows and row length of `x` normalized over its trailing `normalizedShape`. */
export function rowsOf(x: Tensor, normalizedShape: readonly number[], argument: string): { R: number; D: number } {
  x.assertLive(argument);
  const k = normalizedShape.length, shape = x.shape;
  const trailing = shape.slice(shape.length - k);
  if (shape.length < k || trailing.some((s, i) => s !== normalizedShape[i])) {
    fail("ERR_SHAPE", argument, `must end with the normalized shape [${normalizedShape.join(", ")}], got [${shape.join(", ")}]`);
  }
  const D = sizeOf(normalizedShape);
  return { R: D === 0 ? 0 : x.size / D, D };
}

/** A weight or bias: a live tensor of normalizedShape, or none. */
export function optionalElementwise(value: unknown, normalizedShape: readonly number[], argument: string): Tensor | null {
  if (value === undefined || value === null) return null;
  const t = checkTensor(value, argument);
  checkSameShape(t, normalizedShape, argument, "normalizedShape");
  return t;
}

export function checkRowOutput(out: unknown, like: Tensor, argument: string): Tensor | undefined {
  if (out === undefined) return undefined;
  const t = checkTensor(out, argument);
  checkSameShape(t, like.shape, argument, "x");
  return t;
}

/** The per-row arrays of a forward; RMSNorm's pilot is all zeros (it sums x and x^2). */
function rowBlock(R: number, zeroPilot: boolean, argument: string): ArrayBlock<RowArray> {
  const f64 = (n: number) => ["f64", n] as const, f32 = (n: number) => ["f32", n] as const;
  return new ArrayBlock<RowArray>({
    pilot: f32(R), shift: f32(R), sumA: f64(R), sumB: f64(R), mean: f64(R), variance: f64(R), invStd: f64(R),
    meanOffset: f64(R), coefA: f64(R), coefB: f64(R), coefC: f64(R),
  }, argument, zeroPilot ? ["pilot"] : []);
}

export interface RowForward {
  x: Tensor; R: number; D: number; normalizedShape: readonly number[];
  weight: Tensor | null; bias: Tensor | null; eps: number; out: Tensor | undefined;
}

/** Runs a checked row forward: all allocations first, then the kernels. */
export function rowForward(kind: NormKind, f: RowForward): { y: Tensor; saved: SavedNormStatistics } {
  const { x, R, D, weight, bias, eps } = f;
  const hasMean = kind === "layerNorm";
  const [made, block] = allocateAll<Tensor | ArrayBlock<RowArray> | null>([
    () => (f.out ? null : zerosFor(x.shape, x.layout, "options.out")),
    () => rowBlock(R, !hasMean, "x"),
  ]) as [Tensor | null, ArrayBlock<RowArray>];
  const y = f.out ?? made!;
  const k = kernels();
  if (R > 0) {
    const p = (name: RowArray) => block.ptr(name);
    const xp = x.byteOffset;
    if (hasMean) {
      k.choosePilots(xp, R, R, 0, D, 1, 0, D, p("pilot"));
      k.reduceRuns(xp, 0, 0, R, D, 1, 0, D, p("pilot"), p("sumA"), p("sumB"));
      k.finishGroups(xp, R, R, 0, D, 1, 0, D, p("pilot"), p("sumA"), p("sumB"), p("mean"), p("variance"));
    } else {
      k.reduceRuns(xp, 0, 0, R, D, 1, 0, D, p("pilot"), p("sumA"), p("sumB")); // pilot is all zeros: sums of x and x^2
      k.finishMeanSquares(R, D, p("sumB"), p("variance"));
    }
    k.rowTrainingCoefficients(R, hasMean ? p("mean") : 0, p("variance"), eps, p("invStd"), p("meanOffset"), p("shift"));
    k.rowsAffine(xp, y.byteOffset, R, D, hasMean ? p("mean") : 0, p("invStd"), ptrOf(weight), ptrOf(bias));
  }
  y.markWritten();
  const saved = makeNormSaved<RowArray>({
    kind, x, xVersion: x.version, weight, weightVersion: weight?.version ?? 0, withBias: bias !== null, layout: undefined, block,
    groups: R, count: D, geometry: { R, D }, parameterShape: f.normalizedShape, hasMean,
  });
  return { y, saved };
}

export interface RowBackwardOptions {
  out?: Tensor;
  /** Whether to compute weight (and bias) gradients; default: when the forward had a weight. */
  parameterGradients?: boolean;
}

const BACKWARD_KEYS = ["out", "parameterGradients"] as const;

/**
 * dx through the row statistics of `saved`'s forward, and the parameter
 * gradients: new tensors, or added to `accumulate` (a layer's own gradients).
 */
export function rowBackward(
  kind: NormKind, dy: unknown, saved: unknown, options: unknown,
  accumulate?: { weightGrad: Tensor | null; biasGrad: Tensor | null },
): { dx: Tensor; weightGrad: Tensor | null; biasGrad: Tensor | null } {
  const state = forwardState<RowArray>(saved, kind);
  const o = readOptions(options, "options", BACKWARD_KEYS);
  const gradient = checkTensor(dy, "dy");
  checkSameShape(gradient, state.x.shape, "dy", "the forward input");
  const wantParameters = accumulate ? accumulate.weightGrad !== null : readFlag(o.parameterGradients, "options.parameterGradients", state.weight !== null);
  const out = checkRowOutput(o.out, state.x, "options.out");
  const { R, D } = state.geometry;
  const parameterShape = state.parameterShape;
  const [made, newWeightGrad, newBiasGrad, columns] = allocateAll<Tensor | ArrayBlock<ColumnArray> | null>([
    () => (out ? null : zerosFor(state.x.shape, state.x.layout, "options.out")),
    () => (wantParameters && !accumulate ? zerosFor(parameterShape, undefined, "weightGrad") : null),
    () => (wantParameters && state.withBias && !accumulate ? zerosFor(parameterShape, undefined, "biasGrad") : null),
    () => (wantParameters ? new ArrayBlock<ColumnArray>({ columnA: ["f64", D], columnB: ["f64", D] }, "dy") : null),
  ]) as [Tensor | null, Tensor | null, Tensor | null, ArrayBlock<ColumnArray> | null];
  const dx = out ?? made!;
  const weightGrad = accumulate ? accumulate.weightGrad : newWeightGrad;
  const biasGrad = accumulate ? accumulate.biasGrad : newBiasGrad;
  const k = kernels(), block = state.block, p = (name: RowArray) => block.ptr(name);
  const hasMean = state.hasMean;
  if (R > 0) {
    const xp = state.x.byteOffset, weight = ptrOf(state.weight);
    k.reduceRuns(xp, gradient.byteOffset, weight, R, D, 1, 0, D, p("shift"), p("sumA"), p("sumB"));
    k.rowGradientCoefficients(R, D, hasMean, p("invStd"), p("meanOffset"), p("sumA"), p("sumB"), p("coefA"), p("coefB"), p("coefC"));
    if (weightGrad && columns) { // before dx is written: dx may be dy itself
      k.reduceColumns(xp, gradient.byteOffset, R, D, hasMean ? p("mean") : 0, p("invStd"), columns.ptr("columnA"), columns.ptr("columnB"));
      k.accumulateGradients(D, columns.ptr("columnB"), weightGrad.byteOffset);
      if (biasGrad) k.accumulateGradients(D, columns.ptr("columnA"), biasGrad.byteOffset);
    }
    k.rowsGradient(xp, gradient.byteOffset, dx.byteOffset, R, D, hasMean ? p("mean") : 0, p("coefA"), p("coefB"), p("coefC"), weight);
  }
  columns?.dispose();
  dx.markWritten();
  weightGrad?.markWritten();
  biasGrad?.markWritten();
  return { dx, weightGrad: accumulate ? null : weightGrad, biasGrad: accumulate ? null : biasGrad };
}
