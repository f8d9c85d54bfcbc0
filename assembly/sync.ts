// Kernels for statistics that come from elsewhere: synchronized BN (statistics
// merged over workers), batch renormalization (r, d corrections) and ghost
// batches (a sub-range of the batch). Each works on BatchNorm's (N, C, S)
// channels-first or (N, S, C) channels-last float32 data with per-channel
// float64 arrays the facade fills; sample ranges are pointer offsets.
// Plain scalar float64 code, the same in both builds (so both give the same bits):
// every element is computed in float64 and rounded once to float32.
import { canonicalF32, canonicalF64 } from "./numbers";

@inline function at64(base: usize, c: i32): f64 { return load<f64>(base + (<usize>c << 3)); }
@inline function put64(base: usize, c: i32, v: f64): void { store<f64>(base + (<usize>c << 3), canonicalF64(v)); }
@inline function at32(base: usize, i: usize): f64 { return <f64>load<f32>(base + (i << 2)); }
@inline function put32(base: usize, i: usize, v: f64): void { store<f32>(base + (i << 2), canonicalF32(<f32>v)); }

/**
 * Exact per-channel moments in two float64 passes: mean[c] = sum x / m and
 * m2[c] = sum (x - mean)^2, m = N * S values per channel (m > 0).
 */
export function channelMoments(x: usize, N: i32, C: i32, S: i32, channelsLast: bool, mean: usize, m2: usize): void {
  const m = <f64>N * <f64>S;
  for (let c = 0; c < C; c++) { put64(mean, c, 0); put64(m2, c, 0); }
  if (channelsLast) {
    const rows = <usize>N * <usize>S;
    for (let r: usize = 0; r < rows; r++) {
      const base = r * <usize>C;
      for (let c = 0; c < C; c++) store<f64>(mean + (<usize>c << 3), at64(mean, c) + at32(x, base + <usize>c));
    }
    for (let c = 0; c < C; c++) put64(mean, c, at64(mean, c) / m);
    for (let r: usize = 0; r < rows; r++) {
      const base = r * <usize>C;
      for (let c = 0; c < C; c++) {
        const d = at32(x, base + <usize>c) - at64(mean, c);
        store<f64>(m2 + (<usize>c << 3), at64(m2, c) + d * d);
      }
    }
  } else {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const base = (<usize>n * <usize>C + <usize>c) * <usize>S;
        let s: f64 = 0;
        for (let i: usize = 0; i < <usize>S; i++) s += at32(x, base + i);
        store<f64>(mean + (<usize>c << 3), at64(mean, c) + s);
      }
    }
    for (let c = 0; c < C; c++) put64(mean, c, at64(mean, c) / m);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const base = (<usize>n * <usize>C + <usize>c) * <usize>S;
        const mu = at64(mean, c);
        let s: f64 = 0;
        for (let i: usize = 0; i < <usize>S; i++) {
          const d = at32(x, base + i) - mu;
          s += d * d;
        }
        store<f64>(m2 + (<usize>c << 3), at64(m2, c) + s);
      }
    }
  }
  for (let c = 0; c < C; c++) put64(m2, c, at64(m2, c));
}

/** y = (x - mean[c]) * scale[c] + shift[c] in float64, rounded once. y may be x. */
export function normalizeChannels(x: usize, y: usize, N: i32, C: i32, S: i32, channelsLast: bool, mean: usize, scale: usize, shift: usize): void {
  if (channelsLast) {
    const rows = <usize>N * <usize>S;
    for (let r: usize = 0; r < rows; r++) {
      const base = r * <usize>C;
      for (let c = 0; c < C; c++) {
        const i = base + <usize>c;
        put32(y, i, (at32(x, i) - at64(mean, c)) * at64(scale, c) + at64(shift, c));
      }
    }
  } else {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const base = (<usize>n * <usize>C + <usize>c) * <usize>S;
        const mu = at64(mean, c), a = at64(scale, c), t = at64(shift, c);
        for (let i: usize = 0; i < <usize>S; i++) put32(y, base + i, (at32(x, base + i) - mu) * a + t);
      }
    }
  }
}

/**
 * The backward's two per-channel sums, added to sumDy[c] and sumDyXhat[c]:
 * sum dy and sum dy * (x - mean[c]) * invStd[c] (float64).
 */
export function gradientSums(x: usize, dy: usize, N: i32, C: i32, S: i32, channelsLast: bool, mean: usize, invStd: usize, sumDy: usize, sumDyXhat: usize): void {
  if (channelsLast) {
    const rows = <usize>N * <usize>S;
    for (let r: usize = 0; r < rows; r++) {
      const base = r * <usize>C;
      for (let c = 0; c < C; c++) {
        const i = base + <usize>c;
        const g = at32(dy, i);
        store<f64>(sumDy + (<usize>c << 3), at64(sumDy, c) + g);
        store<f64>(sumDyXhat + (<usize>c << 3), at64(sumDyXhat, c) + g * (at32(x, i) - at64(mean, c)));
      }
    }
    for (let c = 0; c < C; c++) put64(sumDyXhat, c, at64(sumDyXhat, c) * at64(invStd, c));
  } else {
    // Per (n, c) run: sums of the run, then added to the channel, so the order is fixed by (n, c).
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const base = (<usize>n * <usize>C + <usize>c) * <usize>S;
        const mu = at64(mean, c);
        let a: f64 = 0, b: f64 = 0;
        for (let i: usize = 0; i < <usize>S; i++) {
          const g = at32(dy, base + i);
          a += g;
          b += g * (at32(x, base + i) - mu);
        }
        store<f64>(sumDy + (<usize>c << 3), at64(sumDy, c) + a);
        store<f64>(sumDyXhat + (<usize>c << 3), at64(sumDyXhat, c) + b * at64(invStd, c));
      }
    }
  }
  for (let c = 0; c < C; c++) { put64(sumDy, c, at64(sumDy, c)); put64(sumDyXhat, c, at64(sumDyXhat, c)); }
}

/** dx = (dy * A[c] + (x - mean[c]) * B[c]) + K[c] in float64, rounded once. dx may be dy. */
export function gradientChannels(x: usize, dy: usize, dx: usize, N: i32, C: i32, S: i32, channelsLast: bool, mean: usize, coefA: usize, coefB: usize, coefC: usize): void {
  if (channelsLast) {
    const rows = <usize>N * <usize>S;
    for (let r: usize = 0; r < rows; r++) {
      const base = r * <usize>C;
      for (let c = 0; c < C; c++) {
        const i = base + <usize>c;
        put32(dx, i, (at32(dy, i) * at64(coefA, c) + (at32(x, i) - at64(mean, c)) * at64(coefB, c)) + at64(coefC, c));
      }
    }
  } else {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const base = (<usize>n * <usize>C + <usize>c) * <usize>S;
        const mu = at64(mean, c), a = at64(coefA, c), b = at64(coefB, c), k = at64(coefC, c);
        for (let i: usize = 0; i < <usize>S; i++) put32(dx, base + i, (at32(dy, base + i) * a + (at32(x, base + i) - mu) * b) + k);
      }
    }
  }
}
