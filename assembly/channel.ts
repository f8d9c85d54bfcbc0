// Per-channel float64 math: statistics from sums, coefficients for the
// element-wise passes, running statistics and gradient accumulation.
// O(C) work, the same scalar code in both builds. Every float output is
// canonicalized (WebAssembly leaves the sign and payload of a NaN to the engine).
import {
  MEAN, MEAN_OFFSET, VARIANCE, INV_STD, SUM_A, SUM_B, GRAD_WEIGHT, GRAD_BIAS, EVAL_INV_STD, COEF_A, COEF_B, COEF_C,
  SHIFT, EVAL_SHIFT, EVAL_SCALE, EVAL_OFFSET, PILOT, f64Slot, f32Slot,
} from "./workspace";

// A channel's statistics are recomputed by two exact passes when
// (mean - pilot)^2 > 255 * variance: the float64 one-pass sums would then have
// cancelled more than 8 of their 53 bits.
const CANCELLATION_LIMIT: f64 = 255.0 / 256.0;

const CANONICAL_NAN_F32: f32 = reinterpret<f32>(0x7fc00000);
const CANONICAL_NAN_F64: f64 = reinterpret<f64>(0x7ff8000000000000);

@inline export function canonicalF32(v: f32): f32 { return v != v ? CANONICAL_NAN_F32 : v; }
@inline function canonicalF64(v: f64): f64 { return v != v ? CANONICAL_NAN_F64 : v; }
@inline function f64At(base: usize, c: i32): f64 { return load<f64>(base + (<usize>c << 3)); }
@inline function f64Put(base: usize, c: i32, v: f64): void { store<f64>(base + (<usize>c << 3), canonicalF64(v)); }
@inline function f32At(base: usize, c: i32): f32 { return load<f32>(base + (<usize>c << 2)); }
@inline function f32Put(base: usize, c: i32, v: f32): void { store<f32>(base + (<usize>c << 2), canonicalF32(v)); }
@inline function median3(a: f32, b: f32, c: f32): f32 { return max<f32>(min<f32>(a, b), min<f32>(max<f32>(a, b), c)); }

/**
 * The reduction's shift per channel: the median of its first, middle and last
 * values, so that no single outlier can make the one-pass sums cancel.
 */
export function choosePilotShift(x: usize, N: i32, C: i32, S: i32, channelsLast: bool, ws: usize): void {
  const pilot = f32Slot(ws, C, PILOT);
  const count = <usize>N * S, middle = count >> 1, last = count - 1;
  if (channelsLast) {
    const rowBytes = <usize>C << 2;
    const first = x, mid = x + middle * rowBytes, end = x + last * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2;
        const a = v128.load(first + cb), b = v128.load(mid + cb), d = v128.load(end + cb);
        v128.store(pilot + cb, f32x4.max(f32x4.min(a, b), f32x4.min(f32x4.max(a, b), d)));
      }
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2;
      store<f32>(pilot + cb, median3(load<f32>(first + cb), load<f32>(mid + cb), load<f32>(end + cb)));
    }
    return;
  }
  for (let c = 0; c < C; c++) {
    const a = load<f32>(x + (elementIndex(0, c, 0, C, S, false) << 2));
    const b = load<f32>(x + (elementIndex(<i32>(middle / S), c, <i32>(middle % S), C, S, false) << 2));
    const d = load<f32>(x + (elementIndex(N - 1, c, S - 1, C, S, false) << 2));
    store<f32>(pilot + (<usize>c << 2), median3(a, b, d));
  }
}

@inline function elementIndex(n: i32, c: i32, s: i32, C: i32, S: i32, channelsLast: bool): usize {
  return channelsLast ? (<usize>n * S + s) * C + c : (<usize>n * C + c) * S + s;
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
  f64Put(f64Slot(ws, C, MEAN), c, mean);
  f64Put(f64Slot(ws, C, VARIANCE), c, m2 / count);
}

/**
 * Mean and biased variance from the sums around PILOT in SUM_A / SUM_B;
 * channels whose sums cancelled are recomputed exactly from x. NaN or
 * infinite data compare false and simply propagate.
 */
export function finishStatistics(x: usize, N: i32, C: i32, S: i32, channelsLast: bool, ws: usize): void {
  const inverseCount = 1.0 / (<f64>N * S);
  const pilot = f32Slot(ws, C, PILOT), sumA = f64Slot(ws, C, SUM_A), sumB = f64Slot(ws, C, SUM_B);
  const mean = f64Slot(ws, C, MEAN), variance = f64Slot(ws, C, VARIANCE);
  for (let c = 0; c < C; c++) {
    const a = f64At(sumA, c), b = f64At(sumB, c);
    const offset = a * inverseCount;
    const explained = a * offset;
    if (explained > b * CANCELLATION_LIMIT) {
      exactChannelStatistics(x, N, C, S, channelsLast, c, ws);
      continue;
    }
    f64Put(mean, c, <f64>f32At(pilot, c) + offset);
    f64Put(variance, c, max<f64>(b - explained, 0.0) * inverseCount);
  }
}

/** 1 / sqrt(variance + eps), and 0 where both are 0 (PyTorch's rule: y = bias on a constant channel with eps 0). */
@inline function inverseStd(variance: f64, eps: f64): f64 {
  const v = variance + eps;
  return v == 0 ? 0 : 1.0 / Math.sqrt(v);
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
