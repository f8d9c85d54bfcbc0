// The module's exports. Every export takes pointers (byte addresses in this
// module's memory), sizes in elements and scalars; none allocates except
// alloc itself, which only the facade calls. Data are (N, C, S) channels-first
// or (N, S, C) channels-last float32, S = product of the spatial sizes.
import { reduceStatistics, reduceGradient } from "./reduce";
import { applyAffine, applyTrainingAffine, applyTrainingGradient } from "./apply";
import {
  choosePilotShift, finishStatistics, trainingCoefficients, inferenceCoefficients,
  updateRunningStatistics, trainingGradientCoefficients, inferenceParameterGradients,
  accumulateParameterGradients,
} from "./channel";
import {
  SUM_A, SUM_B, SHIFT, EVAL_SHIFT, EVAL_SCALE, EVAL_OFFSET, ZERO, PILOT, MEAN, COEF_A, COEF_B, COEF_C,
  f64Slot, f32Slot,
} from "./workspace";

export { workspaceBytes } from "./workspace";

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
  choosePilotShift(x, N, C, S, channelsLast, ws);
  reduceStatistics(x, N, C, S, channelsLast, f32Slot(ws, C, PILOT), f64Slot(ws, C, SUM_A), f64Slot(ws, C, SUM_B));
  finishStatistics(x, N, C, S, channelsLast, ws);
}

/**
 * Training forward: batch statistics, then y = weight * xhat + bias (weight, bias
 * may be 0 for none). Leaves in the workspace what backward needs.
 */
export function trainForward(x: usize, y: usize, N: i32, C: i32, S: i32, channelsLast: bool, weight: usize, bias: usize, eps: f64, ws: usize): void {
  batchStatistics(x, N, C, S, channelsLast, ws);
  trainingCoefficients(C, weight, bias, eps, ws);
  applyTrainingAffine(x, y, N, C, S, channelsLast, f64Slot(ws, C, MEAN), f64Slot(ws, C, COEF_A), f64Slot(ws, C, COEF_C));
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
  applyAffine(x, y, N, C, S, channelsLast, f32Slot(ws, C, EVAL_SHIFT), f32Slot(ws, C, EVAL_SCALE), f32Slot(ws, C, EVAL_OFFSET));
}

/**
 * Training backward after trainForward on the same x: dx through the batch
 * statistics; dgamma, dbeta into the workspace and, when the pointers are not 0,
 * added to the float32 gradients weightGrad, biasGrad.
 */
export function trainBackward(x: usize, dy: usize, dx: usize, N: i32, C: i32, S: i32, channelsLast: bool, weight: usize, weightGrad: usize, biasGrad: usize, ws: usize): void {
  reduceGradient(x, dy, N, C, S, channelsLast, f32Slot(ws, C, SHIFT), f64Slot(ws, C, SUM_A), f64Slot(ws, C, SUM_B));
  trainingGradientCoefficients(C, <f64>N * S, weight, ws);
  applyTrainingGradient(x, dy, dx, N, C, S, channelsLast, f64Slot(ws, C, MEAN), f64Slot(ws, C, COEF_A), f64Slot(ws, C, COEF_B), f64Slot(ws, C, COEF_C));
  accumulateParameterGradients(C, weightGrad, biasGrad, ws);
}

/**
 * Eval-mode backward after evalPrepare: dx = dy * scale; when `parameterGradients`
 * is set, dgamma = sum dy * xhat and dbeta = sum dy (statistics are constants).
 */
export function evalBackward(x: usize, dy: usize, dx: usize, N: i32, C: i32, S: i32, channelsLast: bool, parameterGradients: bool, weightGrad: usize, biasGrad: usize, ws: usize): void {
  if (parameterGradients) {
    reduceGradient(x, dy, N, C, S, channelsLast, f32Slot(ws, C, EVAL_SHIFT), f64Slot(ws, C, SUM_A), f64Slot(ws, C, SUM_B));
    inferenceParameterGradients(C, ws);
  }
  const zero = f32Slot(ws, C, ZERO);
  applyAffine(dy, dx, N, C, S, channelsLast, zero, f32Slot(ws, C, EVAL_SCALE), zero);
  if (parameterGradients) accumulateParameterGradients(C, weightGrad, biasGrad, ws);
}
