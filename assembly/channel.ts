// BatchNorm's per-channel float64 math (the workspace slots of workspace.ts):
// coefficients for the element-wise passes, running statistics and gradient
// accumulation.
// O(C) work: the SIMD build takes two channels at a time with the same
// correctly rounded operations per lane as the scalar loops, so the bits agree.
// Every float output is canonicalized (WebAssembly leaves the sign and payload
// of a NaN to the engine).
import { f64At, f64Put, f32At, f32Put, inverseStd } from "./numbers";
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

const CANONICAL_NAN_BITS_F64: u64 = 0x7ff8000000000000;

/** The canonical float64 NaN in every NaN lane of v (the same bits as canonicalF64 per lane). */
@inline function canonicalLanes(v: v128): v128 {
  return v128.bitselect(i64x2.splat(CANONICAL_NAN_BITS_F64), v, f64x2.ne(v, v));
}

/** inverseStd per lane: 0 where variance + eps is 0, else 1 / sqrt(variance + eps). */
@inline function inverseStdLanes(variance: v128, eps: v128): v128 {
  const v = f64x2.add(variance, eps);
  return v128.bitselect(f64x2.splat(0), f64x2.div(f64x2.splat(1), f64x2.sqrt(v)), f64x2.eq(v, f64x2.splat(0)));
}

/** Two float32 values at p widened to float64 lanes (1.0 for a null pointer). */
@inline function pairOr(p: usize, c: i32, fallback: f64): v128 {
  return p ? f64x2.promote_low_f32x4(v128.load64_zero(p + (<usize>c << 2))) : f64x2.splat(fallback);
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
    // Two channels at a time, the same correctly rounded operations per lane as below.
    const epsv = f64x2.splat(eps);
    for (; c + 2 <= C; c += 2) {
      const c8 = <usize>c << 3, c4 = <usize>c << 2;
      const mu = v128.load(mean + c8);
      const inv = inverseStdLanes(v128.load(variance + c8), epsv);
      const k = f32x4.demote_f64x2_zero(mu);
      v128.store(invStd + c8, canonicalLanes(inv));
      v128.store(meanOffset + c8, canonicalLanes(f64x2.sub(mu, f64x2.promote_low_f32x4(k))));
      v128.store64_lane(shift + c4, canonicalLanes32(k), 0);
      v128.store(coefA + c8, canonicalLanes(f64x2.mul(pairOr(weight, c, 1.0), inv)));
      v128.store(coefC + c8, canonicalLanes(pairOr(bias, c, 0.0)));
    }
  }
  for (; c < C; c++) {
    const mu = f64At(mean, c);
    const inv = inverseStd(f64At(variance, c), eps);
    const k = <f32>mu;
    f64Put(invStd, c, inv);
    f64Put(meanOffset, c, mu - <f64>k);
    f32Put(shift, c, k);
    f64Put(coefA, c, (weight ? <f64>f32At(weight, c) : 1.0) * inv);
    f64Put(coefC, c, bias ? <f64>f32At(bias, c) : 0.0);
  }
  let risky = false;
  for (let q = 0; q < C && !risky; q++) risky = mayCreateNaN64(f64At(mean, q), f64At(coefA, q), 0, f64At(coefC, q));
  putRisk(C, ws, RISK_TRAIN, risky);
}

/** The canonical float32 NaN in every NaN lane of v. */
@inline function canonicalLanes32(v: v128): v128 {
  return v128.bitselect(i32x4.splat(0x7fc00000), v, f32x4.ne(v, v));
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
    // Two channels at a time: the same correctly rounded operations as below.
    const f = f64x2.splat(factor), keep = f64x2.splat(1.0 - factor), k = f64x2.splat(correction);
    for (; c + 2 <= C; c += 2) {
      const c8 = <usize>c << 3, c4 = <usize>c << 2;
      const oldMean = f64x2.promote_low_f32x4(v128.load64_zero(runningMean + c4));
      const oldVar = f64x2.promote_low_f32x4(v128.load64_zero(runningVar + c4));
      const newMean = f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(f, v128.load(mean + c8)), f64x2.mul(keep, oldMean)));
      const newVar = f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(f, f64x2.mul(v128.load(variance + c8), k)), f64x2.mul(keep, oldVar)));
      v128.store64_lane(runningMean + c4, canonicalLanes32(newMean), 0);
      v128.store64_lane(runningVar + c4, canonicalLanes32(newVar), 0);
    }
  }
  for (; c < C; c++) {
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
  const meanOffset = f64Slot(ws, C, MEAN_OFFSET), invStd = f64Slot(ws, C, INV_STD), mean = f64Slot(ws, C, MEAN);
  const gradWeight = f64Slot(ws, C, GRAD_WEIGHT), gradBias = f64Slot(ws, C, GRAD_BIAS);
  const coefA = f64Slot(ws, C, COEF_A), coefB = f64Slot(ws, C, COEF_B), coefC = f64Slot(ws, C, COEF_C);
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    // Two channels at a time: the same correctly rounded operations as below.
    const invCount = f64x2.splat(inverseCount);
    for (; c + 2 <= C; c += 2) {
      const c8 = <usize>c << 3;
      const inv = v128.load(invStd + c8), dbeta = v128.load(sumA + c8);
      const dgamma = f64x2.mul(inv, f64x2.sub(v128.load(sumB + c8), f64x2.mul(v128.load(meanOffset + c8), dbeta)));
      const a = f64x2.mul(pairOr(weight, c, 1.0), inv);
      v128.store(gradBias + c8, canonicalLanes(dbeta));
      v128.store(gradWeight + c8, canonicalLanes(dgamma));
      v128.store(coefA + c8, canonicalLanes(a));
      v128.store(coefB + c8, canonicalLanes(f64x2.mul(f64x2.mul(f64x2.mul(f64x2.neg(a), inv), dgamma), invCount)));
      v128.store(coefC + c8, canonicalLanes(f64x2.mul(f64x2.mul(f64x2.neg(a), dbeta), invCount)));
    }
  }
  for (; c < C; c++) {
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
  let risky = false;
  for (let q = 0; q < C && !risky; q++) risky = mayCreateNaN64(f64At(mean, q), f64At(coefA, q), f64At(coefB, q), f64At(coefC, q));
  putRisk(C, ws, RISK_BACKWARD, risky);
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
