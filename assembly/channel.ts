// BatchNorm's per-channel float64 math (the workspace slots of workspace.ts):
// coefficients for the element-wise passes, running statistics and gradient
// accumulation.
// O(C) work: the SIMD build takes two channels at a time with the same
// correctly rounded operations per lane as the scalar loops, so the bits agree.
// Every float output is canonicalized (WebAssembly leaves the sign and payload
// of a NaN to the engine).
import { f64At, f64Put, f32At, f32Put } from "./numbers";
import { add, inverseSqrtOrZero, loadF32Or, loadF64, mul, neg, roundedToF32, splat, storeAsF32, storeF64, sub } from "./lanes";
import { mayCreateNaN, mayCreateNaN64 } from "./apply";
import {
  MEAN, MEAN_OFFSET, VARIANCE, INV_STD, SUM_A, SUM_B, GRAD_WEIGHT, GRAD_BIAS, EVAL_INV_STD, COEF_A, COEF_B, COEF_C, RISK,
  SHIFT, EVAL_SHIFT, EVAL_SCALE, EVAL_OFFSET, f64Slot, f32Slot,
} from "./workspace";

// Indexes into the RISK slot.
export const RISK_EVAL: i32 = 0, RISK_EVAL_BACKWARD: i32 = 1, RISK_TRAIN: i32 = 2, RISK_BACKWARD: i32 = 3;

/** 1 when some channel's coefficients can create a NaN (so the element-wise pass canonicalizes its output). */
export function riskFlag(C: i32, ws: usize, which: i32): i32 {
  return <i32>f64At(f64Slot(ws, C, RISK), which);
}

@inline function putRisk(C: i32, ws: usize, which: i32, risky: bool): void {
  f64Put(f64Slot(ws, C, RISK), which, risky ? 1 : 0);
}

/**
 * Training coefficients of y = (x - mean) * COEF_A + COEF_C (float64 pass),
 * and SHIFT = float32(mean) with MEAN_OFFSET = mean - SHIFT for the backward
 * reduction, which then cancels nothing.
 */
export function trainingCoefficients(C: i32, weight: usize, bias: usize, eps: f64, ws: usize): void {
  const mean = f64Slot(ws, C, MEAN), variance = f64Slot(ws, C, VARIANCE), invStd = f64Slot(ws, C, INV_STD);
  const meanOffset = f64Slot(ws, C, MEAN_OFFSET), coefA = f64Slot(ws, C, COEF_A), coefC = f64Slot(ws, C, COEF_C);
  const shift = f32Slot(ws, C, SHIFT);
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 2 <= C; c += 2) trainingCoefficientsAt<v128>(c, mean, variance, invStd, meanOffset, coefA, coefC, shift, weight, bias, eps);
  }
  for (; c < C; c++) trainingCoefficientsAt<f64>(c, mean, variance, invStd, meanOffset, coefA, coefC, shift, weight, bias, eps);
  let risky = false;
  for (let q = 0; q < C && !risky; q++) risky = mayCreateNaN64(f64At(mean, q), f64At(coefA, q), 0, f64At(coefC, q));
  putRisk(C, ws, RISK_TRAIN, risky);
}

/** trainingCoefficients for the channels at c (one or two, by T). */
@inline
function trainingCoefficientsAt<T>(
  c: i32, mean: usize, variance: usize, invStd: usize, meanOffset: usize, coefA: usize, coefC: usize, shift: usize,
  weight: usize, bias: usize, eps: f64,
): void {
  const mu = loadF64<T>(mean, c);
  const inv = inverseSqrtOrZero<T>(add<T>(loadF64<T>(variance, c), splat<T>(eps)));
  const k = roundedToF32<T>(mu);
  storeF64<T>(invStd, c, inv);
  storeF64<T>(meanOffset, c, sub<T>(mu, k));
  storeAsF32<T>(shift, c, k);
  storeF64<T>(coefA, c, mul<T>(loadF32Or<T>(weight, c, 1.0), inv));
  storeF64<T>(coefC, c, loadF32Or<T>(bias, c, 0.0));
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
  let risky = false, riskyBackward = false;
  for (let c = 0; c < C; c++) {
    const s = f32At(scale, c);
    risky = risky || mayCreateNaN(f32At(shift, c), s, f32At(offset, c));
    riskyBackward = riskyBackward || mayCreateNaN(0, s, 0);
  }
  putRisk(C, ws, RISK_EVAL, risky);
  putRisk(C, ws, RISK_EVAL_BACKWARD, riskyBackward);
}

/**
 * running = (1 - factor) * running + factor * batch, PyTorch's rule; the
 * variance folded in is unbiased (count / (count - 1)) unless `unbiased` is 0.
 */
export function updateRunningStatistics(C: i32, count: f64, factor: f64, unbiased: bool, runningMean: usize, runningVar: usize, ws: usize): void {
  const mean = f64Slot(ws, C, MEAN), variance = f64Slot(ws, C, VARIANCE);
  const correction = unbiased ? count / (count - 1) : 1.0;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 2 <= C; c += 2) runningUpdateAt<v128>(c, factor, correction, mean, variance, runningMean, runningVar);
  }
  for (; c < C; c++) runningUpdateAt<f64>(c, factor, correction, mean, variance, runningMean, runningVar);
}

/** updateRunningStatistics for the channels at c (one or two, by T). */
@inline
function runningUpdateAt<T>(c: i32, factor: f64, correction: f64, mean: usize, variance: usize, runningMean: usize, runningVar: usize): void {
  const f = splat<T>(factor), keep = splat<T>(1.0 - factor);
  storeAsF32<T>(runningMean, c, add<T>(mul<T>(f, loadF64<T>(mean, c)), mul<T>(keep, loadF32Or<T>(runningMean, c, 0))));
  storeAsF32<T>(runningVar, c, add<T>(mul<T>(f, mul<T>(loadF64<T>(variance, c), splat<T>(correction))), mul<T>(keep, loadF32Or<T>(runningVar, c, 0))));
}

/**
 * Training-mode backward coefficients from SUM_A = sum dy and SUM_B = sum dy*(x - SHIFT):
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = g*inv/m * (m*dy - dbeta - xhat*dgamma) = (dy*A + (x - mean)*B) + C.
 */
export function trainingGradientCoefficients(C: i32, count: f64, weight: usize, ws: usize): void {
  const inverseCount = 1.0 / count;
  const sumA = f64Slot(ws, C, SUM_A), sumB = f64Slot(ws, C, SUM_B);
  const meanOffset = f64Slot(ws, C, MEAN_OFFSET), invStd = f64Slot(ws, C, INV_STD), mean = f64Slot(ws, C, MEAN);
  const gradWeight = f64Slot(ws, C, GRAD_WEIGHT), gradBias = f64Slot(ws, C, GRAD_BIAS);
  const coefA = f64Slot(ws, C, COEF_A), coefB = f64Slot(ws, C, COEF_B), coefC = f64Slot(ws, C, COEF_C);
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 2 <= C; c += 2) {
      gradientCoefficientsAt<v128>(c, inverseCount, weight, sumA, sumB, meanOffset, invStd, gradWeight, gradBias, coefA, coefB, coefC);
    }
  }
  for (; c < C; c++) gradientCoefficientsAt<f64>(c, inverseCount, weight, sumA, sumB, meanOffset, invStd, gradWeight, gradBias, coefA, coefB, coefC);
  let risky = false;
  for (let q = 0; q < C && !risky; q++) risky = mayCreateNaN64(f64At(mean, q), f64At(coefA, q), f64At(coefB, q), f64At(coefC, q));
  putRisk(C, ws, RISK_BACKWARD, risky);
}

/** trainingGradientCoefficients for the channels at c (one or two, by T). */
@inline
function gradientCoefficientsAt<T>(
  c: i32, inverseCount: f64, weight: usize, sumA: usize, sumB: usize, meanOffset: usize, invStd: usize,
  gradWeight: usize, gradBias: usize, coefA: usize, coefB: usize, coefC: usize,
): void {
  const inv = loadF64<T>(invStd, c), dbeta = loadF64<T>(sumA, c), invCount = splat<T>(inverseCount);
  const dgamma = mul<T>(inv, sub<T>(loadF64<T>(sumB, c), mul<T>(loadF64<T>(meanOffset, c), dbeta)));
  const a = mul<T>(loadF32Or<T>(weight, c, 1.0), inv);
  storeF64<T>(gradBias, c, dbeta);
  storeF64<T>(gradWeight, c, dgamma);
  storeF64<T>(coefA, c, a);
  storeF64<T>(coefB, c, mul<T>(mul<T>(mul<T>(neg<T>(a), inv), dgamma), invCount));
  storeF64<T>(coefC, c, mul<T>(mul<T>(neg<T>(a), dbeta), invCount));
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
