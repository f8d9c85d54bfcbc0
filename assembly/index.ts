// The module's exports. Every export takes pointers (byte addresses in this
// module's memory), sizes in elements and scalars; none allocates except
// alloc itself, which only the facade calls. Data are (N, C, S) channels-first
// or (N, S, C) channels-last float32, S = product of the spatial sizes.
import { reduceRuns, reduceLanes } from "./reduce";
import { affineRuns, affineLanes, trainingAffineRuns, trainingAffineLanes, trainingGradientRuns, trainingGradientLanes } from "./apply";
import { choosePilots, finishGroups } from "./space";
import {
  trainingCoefficients, inferenceCoefficients, updateRunningStatistics, trainingGradientCoefficients,
  inferenceParameterGradients, accumulateParameterGradients, riskFlag, RISK_EVAL, RISK_EVAL_BACKWARD, RISK_TRAIN, RISK_BACKWARD,
} from "./channel";
import {
  SUM_A, SUM_B, SHIFT, EVAL_SHIFT, EVAL_SCALE, EVAL_OFFSET, ZERO, PILOT, MEAN, VARIANCE, COEF_A, COEF_B, COEF_C,
  f64Slot, f32Slot,
} from "./workspace";

// The index-space kernels, for the normalization family (see space.ts, reduce.ts, apply.ts).
export { choosePilots, finishGroups, finishMeanSquares, broadcastShift, mergeLanes } from "./space";
export { reduceRuns, reduceLanes, reduceColumns } from "./reduce";
export {
  affineRuns, affineLanes, trainingAffineRuns, trainingAffineLanes, trainingGradientRuns, trainingGradientLanes,
  rowsAffine, rowsGradient,
} from "./apply";
export { groupTrainingCoefficients, groupGradientCoefficients, instanceRunningUpdate, accumulateGradients } from "./groups";
export { rowTrainingCoefficients, rowGradientCoefficients } from "./rows";
export { workspaceBytes } from "./workspace";
export { channelMoments, normalizeChannels, gradientSums, gradientChannels } from "./sync";
export { sgdStep, adamStep, fillValues } from "./optim";

/** 1 in the SIMD build, 0 in the scalar build. */
export function isSimdBuild(): i32 {
  return ASC_FEATURE_SIMD ? 1 : 0;
}

/** Allocates `bytes` bytes, 16-byte aligned; may grow memory. */
export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

export function free(ptr: usize): void {
  heap.free(ptr);
}

/** Byte offset of float64 slot `slot` (see workspace.ts) from the workspace start. */
export function workspaceF64Offset(C: i32, slot: i32): usize {
  return f64Slot(0, C, slot);
}

/** Byte offset of float32 slot `slot` (see workspace.ts) from the workspace start. */
export function workspaceF32Offset(C: i32, slot: i32): usize {
  return f32Slot(0, C, slot);
}

/** Clears a workspace; the ZERO slot must hold zeros. */
export function workspaceInit(C: i32, ws: usize): void {
  memory.fill(ws, 0, f32Slot(0, C, ZERO + 1));
}

/** Batch mean and biased variance per channel into the workspace (MEAN, VARIANCE). */
export function batchStatistics(x: usize, N: i32, C: i32, S: i32, channelsLast: bool, ws: usize): void {
  // The index space of BatchNorm: group c, runs over n (channels-first) or rows (channels-last).
  const groupStride: usize = channelsLast ? 1 : <usize>S, R = channelsLast ? N * S : N;
  const runStride: usize = channelsLast ? <usize>C : <usize>C * S, B = channelsLast ? 1 : S;
  const pilot = f32Slot(ws, C, PILOT), sumA = f64Slot(ws, C, SUM_A), sumB = f64Slot(ws, C, SUM_B);
  choosePilots(x, C, C, 0, groupStride, R, runStride, B, pilot);
  reduceBatchNorm(x, 0, N, C, S, channelsLast, pilot, sumA, sumB);
  finishGroups(x, C, C, 0, groupStride, R, runStride, B, pilot, sumA, sumB, f64Slot(ws, C, MEAN), f64Slot(ws, C, VARIANCE));
}

/** BatchNorm's sums per channel around `shift` (with dy: the backward's sums). */
function reduceBatchNorm(x: usize, dy: usize, N: i32, C: i32, S: i32, channelsLast: bool, shift: usize, sumA: usize, sumB: usize): void {
  if (channelsLast) reduceLanes(x, dy, 1, 0, N * S, C, C, shift, sumA, sumB);
  else reduceRuns(x, dy, 0, C, S, N, <usize>C * S, S, shift, sumA, sumB);
}

/** y = (x - shift) * scale + offset with per-channel float32 coefficients; `risky`: whether they can create a NaN. */
function affineBatchNorm(x: usize, y: usize, N: i32, C: i32, S: i32, channelsLast: bool, shift: usize, scale: usize, offset: usize, risky: i32): void {
  if (channelsLast) affineLanes(x, y, 1, N * S, C, 0, shift, scale, offset, risky);
  else affineRuns(x, y, N * C, S, C, shift, scale, offset);
}

/**
 * Training forward: batch statistics, then y = weight * xhat + bias (weight, bias
 * may be 0 for none). Leaves in the workspace what backward needs.
 */
export function trainForward(x: usize, y: usize, N: i32, C: i32, S: i32, channelsLast: bool, weight: usize, bias: usize, eps: f64, ws: usize): void {
  batchStatistics(x, N, C, S, channelsLast, ws);
  trainingCoefficients(C, weight, bias, eps, ws);
  const mean = f64Slot(ws, C, MEAN), coefA = f64Slot(ws, C, COEF_A), coefC = f64Slot(ws, C, COEF_C);
  if (channelsLast) trainingAffineLanes(x, y, 1, N * S, C, 0, mean, coefA, coefC, riskFlag(C, ws, RISK_TRAIN));
  else trainingAffineRuns(x, y, N * C, S, C, mean, coefA, coefC);
}

/** Folds the last batch statistics into running mean and variance (float32 arrays of C). */
export function runningUpdate(C: i32, count: f64, factor: f64, unbiased: bool, runningMean: usize, runningVar: usize, ws: usize): void {
  updateRunningStatistics(C, count, factor, unbiased, runningMean, runningVar, ws);
}

/** Caches inference coefficients in the workspace (EVAL_* slots). */
export function evalPrepare(C: i32, runningMean: usize, runningVar: usize, weight: usize, bias: usize, eps: f64, ws: usize): void {
  inferenceCoefficients(C, runningMean, runningVar, weight, bias, eps, ws);
}

/** Inference forward with the cached coefficients: one pass, one multiply-add per element. */
export function evalForward(x: usize, y: usize, N: i32, C: i32, S: i32, channelsLast: bool, ws: usize): void {
  affineBatchNorm(x, y, N, C, S, channelsLast, f32Slot(ws, C, EVAL_SHIFT), f32Slot(ws, C, EVAL_SCALE), f32Slot(ws, C, EVAL_OFFSET), riskFlag(C, ws, RISK_EVAL));
}

/**
 * Training backward after trainForward on the same x: dx through the batch
 * statistics; dgamma, dbeta into the workspace and, when the pointers are not 0,
 * added to the float32 gradients weightGrad, biasGrad.
 */
export function trainBackward(x: usize, dy: usize, dx: usize, N: i32, C: i32, S: i32, channelsLast: bool, weight: usize, weightGrad: usize, biasGrad: usize, ws: usize): void {
  reduceBatchNorm(x, dy, N, C, S, channelsLast, f32Slot(ws, C, SHIFT), f64Slot(ws, C, SUM_A), f64Slot(ws, C, SUM_B));
  trainingGradientCoefficients(C, <f64>N * S, weight, ws);
  const mean = f64Slot(ws, C, MEAN), coefA = f64Slot(ws, C, COEF_A), coefB = f64Slot(ws, C, COEF_B), coefC = f64Slot(ws, C, COEF_C);
  if (channelsLast) trainingGradientLanes(x, dy, dx, 1, N * S, C, 0, mean, coefA, coefB, coefC, riskFlag(C, ws, RISK_BACKWARD));
  else trainingGradientRuns(x, dy, dx, N * C, S, C, mean, coefA, coefB, coefC);
  accumulateParameterGradients(C, weightGrad, biasGrad, ws);
}

/**
 * Eval-mode backward after evalPrepare: dx = dy * scale; when `parameterGradients`
 * is set, dgamma = sum dy * xhat and dbeta = sum dy (statistics are constants).
 */
export function evalBackward(x: usize, dy: usize, dx: usize, N: i32, C: i32, S: i32, channelsLast: bool, parameterGradients: bool, weightGrad: usize, biasGrad: usize, ws: usize): void {
  if (parameterGradients) {
    reduceBatchNorm(x, dy, N, C, S, channelsLast, f32Slot(ws, C, EVAL_SHIFT), f64Slot(ws, C, SUM_A), f64Slot(ws, C, SUM_B));
    inferenceParameterGradients(C, ws);
  }
  const zero = f32Slot(ws, C, ZERO);
  affineBatchNorm(dy, dx, N, C, S, channelsLast, zero, f32Slot(ws, C, EVAL_SCALE), zero, riskFlag(C, ws, RISK_EVAL_BACKWARD));
  if (parameterGradients) accumulateParameterGradients(C, weightGrad, biasGrad, ws);
}
