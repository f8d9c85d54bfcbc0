// Element-wise per-channel passes. Every element is computed by the same
// operations in the same order in both builds, so their bits agree. NaN outputs
// that an operation creates (Inf * 0, Inf - Inf) differ in sign between
// engines, so every channel whose coefficients allow one (a non-finite
// coefficient, or a zero scale times an infinite input) has its outputs
// canonicalized after the pass; elsewhere a NaN output can only be a NaN input
// carried through, whose bits every engine keeps. (Selecting per element
// measured 60% slower on the eval stream; summing outputs to detect NaN, 36%.)
//   affine (inference, float32):   y  = (x - shift[c]) * scale[c] + offset[c]
//   training, float64, rounded once:
//                           y  = (x - mean[c]) * coefA[c] + coefC[c]
//                           dx = (dy * coefA[c] + (x - mean[c]) * coefB[c]) + coefC[c]
// The training passes widen to float64 so that each output is the float32
// rounding of a nearly exact value: three float32 roundings (or torch's fused
// multiply-add) measured up to 1.5 ulp, above PyTorch's own error, and float32
// coefficients overflow where the variance is tiny and eps 0.
// Channels-first (N, C, S): a run of S contiguous elements per (n, c).
// Channels-last (R rows of C).
// Input and output may be the same tensor (each element is read before it is written).
import { canonicalF32, f64At } from "./numbers";

// Channels-last passes take rows in pairs, row r with row r + R/2: two
// sequential streams share each load of a channel vector's coefficients.
// Grouping adjacent rows instead measured 2-3x slower once the tensor no longer
// fits in the cache (the interleaved accesses defeat the hardware prefetcher).

/** Two f64x2 halves rounded to one f32x4 (lanes low.0, low.1, high.0, high.1). */
@inline function demotePair(low: v128, high: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(low), f32x4.demote_f64x2_zero(high), 0, 1, 4, 5);
}

@inline function isFiniteF32(v: f32): bool { return v - v == 0; }
@inline function isFiniteF64(v: f64): bool { return v - v == 0; }

/** A float32 channel (y = (x - k) * s + t) can create a NaN: a non-finite coefficient, or s = 0 (Inf * 0). */
@inline export function mayCreateNaN(k: f32, s: f32, t: f32): bool {
  return !(isFiniteF32(k) && isFiniteF32(s) && isFiniteF32(t)) || s == 0;
}

/** The same for a float64 training channel with coefficients m, a, b, t. */
@inline export function mayCreateNaN64(m: f64, a: f64, b: f64, t: f64): bool {
  return !(isFiniteF64(m) && isFiniteF64(a) && isFiniteF64(b) && isFiniteF64(t)) || a == 0;
}

function anyMayCreateNaN(C: i32, shift: usize, scale: usize, offset: usize): bool {
  for (let c = 0; c < C; c++) {
    const cb = <usize>c << 2;
    if (mayCreateNaN(load<f32>(shift + cb), load<f32>(scale + cb), load<f32>(offset + cb))) return true;
  }
  return false;
}

/** coefB may be 0 (none). */
function anyMayCreateNaN64(C: i32, mean: usize, coefA: usize, coefB: usize, coefC: usize): bool {
  for (let c = 0; c < C; c++) {
    const cb = <usize>c << 3;
    if (mayCreateNaN64(load<f64>(mean + cb), load<f64>(coefA + cb), coefB ? load<f64>(coefB + cb) : 0, load<f64>(coefC + cb))) return true;
  }
  return false;
}

/** Whether any of `count` float32 values at `ptr` (0: none) is NaN or infinite. */
function anyNotFinite(ptr: usize, count: i32): bool {
  if (ptr == 0) return false;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // v - v is 0 for finite lanes and NaN otherwise; the answer does not depend on the build.
    let bad = i32x4.splat(0);
    for (; i + 4 <= count; i += 4) {
      const v = v128.load(ptr + (<usize>i << 2));
      const z = f32x4.sub(v, v);
      bad = v128.or(bad, f32x4.ne(z, z));
    }
    if (v128.any_true(bad)) return true;
  }
  for (; i < count; i++) if (!isFiniteF32(load<f32>(ptr + (<usize>i << 2)))) return true;
  return false;
}

/** Replaces every NaN among `count` float32 values at `ptr` by the canonical NaN. */
function canonicalizeRun(ptr: usize, count: usize): void {
  for (let i: usize = 0; i < count; i++) {
    const p = ptr + (i << 2);
    store<f32>(p, canonicalF32(load<f32>(p)));
  }
}



@inline function lowHalf(v: v128): v128 { return f64x2.promote_low_f32x4(v); }
@inline function highHalf(v: v128): v128 { return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)); }

// ---------------------------------------------------------------- inference (float32)


@inline function affineVector(v: v128, k: v128, s: v128, t: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.sub(v, k), s), t);
}

@inline
function affineChannelsFirst(x: usize, y: usize, N: i32, C: i32, S: i32, shift: usize, scale: usize, offset: usize): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const cb = <usize>c << 2;
      const k = load<f32>(shift + cb), s = load<f32>(scale + cb), t = load<f32>(offset + cb);
      const runByte = ((<usize>n * C + c) * S) << 2;
      const px = x + runByte, py = y + runByte;
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        const kv = f32x4.splat(k), sv = f32x4.splat(s), tv = f32x4.splat(t);
        for (; i + 8 <= S; i += 8) {
          const p = px + (<usize>i << 2), q = py + (<usize>i << 2);
          const y0 = affineVector(v128.load(p), kv, sv, tv), y1 = affineVector(v128.load(p, 16), kv, sv, tv);
          v128.store(q, y0);
          v128.store(q, y1, 16);
        }
        if (i + 4 <= S) {
          const y0 = affineVector(v128.load(px + (<usize>i << 2)), kv, sv, tv);
          v128.store(py + (<usize>i << 2), y0);
          i += 4;
        }
      }
      for (; i < S; i++) {
        const b = <usize>i << 2;
        const v = (load<f32>(px + b) - k) * s + t;
        store<f32>(py + b, v);
      }
      if (mayCreateNaN(k, s, t)) canonicalizeRun(py, <usize>S);
    }
  }
}

@inline
function affineChannelsLast(x: usize, y: usize, R: i32, C: i32, shift: usize, scale: usize, offset: usize, canonicalize: bool): void {
  const rowBytes = <usize>C << 2;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    const half = R >> 1, apart = <usize>half * rowBytes, vectorBytes = <usize>(C & ~3) << 2;
    for (; r < half; r++) {
      const p = x + <usize>r * rowBytes, q = y + <usize>r * rowBytes;
      let cb: usize = 0;
      for (; cb + 32 <= vectorBytes; cb += 32) {
        const k0 = v128.load(shift + cb), s0 = v128.load(scale + cb), t0 = v128.load(offset + cb);
        const k1 = v128.load(shift + cb, 16), s1 = v128.load(scale + cb, 16), t1 = v128.load(offset + cb, 16);
        const a0 = affineVector(v128.load(p + cb), k0, s0, t0), a1 = affineVector(v128.load(p + cb, 16), k1, s1, t1);
        const b0 = affineVector(v128.load(p + apart + cb), k0, s0, t0), b1 = affineVector(v128.load(p + apart + cb, 16), k1, s1, t1);
        v128.store(q + cb, a0);
        v128.store(q + cb, a1, 16);
        v128.store(q + apart + cb, b0);
        v128.store(q + apart + cb, b1, 16);
      }
      if (cb < vectorBytes) {
        const k0 = v128.load(shift + cb), s0 = v128.load(scale + cb), t0 = v128.load(offset + cb);
        const a0 = affineVector(v128.load(p + cb), k0, s0, t0), b0 = affineVector(v128.load(p + apart + cb), k0, s0, t0);
        v128.store(q + cb, a0);
        v128.store(q + apart + cb, b0);
        cb += 16;
      }
      for (; cb < rowBytes; cb += 4) {
        const k = load<f32>(shift + cb), s = load<f32>(scale + cb), t = load<f32>(offset + cb);
        const a = (load<f32>(p + cb) - k) * s + t, b = (load<f32>(p + apart + cb) - k) * s + t;
        store<f32>(q + cb, a);
        store<f32>(q + apart + cb, b);
      }
    }
    r = half << 1;
  }
  for (; r < R; r++) {
    const base = <usize>r * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2;
        const y0 = affineVector(v128.load(x + base + cb), v128.load(shift + cb), v128.load(scale + cb), v128.load(offset + cb));
        v128.store(y + base + cb, y0);
      }
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2;
      const v = (load<f32>(x + base + cb) - load<f32>(shift + cb)) * load<f32>(scale + cb) + load<f32>(offset + cb);
      store<f32>(y + base + cb, v);
    }
  }
  if (canonicalize) canonicalizeRun(y, <usize>R * C);
}

// ---------------------------------------------------------------- training (float64)



/** (x - m) * a + t for the four lanes of v, rounded once to float32. */
@inline function trainingAffineVector(v: v128, m: v128, a: v128, t: v128): v128 {
  return demotePair(f64x2.add(f64x2.mul(f64x2.sub(lowHalf(v), m), a), t), f64x2.add(f64x2.mul(f64x2.sub(highHalf(v), m), a), t));
}

@inline
function trainingAffineChannelsFirst(x: usize, y: usize, N: i32, C: i32, S: i32, mean: usize, coefA: usize, coefC: usize): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const m = f64At(mean, c), a = f64At(coefA, c), t = f64At(coefC, c);
      const runByte = ((<usize>n * C + c) * S) << 2;
      const px = x + runByte, py = y + runByte;
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        const mv = f64x2.splat(m), av = f64x2.splat(a), tv = f64x2.splat(t);
        for (; i + 8 <= S; i += 8) {
          const p = px + (<usize>i << 2), q = py + (<usize>i << 2);
          const y0 = trainingAffineVector(v128.load(p), mv, av, tv), y1 = trainingAffineVector(v128.load(p, 16), mv, av, tv);
          v128.store(q, y0);
          v128.store(q, y1, 16);
        }
        if (i + 4 <= S) {
          const y0 = trainingAffineVector(v128.load(px + (<usize>i << 2)), mv, av, tv);
          v128.store(py + (<usize>i << 2), y0);
          i += 4;
        }
      }
      for (; i < S; i++) {
        const b = <usize>i << 2;
        const v = <f32>((<f64>load<f32>(px + b) - m) * a + t);
        store<f32>(py + b, v);
      }
      if (mayCreateNaN64(m, a, 0, t)) canonicalizeRun(py, <usize>S);
    }
  }
}

@inline
function trainingAffineChannelsLast(x: usize, y: usize, R: i32, C: i32, mean: usize, coefA: usize, coefC: usize, canonicalize: bool): void {
  const rowBytes = <usize>C << 2;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    const half = R >> 1, apart = <usize>half * rowBytes;
    for (; r < half; r++) {
      const p = x + <usize>r * rowBytes, q = y + <usize>r * rowBytes;
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2, c8 = <usize>c << 3;
        const m0 = v128.load(mean + c8), m1 = v128.load(mean + c8, 16), a0 = v128.load(coefA + c8), a1 = v128.load(coefA + c8, 16);
        const t0 = v128.load(coefC + c8), t1 = v128.load(coefC + c8, 16);
        const u = v128.load(p + cb), v = v128.load(p + apart + cb);
        const yu = demotePair(f64x2.add(f64x2.mul(f64x2.sub(lowHalf(u), m0), a0), t0), f64x2.add(f64x2.mul(f64x2.sub(highHalf(u), m1), a1), t1));
        const yv = demotePair(f64x2.add(f64x2.mul(f64x2.sub(lowHalf(v), m0), a0), t0), f64x2.add(f64x2.mul(f64x2.sub(highHalf(v), m1), a1), t1));
        v128.store(q + cb, yu);
        v128.store(q + apart + cb, yv);
      }
      for (; c < C; c++) {
        const cb = <usize>c << 2;
        const m = f64At(mean, c), a = f64At(coefA, c), t = f64At(coefC, c);
        const yu = <f32>((<f64>load<f32>(p + cb) - m) * a + t), yv = <f32>((<f64>load<f32>(p + apart + cb) - m) * a + t);
        store<f32>(q + cb, yu);
        store<f32>(q + apart + cb, yv);
      }
    }
    r = half << 1;
  }
  for (; r < R; r++) {
    const base = <usize>r * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2, c8 = <usize>c << 3;
        const v = v128.load(x + base + cb);
        const y0 = demotePair(
          f64x2.add(f64x2.mul(f64x2.sub(lowHalf(v), v128.load(mean + c8)), v128.load(coefA + c8)), v128.load(coefC + c8)),
          f64x2.add(f64x2.mul(f64x2.sub(highHalf(v), v128.load(mean + c8, 16)), v128.load(coefA + c8, 16)), v128.load(coefC + c8, 16)));
        v128.store(y + base + cb, y0);
      }
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2;
      const v = <f32>((<f64>load<f32>(x + base + cb) - f64At(mean, c)) * f64At(coefA, c) + f64At(coefC, c));
      store<f32>(y + base + cb, v);
    }
  }
  if (canonicalize) canonicalizeRun(y, <usize>R * C);
}

@inline function trainingGradientScalar(x: f32, g: f32, m: f64, a: f64, b: f64, t: f64): f32 {
  return <f32>((<f64>g * a + (<f64>x - m) * b) + t);
}

@inline function trainingGradientPair(x: v128, g: v128, m: v128, a: v128, b: v128, t: v128): v128 {
  return f64x2.add(f64x2.add(f64x2.mul(g, a), f64x2.mul(f64x2.sub(x, m), b)), t);
}

@inline
function trainingGradientChannelsFirst(x: usize, dy: usize, dx: usize, N: i32, C: i32, S: i32, mean: usize, coefA: usize, coefB: usize, coefC: usize): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const m = f64At(mean, c), a = f64At(coefA, c), b = f64At(coefB, c), t = f64At(coefC, c);
      const runByte = ((<usize>n * C + c) * S) << 2;
      const px = x + runByte, pg = dy + runByte, pd = dx + runByte;
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        const mv = f64x2.splat(m), av = f64x2.splat(a), bv = f64x2.splat(b), tv = f64x2.splat(t);
        for (; i + 4 <= S; i += 4) {
          const e = <usize>i << 2;
          const xv = v128.load(px + e), gv = v128.load(pg + e);
          const d0 = demotePair(trainingGradientPair(lowHalf(xv), lowHalf(gv), mv, av, bv, tv), trainingGradientPair(highHalf(xv), highHalf(gv), mv, av, bv, tv));
          v128.store(pd + e, d0);
        }
      }
      for (; i < S; i++) {
        const e = <usize>i << 2;
        const v = trainingGradientScalar(load<f32>(px + e), load<f32>(pg + e), m, a, b, t);
        store<f32>(pd + e, v);
      }
      if (mayCreateNaN64(m, a, b, t)) canonicalizeRun(pd, <usize>S);
    }
  }
}

@inline
function trainingGradientChannelsLast(x: usize, dy: usize, dx: usize, R: i32, C: i32, mean: usize, coefA: usize, coefB: usize, coefC: usize, canonicalize: bool): void {
  const rowBytes = <usize>C << 2;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    const half = R >> 1, apart = <usize>half * rowBytes;
    for (; r < half; r++) {
      const base = <usize>r * rowBytes;
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2, c8 = <usize>c << 3, e = base + cb, f = e + apart;
        const m0 = v128.load(mean + c8), m1 = v128.load(mean + c8, 16), a0 = v128.load(coefA + c8), a1 = v128.load(coefA + c8, 16);
        const b0 = v128.load(coefB + c8), b1 = v128.load(coefB + c8, 16), t0 = v128.load(coefC + c8), t1 = v128.load(coefC + c8, 16);
        const xu = v128.load(x + e), gu = v128.load(dy + e), xv = v128.load(x + f), gv = v128.load(dy + f);
        const du = demotePair(trainingGradientPair(lowHalf(xu), lowHalf(gu), m0, a0, b0, t0), trainingGradientPair(highHalf(xu), highHalf(gu), m1, a1, b1, t1));
        const dv = demotePair(trainingGradientPair(lowHalf(xv), lowHalf(gv), m0, a0, b0, t0), trainingGradientPair(highHalf(xv), highHalf(gv), m1, a1, b1, t1));
        v128.store(dx + e, du);
        v128.store(dx + f, dv);
      }
      for (; c < C; c++) {
        const cb = <usize>c << 2, e = base + cb, f = e + apart;
        const m = f64At(mean, c), a = f64At(coefA, c), b = f64At(coefB, c), t = f64At(coefC, c);
        const du = trainingGradientScalar(load<f32>(x + e), load<f32>(dy + e), m, a, b, t), dv = trainingGradientScalar(load<f32>(x + f), load<f32>(dy + f), m, a, b, t);
        store<f32>(dx + e, du);
        store<f32>(dx + f, dv);
      }
    }
    r = half << 1;
  }
  for (; r < R; r++) {
    const base = <usize>r * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2, c8 = <usize>c << 3, e = base + cb;
        const xv = v128.load(x + e), gv = v128.load(dy + e);
        const d0 = demotePair(
          trainingGradientPair(lowHalf(xv), lowHalf(gv), v128.load(mean + c8), v128.load(coefA + c8), v128.load(coefB + c8), v128.load(coefC + c8)),
          trainingGradientPair(highHalf(xv), highHalf(gv), v128.load(mean + c8, 16), v128.load(coefA + c8, 16), v128.load(coefB + c8, 16), v128.load(coefC + c8, 16)));
        v128.store(dx + e, d0);
      }
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2, e = base + cb;
      const v = trainingGradientScalar(load<f32>(x + e), load<f32>(dy + e), f64At(mean, c), f64At(coefA, c), f64At(coefB, c), f64At(coefC, c));
      store<f32>(dx + e, v);
    }
  }
  if (canonicalize) canonicalizeRun(dx, <usize>R * C);
}

// ---------------------------------------------------------------- index-space entry points
// Runs: P runs of B contiguous elements, run p at x + p*B*4 bytes, coefficients
// of run p at index p % period (BatchNorm channels-first: P = N*C, period C;
// GroupNorm and InstanceNorm: period N*C). Lanes: `batches` batches of R rows of
// C lanes, coefficients of batch b at index b*coefBatchStride + lane.

export function affineRuns(x: usize, y: usize, P: i32, B: i32, period: i32, shift: usize, scale: usize, offset: usize): void {
  affineChannelsFirst(x, y, P / period, period, B, shift, scale, offset);
}

/**
 * `nanCheck`: whether the coefficients can create a NaN (then outputs are
 * canonicalized): 1 yes, 0 no (the caller knows, e.g. from a cached flag), -1
 * scan them (O(C) per batch: costly when rows are few).
 */
export function affineLanes(x: usize, y: usize, batches: i32, R: i32, C: i32, coefBatchStride: i32, shift: usize, scale: usize, offset: usize, nanCheck: i32): void {
  for (let b = 0; b < batches; b++) {
    const data = (<usize>b * R * C) << 2, coef = (<usize>b * coefBatchStride) << 2;
    const canonicalize = nanCheck < 0 ? anyMayCreateNaN(C, shift + coef, scale + coef, offset + coef) : nanCheck > 0;
    affineChannelsLast(x + data, y + data, R, C, shift + coef, scale + coef, offset + coef, canonicalize);
  }
}

export function trainingAffineRuns(x: usize, y: usize, P: i32, B: i32, period: i32, mean: usize, coefA: usize, coefC: usize): void {
  trainingAffineChannelsFirst(x, y, P / period, period, B, mean, coefA, coefC);
}

export function trainingAffineLanes(x: usize, y: usize, batches: i32, R: i32, C: i32, coefBatchStride: i32, mean: usize, coefA: usize, coefC: usize, nanCheck: i32): void {
  for (let b = 0; b < batches; b++) {
    const data = (<usize>b * R * C) << 2, coef = (<usize>b * coefBatchStride) << 3;
    const canonicalize = nanCheck < 0 ? anyMayCreateNaN64(C, mean + coef, coefA + coef, 0, coefC + coef) : nanCheck > 0;
    trainingAffineChannelsLast(x + data, y + data, R, C, mean + coef, coefA + coef, coefC + coef, canonicalize);
  }
}

export function trainingGradientRuns(x: usize, dy: usize, dx: usize, P: i32, B: i32, period: i32, mean: usize, coefA: usize, coefB: usize, coefC: usize): void {
  trainingGradientChannelsFirst(x, dy, dx, P / period, period, B, mean, coefA, coefB, coefC);
}

export function trainingGradientLanes(x: usize, dy: usize, dx: usize, batches: i32, R: i32, C: i32, coefBatchStride: i32, mean: usize, coefA: usize, coefB: usize, coefC: usize, nanCheck: i32): void {
  for (let b = 0; b < batches; b++) {
    const data = (<usize>b * R * C) << 2, coef = (<usize>b * coefBatchStride) << 3;
    const canonicalize = nanCheck < 0 ? anyMayCreateNaN64(C, mean + coef, coefA + coef, coefB + coef, coefC + coef) : nanCheck > 0;
    trainingGradientChannelsLast(x + data, dy + data, dx + data, R, C, mean + coef, coefA + coef, coefB + coef, coefC + coef, canonicalize);
  }
}

// ---------------------------------------------------------------- rows (LayerNorm, RMSNorm)
// R rows of D contiguous elements; statistics per row (rowMean may be 0 for
// none: RMSNorm), weight and bias per element of the row (0 for none).

/** y = ((x - rowMean[r]) * rowInv[r]) * weight[j] + bias[j], in float64, rounded once. */
export function rowsAffine(x: usize, y: usize, R: i32, D: i32, rowMean: usize, rowInv: usize, weight: usize, bias: usize): void {
  const rowBytes = <usize>D << 2;
  const risky = anyNotFinite(weight, D) || anyNotFinite(bias, D);
  for (let r = 0; r < R; r++) {
    const m: f64 = rowMean ? f64At(rowMean, r) : 0, v = f64At(rowInv, r);
    const px = x + <usize>r * rowBytes, py = y + <usize>r * rowBytes;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const mv = f64x2.splat(m), vv = f64x2.splat(v), one = f64x2.splat(1), zero = f64x2.splat(0);
      for (; j + 4 <= D; j += 4) {
        const jb = <usize>j << 2;
        const xv = v128.load(px + jb);
        let w0 = one, w1 = one, b0 = zero, b1 = zero;
        if (weight) { const wv = v128.load(weight + jb); w0 = lowHalf(wv); w1 = highHalf(wv); }
        if (bias) { const bv = v128.load(bias + jb); b0 = lowHalf(bv); b1 = highHalf(bv); }
        const y0 = f64x2.add(f64x2.mul(f64x2.mul(f64x2.sub(lowHalf(xv), mv), vv), w0), b0);
        const y1 = f64x2.add(f64x2.mul(f64x2.mul(f64x2.sub(highHalf(xv), mv), vv), w1), b1);
        v128.store(py + jb, demotePair(y0, y1));
      }
    }
    for (; j < D; j++) {
      const jb = <usize>j << 2;
      const w: f64 = weight ? <f64>load<f32>(weight + jb) : 1.0, b: f64 = bias ? <f64>load<f32>(bias + jb) : 0.0;
      store<f32>(py + jb, <f32>(((<f64>load<f32>(px + jb) - m) * v) * w + b));
    }
    if (risky || !(isFiniteF64(m) && isFiniteF64(v))) canonicalizeRun(py, <usize>D);
  }
}

/** dx = ((dy * weight[j]) * rowA[r] + (x - rowMean[r]) * rowB[r]) + rowC[r], in float64, rounded once. */
export function rowsGradient(x: usize, dy: usize, dx: usize, R: i32, D: i32, rowMean: usize, rowA: usize, rowB: usize, rowC: usize, weight: usize): void {
  const rowBytes = <usize>D << 2;
  const risky = anyNotFinite(weight, D);
  for (let r = 0; r < R; r++) {
    const m: f64 = rowMean ? f64At(rowMean, r) : 0, a = f64At(rowA, r), b = f64At(rowB, r), t = f64At(rowC, r);
    const px = x + <usize>r * rowBytes, pg = dy + <usize>r * rowBytes, pd = dx + <usize>r * rowBytes;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const mv = f64x2.splat(m), av = f64x2.splat(a), bv = f64x2.splat(b), tv = f64x2.splat(t);
      for (; j + 4 <= D; j += 4) {
        const jb = <usize>j << 2;
        const xv = v128.load(px + jb), gv = v128.load(pg + jb);
        let g0 = lowHalf(gv), g1 = highHalf(gv);
        if (weight) { const wv = v128.load(weight + jb); g0 = f64x2.mul(g0, lowHalf(wv)); g1 = f64x2.mul(g1, highHalf(wv)); }
        const d0 = f64x2.add(f64x2.add(f64x2.mul(g0, av), f64x2.mul(f64x2.sub(lowHalf(xv), mv), bv)), tv);
        const d1 = f64x2.add(f64x2.add(f64x2.mul(g1, av), f64x2.mul(f64x2.sub(highHalf(xv), mv), bv)), tv);
        v128.store(pd + jb, demotePair(d0, d1));
      }
    }
    for (; j < D; j++) {
      const jb = <usize>j << 2;
      const g = <f64>load<f32>(pg + jb) * (weight ? <f64>load<f32>(weight + jb) : 1.0);
      store<f32>(pd + jb, <f32>((g * a + (<f64>load<f32>(px + jb) - m) * b) + t));
    }
    if (risky || mayCreateNaN64(m, a, b, t)) canonicalizeRun(pd, <usize>D);
  }
}
