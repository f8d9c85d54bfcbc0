// Folding an eval-mode BatchNorm into the convolution or linear layer next to
// it, in float64, rounded once to float32; torch.nn.utils.fusion's
// fuse_conv_bn_weights / fuse_linear_bn_weights, for more layouts:
//
//   s[o] = gamma[o] / sqrt(running_var[o] + eps)
//   W'[o, ...] = W[o, ...] * s[o]
//   b'[o] = (b[o] - running_mean[o]) * s[o] + beta[o]
//
// The folded layer computes x * scale + offset where the layer computes
// (x - mean) * scale + offset exactly: the bits differ, and a large mean
// relative to the spread loses digits in the offset. checkFolding measures it
// on your data.
import { describeValue, fail } from "./errors.ts";
import type { BatchNorm } from "./layers/batch-norm.ts";
import { readChoice, readFlag, readOptions } from "./options.ts";
import { Tensor } from "./tensor.ts";
import { MAX_TENSOR_ELEMENTS, stageValues } from "./values.ts";

/** A BatchNorm's eval-mode state: running statistics, eps, and weight and bias (ones and zeros when absent). */
export interface BatchNormFoldState {
  running_mean: ArrayLike<number>;
  running_var: ArrayLike<number>;
  weight?: ArrayLike<number> | null;
  bias?: ArrayLike<number> | null;
  /** Default 1e-5. */
  eps?: number;
  num_batches_tracked?: number | bigint;
}

export interface FoldedWeights {
  weight: Float32Array;
  bias: Float32Array;
}

interface Coefficients {
  C: number;
  /** gamma / sqrt(var + eps) */
  scale: Float64Array;
  mean: Float64Array;
  beta: Float64Array;
}

function stage(value: unknown, argument: string): Float32Array {
  if (Tensor.isTensor(value)) {
    value.assertLive(argument);
    return value.toFloat32Array();
  }
  return stageValues(value, argument, false).values;
}

function isLayer(bn: unknown): bn is BatchNorm {
  return typeof bn === "object" && bn !== null && typeof (bn as BatchNorm).stateDict === "function" && typeof (bn as BatchNorm).numFeatures === "number";
}

/** Per-channel scale, mean and beta of `bn` in float64, each value read once. */
function coefficients(bn: unknown): Coefficients {
  let state: Record<string, unknown>, eps: unknown;
  if (isLayer(bn)) {
    if (!bn.trackRunningStats) fail("ERR_ARGUMENT", "bn", "has no running statistics (trackRunningStats false): an eval-mode BatchNorm without them uses batch statistics and cannot be folded");
    state = bn.stateDict() as Record<string, unknown>;
    eps = bn.eps;
  } else {
    if (typeof bn !== "object" || bn === null || Array.isArray(bn)) fail("ERR_ARGUMENT", "bn", `must be a BatchNorm layer or { running_mean, running_var, weight, bias, eps }, got ${describeValue(bn)}`);
    const o = readOptions(bn, "bn", ["running_mean", "running_var", "weight", "bias", "eps", "num_batches_tracked"] as const);
    state = o;
    eps = o.eps ?? 1e-5;
  }
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0) fail("ERR_EPS", "bn.eps", `must be a finite number >= 0, got ${describeValue(eps)}`);
  if (state.running_mean === undefined || state.running_var === undefined) fail("ERR_STATE_DICT", `bn.${state.running_mean === undefined ? "running_mean" : "running_var"}`, "missing key");
  const mean = stage(state.running_mean, "bn.running_mean"), variance = stage(state.running_var, "bn.running_var");
  const C = mean.length;
  const sized = (values: Float32Array, argument: string) => {
    if (values.length !== C) fail("ERR_CHANNELS", argument, `must hold ${C} values (as running_mean), got ${values.length}`);
    return values;
  };
  sized(variance, "bn.running_var");
  const gamma = state.weight == null ? null : sized(stage(state.weight, "bn.weight"), "bn.weight");
  const beta = state.bias == null ? null : sized(stage(state.bias, "bn.bias"), "bn.bias");
  const coefficients: Coefficients = { C, scale: new Float64Array(C), mean: Float64Array.from(mean), beta: new Float64Array(C) };
  for (let c = 0; c < C; c++) {
    coefficients.scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + (eps as number));
    coefficients.beta[c] = beta ? beta[c] : 0;
  }
  return coefficients;
}

function stageShape(shape: unknown, argument: string, length: number, minRank: number): number[] {
  if (!Array.isArray(shape) || shape.length < minRank || shape.length > 32) fail("ERR_SHAPE", argument, `must be an array of ${minRank} to 32 sizes, got ${describeValue(shape)}`);
  const sizes = (shape as unknown[]).map((s, i) => {
    if (typeof s !== "number" || !Number.isSafeInteger(s) || s < 1 || s > MAX_TENSOR_ELEMENTS) fail("ERR_SHAPE", `${argument}[${i}]`, `must be a positive integer, got ${describeValue(s)}`);
    return s as number;
  });
  const size = sizes.reduce((a, b) => a * b, 1);
  if (size !== length) fail("ERR_LENGTH", argument, `[${sizes.join(", ")}] needs ${size} values, the weight holds ${length}`);
  return sizes;
}

function stageBias(bias: unknown, O: number, argument: string): Float32Array | null {
  if (bias === null || bias === undefined) return null;
  const values = stage(bias, argument);
  if (values.length !== O) fail("ERR_CHANNELS", argument, `must hold ${O} values (one per output channel), got ${values.length}`);
  return values;
}

/** W' = W * s[out(i)], b' = (b - mean) * s + beta, rounded once. */
function fold(weight: Float32Array, bias: Float32Array | null, k: Coefficients, outChannel: (i: number) => number): FoldedWeights {
  const folded = new Float32Array(weight.length);
  for (let i = 0; i < weight.length; i++) folded[i] = weight[i] * k.scale[outChannel(i)];
  const foldedBias = new Float32Array(k.C);
  for (let o = 0; o < k.C; o++) foldedBias[o] = ((bias ? bias[o] : 0) - k.mean[o]) * k.scale[o] + k.beta[o];
  return { weight: folded, bias: foldedBias };
}

export interface ConvFoldOptions {
  /** The weight's shape (required). */
  shape: readonly number[];
  /**
   * "OIHW" (default): torch's layout at any rank, output channel first
   * ([out, in/groups, k...]; transposed: [in, out/groups, k...]). "HWIO":
   * TensorFlow's [k..., in/groups, out] (transposed: [k..., out, in]). A Keras
   * DepthwiseConv2D kernel [kh, kw, in, multiplier] is HWIO with shape
   * [kh, kw, 1, in * multiplier] (the same bytes).
   */
  layout?: "OIHW" | "HWIO";
  /** Groups of the convolution (default 1; depthwise: groups = in channels). */
  groups?: number;
  /** A transposed convolution (ConvTranspose): the output channels are the weight's second (OIHW) or second-last (HWIO) axis, per group. */
  transposed?: boolean;
}

/**
 * Folds `bn` (eval mode: running statistics) into the convolution before it.
 * `convBias` may be null. Returns new float32 weight and bias.
 * Grouped transposed convolutions (which torch 1.13's helper refuses) map
 * weight[i, j, ...] to output channel (i div (in/groups)) * (out/groups) + j.
 */
export function fuseConvBnWeights(convWeight: Float32Array | ArrayLike<number> | Tensor, convBias: Float32Array | ArrayLike<number> | Tensor | null, bn: BatchNorm | BatchNormFoldState, options: ConvFoldOptions): FoldedWeights {
  const weight = stage(convWeight, "convWeight");
  const o = readOptions(options, "options", ["shape", "layout", "groups", "transposed"] as const);
  if (o.shape === undefined) fail("ERR_SHAPE", "options.shape", "is required: the weight's shape, e.g. [out, in, kH, kW]");
  const shape = stageShape(o.shape, "options.shape", weight.length, 3);
  const layout = readChoice(o.layout, "options.layout", ["OIHW", "HWIO"] as const, "OIHW", "ERR_LAYOUT");
  const groups = o.groups ?? 1;
  if (typeof groups !== "number" || !Number.isSafeInteger(groups) || groups < 1) fail("ERR_ARGUMENT", "options.groups", `must be a positive integer, got ${describeValue(groups)}`);
  const transposed = readFlag(o.transposed, "options.transposed", false);
  const k = coefficients(bn);
  const rank = shape.length;
  let O: number, outChannel: (i: number) => number;
  if (!transposed) {
    if (layout === "OIHW") {
      O = shape[0];
      const inner = weight.length / O;
      outChannel = (i) => Math.floor(i / inner);
    } else {
      O = shape[rank - 1];
      outChannel = (i) => i % O;
    }
    if (O % groups !== 0) fail("ERR_ARGUMENT", "options.groups", `${groups} does not divide the ${O} output channels`);
  } else {
    // torch [in, out/g, k...]; TensorFlow [k..., out/g, in].
    const I = layout === "OIHW" ? shape[0] : shape[rank - 1];
    const perGroup = layout === "OIHW" ? shape[1] : shape[rank - 2];
    if (I % groups !== 0) fail("ERR_ARGUMENT", "options.groups", `${groups} does not divide the ${I} input channels (the weight's ${layout === "OIHW" ? "first" : "last"} axis)`);
    O = perGroup * groups;
    const inPerGroup = I / groups;
    if (layout === "OIHW") {
      const K = weight.length / (I * perGroup);
      outChannel = (i) => {
        const input = Math.floor(i / (perGroup * K)), j = Math.floor(i / K) % perGroup;
        return Math.floor(input / inPerGroup) * perGroup + j;
      };
    } else {
      outChannel = (i) => {
        const input = i % I, j = Math.floor(i / I) % perGroup;
        return Math.floor(input / inPerGroup) * perGroup + j;
      };
    }
  }
  if (O !== k.C) fail("ERR_CHANNELS", "bn", `has ${k.C} channels, the convolution has ${O} output channels`);
  return fold(weight, stageBias(convBias, O, "convBias"), k, outChannel);
}

export interface LinearFoldOptions {
  /** [out, in] (default: out from the BatchNorm, in from the weight's length). */
  shape?: readonly number[];
  /** "OI" (torch, default: [out, in]) or "IO" (a Keras Dense kernel: [in, out]). */
  layout?: "OI" | "IO";
}

function linearShape(weight: Float32Array, options: unknown, rows: number, rowsName: string): { O: number; I: number; layout: "OI" | "IO" } {
  const o = readOptions(options, "options", ["shape", "layout"] as const);
  const layout = readChoice(o.layout, "options.layout", ["OI", "IO"] as const, "OI", "ERR_LAYOUT");
  if (o.shape !== undefined) {
    const shape = stageShape(o.shape, "options.shape", weight.length, 2);
    if (shape.length !== 2) fail("ERR_SHAPE", "options.shape", `must be [out, in] or [in, out], got [${shape.join(", ")}]`);
    const [O, I] = layout === "OI" ? shape : [shape[1], shape[0]];
    return { O, I, layout };
  }
  if (weight.length % rows !== 0) fail("ERR_LENGTH", "weight", `holds ${weight.length} values, not a multiple of the ${rows} ${rowsName}`);
  return rowsName === "output features" ? { O: rows, I: weight.length / rows, layout } : { O: weight.length / rows, I: rows, layout };
}

/** Folds `bn` (eval mode) into the linear layer before it: torch's fuse_linear_bn_weights. `bias` may be null. */
export function fuseLinearBnWeights(weight: Float32Array | ArrayLike<number> | Tensor, bias: Float32Array | ArrayLike<number> | Tensor | null, bn: BatchNorm | BatchNormFoldState, options?: LinearFoldOptions): FoldedWeights {
  const w = stage(weight, "weight");
  const k = coefficients(bn);
  const { O, I, layout } = linearShape(w, options, k.C, "output features");
  if (O !== k.C) fail("ERR_CHANNELS", "bn", `has ${k.C} channels, the linear layer has ${O} outputs`);
  return fold(w, stageBias(bias, O, "bias"), k, layout === "OI" ? (i) => Math.floor(i / I) : (i) => i % O);
}

/**
 * Folds `bn` (eval mode) into the linear layer AFTER it (BN on the linear's
 * input features): W'[o, i] = W[o, i] * s[i], b'[o] = b[o] + sum_i W[o, i] * t[i]
 * with t = beta - running_mean * s (the sum in float64).
 */
export function fuseBnLinearWeights(bn: BatchNorm | BatchNormFoldState, weight: Float32Array | ArrayLike<number> | Tensor, bias: Float32Array | ArrayLike<number> | Tensor | null, options?: LinearFoldOptions): FoldedWeights {
  const w = stage(weight, "weight");
  const k = coefficients(bn);
  const { O, I, layout } = linearShape(w, options, k.C, "input features");
  if (I !== k.C) fail("ERR_CHANNELS", "bn", `has ${k.C} channels, the linear layer has ${I} inputs`);
  const b = stageBias(bias, O, "bias");
  const folded = new Float32Array(w.length);
  const offsets = new Float64Array(O);
  for (let o = 0; o < O; o++) offsets[o] = b ? b[o] : 0;
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < I; i++) {
      const index = layout === "OI" ? o * I + i : i * O + o;
      folded[index] = w[index] * k.scale[i];
      offsets[o] += w[index] * (k.beta[i] - k.mean[i] * k.scale[i]);
    }
  }
  return { weight: folded, bias: Float32Array.from(offsets) };
}

export interface FoldingCheck {
  /** Largest |folded - unfolded| over the outputs. */
  maxAbsDifference: number;
  /** Largest |folded - unfolded| / max(|unfolded|, 1e-30). */
  maxRelativeDifference: number;
  /** Flat index of the largest absolute difference. */
  index: number;
}

/**
 * Runs your layer twice on your data, `run(weight, bias)` returning its output
 * (shape `outputShape`, [N, C, ...] or channels-last [N, ..., C]): with the
 * original weights followed by `bn` in float64 ((y - mean) / sqrt(var + eps) *
 * gamma + beta), and with the folded weights; reports the largest difference.
 */
export function checkFolding(
  run: (weight: Float32Array, bias: Float32Array | null) => ArrayLike<number>,
  args: { weight: Float32Array; bias: Float32Array | null; folded: FoldedWeights; bn: BatchNorm | BatchNormFoldState; outputShape: readonly number[]; layout?: "channels-first" | "channels-last" },
): FoldingCheck {
  if (typeof run !== "function") fail("ERR_ARGUMENT", "run", `must be a function (weight, bias) => output, got ${describeValue(run)}`);
  const o = readOptions(args, "args", ["weight", "bias", "folded", "bn", "outputShape", "layout"] as const);
  const k = coefficients(o.bn);
  const layout = readChoice(o.layout, "args.layout", ["channels-first", "channels-last"] as const, "channels-first", "ERR_LAYOUT");
  const shape = o.outputShape as number[];
  if (!Array.isArray(shape) || shape.length < 2) fail("ERR_SHAPE", "args.outputShape", `must be [N, C, ...] (or channels-last), got ${describeValue(shape)}`);
  const C = layout === "channels-last" ? shape[shape.length - 1] : shape[1];
  if (C !== k.C) fail("ERR_CHANNELS", "args.outputShape", `has ${C} channels, bn has ${k.C}`);
  const S = layout === "channels-last" ? 1 : shape.slice(2).reduce((a, b) => a * b, 1);
  const folded = o.folded as FoldedWeights;
  const plain = Float64Array.from(run(o.weight as Float32Array, (o.bias ?? null) as Float32Array | null));
  const fused = Float64Array.from(run(folded.weight, folded.bias));
  if (plain.length !== fused.length) fail("ERR_LENGTH", "run", `returned ${plain.length} values unfolded and ${fused.length} folded`);
  let maxAbs = 0, maxRel = 0, index = -1;
  for (let i = 0; i < plain.length; i++) {
    const c = layout === "channels-last" ? i % C : Math.floor(i / S) % C;
    const expected = (plain[i] - k.mean[c]) * k.scale[c] + k.beta[c];
    const difference = Math.abs(fused[i] - expected);
    if (difference > maxAbs || index < 0) [maxAbs, index] = [difference, i];
    maxRel = Math.max(maxRel, difference / Math.max(Math.abs(expected), 1e-30));
  }
  return { maxAbsDifference: maxAbs, maxRelativeDifference: maxRel, index };
}
