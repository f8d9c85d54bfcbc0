// GroupNorm and InstanceNorm per-group float64 math (InstanceNorm is GroupNorm
// with one channel per group). Statistics are per (n, g), Q = N*G, n-major;
// coefficients are per (n, c), N*C values, n-major; weight and bias per channel
// (0 for none). Every array is a pointer the facade sizes.
import { f64At, f64Put, f32At, f32Put, inverseStd } from "./numbers";

/**
 * Forward coefficients: invStd per group; per (n, c): mean (of its group), A =
 * weight * invStd and C = bias for y = (x - mean) * A + C; shift = float32(mean)
 * per (n, c) and meanOffset = mean - shift per group, for the backward.
 */
export function groupTrainingCoefficients(
  N: i32, C: i32, G: i32, mean: usize, variance: usize, eps: f64, weight: usize, bias: usize,
  invStd: usize, meanOffset: usize, coefMean: usize, coefA: usize, coefC: usize, shift: usize,
): void {
  const perGroup = C / G;
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const q = n * G + g;
      const mu = f64At(mean, q), inv = inverseStd(f64At(variance, q), eps), k = <f32>mu;
      f64Put(invStd, q, inv);
      f64Put(meanOffset, q, mu - <f64>k);
      for (let j = 0; j < perGroup; j++) {
        const c = g * perGroup + j, p = n * C + c;
        f64Put(coefMean, p, mu);
        f64Put(coefA, p, (weight ? <f64>f32At(weight, c) : 1.0) * inv);
        f64Put(coefC, p, bias ? <f64>f32At(bias, c) : 0.0);
        f32Put(shift, p, k);
      }
    }
  }
}

/**
 * Backward coefficients from per-(n, c) sums around the group's shift,
 * sumA = sum dy and sumB = sum dy * (x - shift), with m values per group:
 *   S1 = sum_c w_c sumA, S2 = sum_c w_c (sumB - meanOffset * sumA)   (per group)
 *   dx = (dy * A + (x - mean) * B) + C,  A = w_c inv, B = -inv^3 S2 / m, C = -inv S1 / m
 *   dweight_c = sum_n inv (sumB - meanOffset * sumA), dbias_c = sum_n sumA   (float64, n ascending)
 */
export function groupGradientCoefficients(
  N: i32, C: i32, G: i32, count: f64, weight: usize, invStd: usize, meanOffset: usize, sumA: usize, sumB: usize,
  coefA: usize, coefB: usize, coefC: usize, gradWeight: usize, gradBias: usize,
): void {
  const perGroup = C / G, inverseCount = 1.0 / count;
  for (let c = 0; c < C; c++) {
    f64Put(gradWeight, c, 0);
    f64Put(gradBias, c, 0);
  }
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const q = n * G + g;
      const inv = f64At(invStd, q), o = f64At(meanOffset, q);
      let s1: f64 = 0, s2: f64 = 0;
      for (let j = 0; j < perGroup; j++) {
        const c = g * perGroup + j, p = n * C + c;
        const w: f64 = weight ? <f64>f32At(weight, c) : 1.0;
        const a = f64At(sumA, p), centred = f64At(sumB, p) - o * a;
        s1 += w * a;
        s2 += w * centred;
        f64Put(gradWeight, c, f64At(gradWeight, c) + inv * centred);
        f64Put(gradBias, c, f64At(gradBias, c) + a);
      }
      const b = -inv * inv * inv * s2 * inverseCount, t = -inv * s1 * inverseCount;
      for (let j = 0; j < perGroup; j++) {
        const c = g * perGroup + j, p = n * C + c;
        f64Put(coefA, p, (weight ? <f64>f32At(weight, c) : 1.0) * inv);
        f64Put(coefB, p, b);
        f64Put(coefC, p, t);
      }
    }
  }
}

/**
 * InstanceNorm's running statistics (torch's rule): the batch mean of the
 * per-instance means and of the per-instance variances (unbiased when
 * `unbiased`, count / (count - 1)), folded in with `factor`.
 */
export function instanceRunningUpdate(
  N: i32, C: i32, count: f64, factor: f64, unbiased: bool, mean: usize, variance: usize, runningMean: usize, runningVar: usize,
): void {
  const correction = unbiased ? count / (count - 1) : 1.0;
  for (let c = 0; c < C; c++) {
    let meanSum: f64 = 0, varSum: f64 = 0;
    for (let n = 0; n < N; n++) {
      meanSum += f64At(mean, n * C + c);
      varSum += f64At(variance, n * C + c) * correction;
    }
    f32Put(runningMean, c, <f32>(factor * (meanSum / N) + (1.0 - factor) * <f64>f32At(runningMean, c)));
    f32Put(runningVar, c, <f32>(factor * (varSum / N) + (1.0 - factor) * <f64>f32At(runningVar, c)));
  }
}

/** grad += float32(gradient) for `count` values (autograd accumulates float32 gradients). */
export function accumulateGradients(count: i32, gradient: usize, grad: usize): void {
  for (let i = 0; i < count; i++) f32Put(grad, i, f32At(grad, i) + <f32>f64At(gradient, i));
}
