// Per-channel scalar float64 math: statistics from sums, coefficients for the
// element-wise passes, running statistics and gradient accumulation.
// O(C) work, identical code in both builds.
import {
  MEAN, MEAN_OFFSET, VARIANCE, INV_STD, SUM_A, SUM_B, GRAD_WEIGHT, GRAD_BIAS, EVAL_INV_STD,
  SHIFT, SCALE, OFFSET, DX_DY, DX_X, DX_CONST, EVAL_SHIFT, EVAL_SCALE, EVAL_OFFSET,
  f64Slot, f32Slot,
} from "./workspace";

// A channel is recomputed exactly when (mean - shift)^2 > 64 * variance: the
// one-pass sums would then have cancelled more than 6 bits.
const CANCELLATION_LIMIT: f64 = 64.0 / 65.0;

@inline function f64At(base: usize, c: i32): f64 { return load<f64>(base + (<usize>c << 3)); }
@inline function f64Put(base: usize, c: i32, v: f64): void { store<f64>(base + (<usize>c << 3), v); }
@inline function f32At(base: usize, c: i32): f32 { return load<f32>(base + (<usize>c << 2)); }
@inline function f32Put(base: usize, c: i32, v: f32): void { store<f32>(base + (<usize>c << 2), v); }

/** Shift of each channel: its first element (exact to subtract from values near it). */
export function choosePilotShift(x: usize, C: i32, S: i32, channelsLast: bool, ws: usize): void {
  const shift = f32Slot(ws, C, SHIFT);
  if (channelsLast) {
    memory.copy(shift, x, <usize>C << 2); // the first row holds one sample of every channel
    return;
  }
  for (let c = 0; c < C; c++) f32Put(shift, c, load<f32>(x + ((<usize>c * S) << 2)));
}

/** Exact float64 two-pass mean and biased variance of one channel. */
function exactChannelStatistics(x: usize, N: i32, C: i32, S: i32, channelsLast: bool, c: i32, ws: usize): void {
  const count = <f64>N * S;
  let sum: f64 = 0;
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < S; s++) sum += <f64>load<f32>(x + (elementIndex(n, c, s, C, S, channelsLast) << 2));
  }
  const mean = sum / count;
  let m2: f64 = 0;
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < S; s++) {
      const d = <f64>load<f32>(x + (elementIndex(n, c, s, C, S, channelsLast) << 2)) - mean;
      m2 += d * d;
    }
  }
  const shift = <f32>mean;
  f32Put(f32Slot(ws, C, SHIFT), c, shift);
  f64Put(f64Slot(ws, C, MEAN), c, mean);
  f64Put(f64Slot(ws, C, MEAN_OFFSET), c, mean - <f64>shift);
  f64Put(f64Slot(ws, C, VARIANCE), c, m2 / count);
}

@inline function elementIndex(n: i32, c: i32, s: i32, C: i32, S: i32, channelsLast: bool): usize {
  return channelsLast ? (<usize>n * S + s) * C + c : (<usize>n * C + c) * S + s;
}

/**
 * Mean and biased variance from the shifted sums in SUM_A / SUM_B; channels
 * whose sums cancelled or overflowed are recomputed exactly from x.
 */
export function finishStatistics(x: usize, N: i32, C: i32, S: i32, channelsLast: bool, ws: usize): void {
  const inverseCount = 1.0 / (<f64>N * S);
  const shift = f32Slot(ws, C, SHIFT), sumA = f64Slot(ws, C, SUM_A), sumB = f64Slot(ws, C, SUM_B);
  const mean = f64Slot(ws, C, MEAN), meanOffset = f64Slot(ws, C, MEAN_OFFSET), variance = f64Slot(ws, C, VARIANCE);
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    // Two channels at a time, the same correctly rounded operations per lane as
    // finishChannel (the scalar loop took about 5 ns per channel).
    const inv = f64x2.splat(inverseCount), limit = f64x2.splat(CANCELLATION_LIMIT);
    const infinity = f64x2.splat(Infinity), zero = f64x2.splat(0.0);
    for (; c + 2 <= C; c += 2) {
      const c8 = <usize>c << 3;
      const a = v128.load(sumA + c8), b = v128.load(sumB + c8);
      const offset = f64x2.mul(a, inv);
      const explained = f64x2.mul(a, offset);
      const redo = v128.or(v128.or(f64x2.eq(b, infinity), f64x2.eq(f64x2.abs(a), infinity)), f64x2.gt(explained, f64x2.mul(b, limit)));
      if (v128.any_true(redo)) {
        finishChannel(x, N, C, S, channelsLast, c, inverseCount, ws);
        finishChannel(x, N, C, S, channelsLast, c + 1, inverseCount, ws);
        continue;
      }
      v128.store(meanOffset + c8, offset);
      v128.store(mean + c8, f64x2.add(f64x2.promote_low_f32x4(v128.load64_zero(shift + (<usize>c << 2))), offset));
      v128.store(variance + c8, f64x2.mul(f64x2.max(f64x2.sub(b, explained), zero), inv));
    }
  }
  for (; c < C; c++) finishChannel(x, N, C, S, channelsLast, c, inverseCount, ws);
}

/** One channel of finishStatistics. */
@inline
function finishChannel(x: usize, N: i32, C: i32, S: i32, channelsLast: bool, c: i32, inverseCount: f64, ws: usize): void {
  const a = f64At(f64Slot(ws, C, SUM_A), c), b = f64At(f64Slot(ws, C, SUM_B), c);
  const offset = a * inverseCount;
  const explained = a * offset;
  // Non-finite sums of finite data (overflow) or heavy cancellation: redo exactly.
  // NaN data compares false everywhere and simply propagates.
  const overflowed = (b == Infinity || a == Infinity || a == -Infinity);
  if (overflowed || explained > b * CANCELLATION_LIMIT) {
    exactChannelStatistics(x, N, C, S, channelsLast, c, ws);
    return;
  }
  f64Put(f64Slot(ws, C, MEAN_OFFSET), c, offset);
  f64Put(f64Slot(ws, C, MEAN), c, <f64>f32At(f32Slot(ws, C, SHIFT), c) + offset);
  f64Put(f64Slot(ws, C, VARIANCE), c, max<f64>(b - explained, 0.0) * inverseCount);
}

/** Training coefficients: y = (x - shift) * scale + offset with batch statistics. */
export function trainingCoefficients(C: i32, weight: usize, bias: usize, eps: f64, ws: usize): void {
  const meanOffset = f64Slot(ws, C, MEAN_OFFSET), variance = f64Slot(ws, C, VARIANCE), invStd = f64Slot(ws, C, INV_STD);
  const scale = f32Slot(ws, C, SCALE), offset = f32Slot(ws, C, OFFSET);
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    // Two channels at a time: the same correctly rounded operations as below.
    const epsv = f64x2.splat(eps), one = f64x2.splat(1.0), zero = f64x2.splat(0.0);
    for (; c + 2 <= C; c += 2) {
      const c8 = <usize>c << 3, c4 = <usize>c << 2;
      const inv = f64x2.div(one, f64x2.sqrt(f64x2.add(v128.load(variance + c8), epsv)));
      const g = weight ? f64x2.promote_low_f32x4(v128.load64_zero(weight + c4)) : one;
      const b = bias ? f64x2.promote_low_f32x4(v128.load64_zero(bias + c4)) : zero;
      const s = f64x2.mul(g, inv);
      v128.store(invStd + c8, inv);
      v128.store64_lane(scale + c4, f32x4.demote_f64x2_zero(s), 0);
      v128.store64_lane(offset + c4, f32x4.demote_f64x2_zero(f64x2.sub(b, f64x2.mul(v128.load(meanOffset + c8), s))), 0);
    }
  }
  for (; c < C; c++) {
    const inv = 1.0 / Math.sqrt(f64At(variance, c) + eps);
    const g: f64 = weight ? <f64>f32At(weight, c) : 1.0;
    const b: f64 = bias ? <f64>f32At(bias, c) : 0.0;
    const s = g * inv;
    f64Put(invStd, c, inv);
    f32Put(scale, c, <f32>s);
    f32Put(offset, c, <f32>(b - f64At(meanOffset, c) * s));
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
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    // Two channels at a time: the same correctly rounded operations as below.
    const f = f64x2.splat(factor), keep = f64x2.splat(1.0 - factor), k = f64x2.splat(correction);
    for (; c + 2 <= C; c += 2) {
      const c8 = <usize>c << 3, c4 = <usize>c << 2;
      const oldMean = f64x2.promote_low_f32x4(v128.load64_zero(runningMean + c4));
      const oldVar = f64x2.promote_low_f32x4(v128.load64_zero(runningVar + c4));
      v128.store64_lane(runningMean + c4, f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(f, v128.load(mean + c8)), f64x2.mul(keep, oldMean))), 0);
      v128.store64_lane(runningVar + c4, f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(f, f64x2.mul(v128.load(variance + c8), k)), f64x2.mul(keep, oldVar))), 0);
    }
  }
  for (; c < C; c++) {
    f32Put(runningMean, c, <f32>(factor * f64At(mean, c) + (1.0 - factor) * <f64>f32At(runningMean, c)));
    f32Put(runningVar, c, <f32>(factor * (f64At(variance, c) * correction) + (1.0 - factor) * <f64>f32At(runningVar, c)));
  }
}

/**
 * Training-mode backward coefficients from SUM_A = sum dy and SUM_B = sum dy*(x - shift):
 *   dbeta = sum dy, dgamma = sum dy * xhat,
 *   dx = g*inv/m * (m*dy - dbeta - xhat*dgamma) = dy*DX_DY + (x - shift)*DX_X + DX_CONST.
 */
export function trainingGradientCoefficients(C: i32, count: f64, weight: usize, ws: usize): void {
  const inverseCount = 1.0 / count;
  const sumA = f64Slot(ws, C, SUM_A), sumB = f64Slot(ws, C, SUM_B);
  const meanOffset = f64Slot(ws, C, MEAN_OFFSET), invStd = f64Slot(ws, C, INV_STD);
  const gradWeight = f64Slot(ws, C, GRAD_WEIGHT), gradBias = f64Slot(ws, C, GRAD_BIAS);
  const coefDy = f32Slot(ws, C, DX_DY), coefX = f32Slot(ws, C, DX_X), coefConst = f32Slot(ws, C, DX_CONST);
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    // Two channels at a time: the same correctly rounded operations as below.
    const invCount = f64x2.splat(inverseCount), one = f64x2.splat(1.0);
    for (; c + 2 <= C; c += 2) {
      const c8 = <usize>c << 3, c4 = <usize>c << 2;
      const inv = v128.load(invStd + c8), offset = v128.load(meanOffset + c8), dbeta = v128.load(sumA + c8);
      const dgamma = f64x2.mul(inv, f64x2.sub(v128.load(sumB + c8), f64x2.mul(offset, dbeta)));
      const g = weight ? f64x2.promote_low_f32x4(v128.load64_zero(weight + c4)) : one;
      const a = f64x2.mul(g, inv), minusA = f64x2.neg(a);
      const b = f64x2.mul(f64x2.mul(f64x2.mul(minusA, inv), dgamma), invCount);
      v128.store(gradBias + c8, dbeta);
      v128.store(gradWeight + c8, dgamma);
      v128.store64_lane(coefDy + c4, f32x4.demote_f64x2_zero(a), 0);
      v128.store64_lane(coefX + c4, f32x4.demote_f64x2_zero(b), 0);
      v128.store64_lane(coefConst + c4, f32x4.demote_f64x2_zero(f64x2.sub(f64x2.mul(f64x2.mul(minusA, dbeta), invCount), f64x2.mul(b, offset))), 0);
    }
  }
  for (; c < C; c++) {
    const inv = f64At(invStd, c), offset = f64At(meanOffset, c);
    const dbeta = f64At(sumA, c);
    const dgamma = inv * (f64At(sumB, c) - offset * dbeta);
    const g: f64 = weight ? <f64>f32At(weight, c) : 1.0;
    const a = g * inv;
    const b = -a * inv * dgamma * inverseCount;
    f64Put(gradBias, c, dbeta);
    f64Put(gradWeight, c, dgamma);
    f32Put(coefDy, c, <f32>a);
    f32Put(coefX, c, <f32>b);
    f32Put(coefConst, c, <f32>(-a * dbeta * inverseCount - b * offset));
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
