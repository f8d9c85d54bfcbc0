// LayerNorm and RMSNorm per-row float64 math: statistics per row of D values,
// weight and bias per element of the row. Every array is a pointer the facade sizes.
import { f64At, f64Put, f32Put, inverseStd } from "./numbers";

/** invStd per row from its variance (LayerNorm) or mean of squares (RMSNorm); shift = float32(mean), meanOffset = mean - shift (mean 0 for RMSNorm: pass 0). */
export function rowTrainingCoefficients(R: i32, mean: usize, variance: usize, eps: f64, invStd: usize, meanOffset: usize, shift: usize): void {
  for (let r = 0; r < R; r++) {
    const mu: f64 = mean ? f64At(mean, r) : 0;
    const k = <f32>mu;
    f64Put(invStd, r, inverseStd(f64At(variance, r), eps));
    f64Put(meanOffset, r, mu - <f64>k);
    f32Put(shift, r, k);
  }
}

/**
 * Backward coefficients per row from sumA = sum w dy and sumB = sum w dy (x - shift):
 *   S2 = sumB - meanOffset * sumA; dx = ((dy w) A + (x - mean) B) + C with
 *   A = inv, B = -inv^3 S2 / D, C = -inv sumA / D (C = 0 for RMSNorm, which has no mean).
 */
export function rowGradientCoefficients(R: i32, D: i32, hasMean: bool, invStd: usize, meanOffset: usize, sumA: usize, sumB: usize, coefA: usize, coefB: usize, coefC: usize): void {
  const inverseCount = 1.0 / <f64>D;
  for (let r = 0; r < R; r++) {
    const inv = f64At(invStd, r), a = f64At(sumA, r);
    const s2 = f64At(sumB, r) - f64At(meanOffset, r) * a;
    f64Put(coefA, r, inv);
    f64Put(coefB, r, -inv * inv * inv * s2 * inverseCount);
    f64Put(coefC, r, hasMean ? -inv * a * inverseCount : 0);
  }
}
