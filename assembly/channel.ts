// BatchNorm's per-channel float64 math (the workspace slots of workspace.ts):
// coefficients for the element-wise passes, running statistics and gradient
// accumulation.
// O(C) work, the same scalar code in both builds. Every float output is
// canonicalized (WebAssembly leaves the sign and payload of a NaN to the engine).
import { f64At, f64Put, f32At, f32Put, inverseStd } from "./numbers";
import {
  MEAN, MEAN_OFFSET, VARIANCE, INV_STD, SUM_A, SUM_B, GRAD_WEIGHT, GRAD_BIAS, EVAL_INV_STD, COEF_A, COEF_B, COEF_C,
  SHIFT, EVAL_SHIFT, EVAL_SCALE, EVAL_OFFSET, f64Slot, f32Slot,
} from "./workspace";

/**
 * Training coefficients of y = (x - mean) * COEF_A + COEF_C (float64 pass),
 * and SHIFT = float32(mean) with MEAN_OFFSET = mean - SHIFT for the backward
 * reduction, which then cancels nothing.
 */
export function trainingCoefficients(C: i32, weight: usize, bias: usize, eps: f64, ws: usize): void {
  const mean = f64Slot(ws, C, MEAN), variance = f64Slot(ws, C, VARIANCE), invStd = f64Slot(ws, C, INV_STD);
  const meanOffset = f64Slot(ws, C, MEAN_OFFSET), coefA = f64Slot(ws, C, COEF_A), coefC = f64Slot(ws, C, COEF_C);
  const shift = f32Slot(ws, C, SHIFT);
  for (let c = 0; c < C; c++) {
    const mu = f64At(mean, c);
    const inv = inverseStd(f64At(variance, c), eps);
    const k = <f32>mu;
    f64Put(invStd, c, inv);
    f64Put(meanOffset, c, mu - <f64>k);
    f32Put(shift, c, k);
    f64Put(coefA, c, (weight ? <f64>f32At(weight, c) : 1.0) * inv);
    f64Put(coefC, c, bias ? <f64>f32At(bias, c) : 0.0);
  }
}

/**
 * Inference coefficients from running statistics: y = (x - mean) * scale + bias.
 * Subtracting the mean first keeps digits that x * scale + (bias - mean * scale)
 * would cancel when the mean is large compared with the spread.
 */
export function inferenceCoefficients(C: i32, runningMean: usize, runningVar: usize, weight: usize, bias: usize, eps: f64, ws: usize): void {
  const shift = f32Slot(ws, C, EVAL_SHIFT), scale = f32Slot(ws, C, EVAL_SCALE), offset = f32Slot(ws, C, EVAL_OFFSET);
  const invStd = f64Slot(ws, C, EVAL_INV_STD);
  for (let c = 0; c < C; c++) {
    const inv = 1.0 / Math.sqrt(<f64>f32At(runningVar, c) + eps);
    const g: f64 = weight ? <f64>f32At(weight, c) : 1.0;
    f64Put(invStd, c, inv);
    f32Put(shift, c, f32At(runningMean, c));
    f32Put(scale, c, <f32>(g * inv));
    f32Put(offset, c, bias ? f32At(bias, c) : 0);
  }
}

/**
 * running = (1 - factor) * running + factor * batch, PyTorch's rule; the
 * variance folded in is unbiased (count / (count - 1)) unless `unbiased` is 0.
 */
export function updateRunningStatistics(C: i32, count: f64, factor: f64, unbiased: bool, runningMean: usize, runningVar: usize, ws: usize): void {
  const mean = f64Slot(ws, C, MEAN), variance = f64Slot(ws, C, VARIANCE);
  const correction = unbiased ? count / (count - 1) : 1.0;
  for (let c = 0; c < C; c++) {
    f32Put(runningMean, c, <f32>(factor * f64At(mean, c) + (1.0 - factor) * <f64>f32At(runningMean, c)));
    f32Put(runningVar, c, <f32>(factor * (f64At(variance, c) * correction) + (1.0 - factor) * <f64>f32At(runningVar, c)));
  }
}

/**
 * Training-mode backward coefficients from SUM_A = sum dy and SUM_B = sum dy*(x - SHIFT):
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = g*inv/m * (m*dy - dbeta - xhat*dgamma) = (dy*A + (x - mean)*B) + C.
 */
export function trainingGradientCoefficients(C: i32, count: f64, weight: usize, ws: usize): void {
  const inverseCount = 1.0 / count;
  const sumA = f64Slot(ws, C, SUM_A), sumB = f64Slot(ws, C, SUM_B);
  const meanOffset = f64Slot(ws, C, MEAN_OFFSET), invStd = f64Slot(ws, C, INV_STD);
  const gradWeight = f64Slot(ws, C, GRAD_WEIGHT), gradBias = f64Slot(ws, C, GRAD_BIAS);
  const coefA = f64Slot(ws, C, COEF_A), coefB = f64Slot(ws, C, COEF_B), coefC = f64Slot(ws, C, COEF_C);
  for (let c = 0; c < C; c++) {
    const inv = f64At(invStd, c);
    const dbeta = f64At(sumA, c);
    const dgamma = inv * (f64At(sumB, c) - f64At(meanOffset, c) * dbeta);
    const a = (weight ? <f64>f32At(weight, c) : 1.0) * inv;
    f64Put(gradBias, c, dbeta);
    f64Put(gradWeight, c, dgamma);
    f64Put(coefA, c, a);
    f64Put(coefB, c, -a * inv * dgamma * inverseCount);
    f64Put(coefC, c, -a * dbeta * inverseCount);
  }
}

/** Eval-mode parameter gradients from SUM_A = sum dy, SUM_B = sum dy*(x - running mean). */
export function inferenceParameterGradients(C: i32, ws: usize): void {
  const sumA = f64Slot(ws, C, SUM_A), sumB = f64Slot(ws, C, SUM_B), invStd = f64Slot(ws, C, EVAL_INV_STD);
  const gradWeight = f64Slot(ws, C, GRAD_WEIGHT), gradBias = f64Slot(ws, C, GRAD_BIAS);
  for (let c = 0; c < C; c++) {
    f64Put(gradBias, c, f64At(sumA, c));
    f64Put(gradWeight, c, f64At(invStd, c) * f64At(sumB, c));
  }
}

/** grad += float32(gradient), as autograd accumulates float32 gradients. Null pointers are skipped. */
export function accumulateParameterGradients(C: i32, weightGrad: usize, biasGrad: usize, ws: usize): void {
  const gradWeight = f64Slot(ws, C, GRAD_WEIGHT), gradBias = f64Slot(ws, C, GRAD_BIAS);
  for (let c = 0; c < C; c++) {
    if (weightGrad) f32Put(weightGrad, c, f32At(weightGrad, c) + <f32>f64At(gradWeight, c));
    if (biasGrad) f32Put(biasGrad, c, f32At(biasGrad, c) + <f32>f64At(gradBias, c));
  }
}
