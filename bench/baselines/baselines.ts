// Bandwidth baselines for the benchmark: the least work each normalization
// pass must do over the same bytes, as plain f32x4 loops (4 independent
// accumulator chains in the reductions, as the library's kernels have).
// Compiled with --runtime stub: alloc never frees, fine for a bench.

export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** memory.copy of `bytes` bytes. */
export function copy(src: usize, dst: usize, bytes: usize): void {
  memory.copy(dst, src, bytes);
}

/** y = x * a + b over n floats (n a multiple of 16): one read, one write. */
export function stream(x: usize, y: usize, n: i32, a: f32, b: f32): void {
  const av = f32x4.splat(a), bv = f32x4.splat(b);
  for (let i = 0; i < n; i += 16) {
    const p = <usize>i << 2;
    v128.store(y + p, f32x4.add(f32x4.mul(v128.load(x + p), av), bv));
    v128.store(y + p, f32x4.add(f32x4.mul(v128.load(x + p, 16), av), bv), 16);
    v128.store(y + p, f32x4.add(f32x4.mul(v128.load(x + p, 32), av), bv), 32);
    v128.store(y + p, f32x4.add(f32x4.mul(v128.load(x + p, 48), av), bv), 48);
  }
}

/**
 * y = (x - k) * s + t over n floats (n a multiple of 16): the stream with the
 * library's exact affine form (the subtraction first keeps offset data exact).
 */
export function shiftedStream(x: usize, y: usize, n: i32, k: f32, s: f32, t: f32): void {
  const kv = f32x4.splat(k), sv = f32x4.splat(s), tv = f32x4.splat(t);
  for (let i = 0; i < n; i += 16) {
    const p = <usize>i << 2;
    v128.store(y + p, f32x4.add(f32x4.mul(f32x4.sub(v128.load(x + p), kv), sv), tv));
    v128.store(y + p, f32x4.add(f32x4.mul(f32x4.sub(v128.load(x + p, 16), kv), sv), tv), 16);
    v128.store(y + p, f32x4.add(f32x4.mul(f32x4.sub(v128.load(x + p, 32), kv), sv), tv), 32);
    v128.store(y + p, f32x4.add(f32x4.mul(f32x4.sub(v128.load(x + p, 48), kv), sv), tv), 48);
  }
}

/** dx = dy * a + x * b over n floats: two reads, one write. */
export function stream2(x: usize, dy: usize, dx: usize, n: i32, a: f32, b: f32): void {
  const av = f32x4.splat(a), bv = f32x4.splat(b);
  for (let i = 0; i < n; i += 8) {
    const p = <usize>i << 2;
    v128.store(dx + p, f32x4.add(f32x4.mul(v128.load(dy + p), av), f32x4.mul(v128.load(x + p), bv)));
    v128.store(dx + p, f32x4.add(f32x4.mul(v128.load(dy + p, 16), av), f32x4.mul(v128.load(x + p, 16), bv)), 16);
  }
}

/** Sum of n floats: one read. */
export function sum(x: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  for (let i = 0; i < n; i += 16) {
    const p = x + (<usize>i << 2);
    a0 = f32x4.add(a0, v128.load(p));
    a1 = f32x4.add(a1, v128.load(p, 16));
    a2 = f32x4.add(a2, v128.load(p, 32));
    a3 = f32x4.add(a3, v128.load(p, 48));
  }
  const s = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/** Sum of dy and of dy * x over n floats: two reads (backward's reduction). */
export function sum2(x: usize, dy: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0;
  for (let i = 0; i < n; i += 8) {
    const p = <usize>i << 2;
    const g0 = v128.load(dy + p), g1 = v128.load(dy + p, 16);
    a0 = f32x4.add(a0, g0);
    a1 = f32x4.add(a1, g1);
    b0 = f32x4.add(b0, f32x4.mul(g0, v128.load(x + p)));
    b1 = f32x4.add(b1, f32x4.mul(g1, v128.load(x + p, 16)));
  }
  const s = f32x4.add(f32x4.add(a0, a1), f32x4.add(b0, b1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/**
 * Sum and sum of squares of n floats: one read, the least work for a
 * variance without fused multiply-add (which deterministic wasm SIMD lacks).
 */
export function sumSquares(x: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0;
  for (let i = 0; i < n; i += 8) {
    const p = x + (<usize>i << 2);
    const v0 = v128.load(p), v1 = v128.load(p, 16);
    a0 = f32x4.add(a0, v0);
    a1 = f32x4.add(a1, v1);
    b0 = f32x4.add(b0, f32x4.mul(v0, v0));
    b1 = f32x4.add(b1, f32x4.mul(v1, v1));
  }
  const s = f32x4.add(f32x4.add(a0, a1), f32x4.add(b0, b1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/**
 * y = (x - k) * s + t computed in float64 (f64x2 pairs, promoted and demoted):
 * the least work of an affine pass evaluated in float64 over n floats (n a
 * multiple of 8), as the family's row and group kernels do.
 */
export function f64ShiftedStream(x: usize, y: usize, n: i32, k: f64, s: f64, t: f64): void {
  const kv = f64x2.splat(k), sv = f64x2.splat(s), tv = f64x2.splat(t);
  for (let i = 0; i < n; i += 8) {
    const p = <usize>i << 2;
    const v0 = v128.load(x + p), v1 = v128.load(x + p, 16);
    const y0 = f64x2.add(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v0), kv), sv), tv);
    const y1 = f64x2.add(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 2, 3)), kv), sv), tv);
    const y2 = f64x2.add(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v1), kv), sv), tv);
    const y3 = f64x2.add(f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v1, v1, 2, 3, 2, 3)), kv), sv), tv);
    v128.store(y + p, v128.shuffle<f32>(f32x4.demote_f64x2_zero(y0), f32x4.demote_f64x2_zero(y1), 0, 1, 4, 5));
    v128.store(y + p, v128.shuffle<f32>(f32x4.demote_f64x2_zero(y2), f32x4.demote_f64x2_zero(y3), 0, 1, 4, 5), 16);
  }
}

/** Sum and sum of squares of (x - k) over n floats (n a multiple of 8) in float64 pairs: the least work of a float64 statistics pass. */
export function f64SumSquares(x: usize, n: i32, k: f64): f64 {
  const kv = f64x2.splat(k);
  let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (let i = 0; i < n; i += 8) {
    const p = x + (<usize>i << 2);
    const v0 = v128.load(p), v1 = v128.load(p, 16);
    const d0 = f64x2.sub(f64x2.promote_low_f32x4(v0), kv), d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 2, 3)), kv);
    const d2 = f64x2.sub(f64x2.promote_low_f32x4(v1), kv), d3 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v1, v1, 2, 3, 2, 3)), kv);
    a0 = f64x2.add(a0, d0); a1 = f64x2.add(a1, d1); a2 = f64x2.add(a2, d2); a3 = f64x2.add(a3, d3);
    b0 = f64x2.add(b0, f64x2.mul(d0, d0)); b1 = f64x2.add(b1, f64x2.mul(d1, d1));
    b2 = f64x2.add(b2, f64x2.mul(d2, d2)); b3 = f64x2.add(b3, f64x2.mul(d3, d3));
  }
  const s = f64x2.add(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3)), f64x2.add(f64x2.add(b0, b1), f64x2.add(b2, b3)));
  return f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
}

/**
 * Channels-last (R rows of C, C a multiple of 8, R even): y = (x - k[c]) * s[c] + t[c]
 * with rows taken in pairs (r, r + R/2) as the library's loop does, loading the
 * coefficient vectors from their tables once per pair: the least work of the
 * exact form in this layout.
 */
export function pairedRowsLoaded(x: usize, y: usize, R: i32, C: i32, k: usize, s: usize, t: usize): void {
  const rowBytes = <usize>C << 2, apart = <usize>(R >> 1) * rowBytes;
  for (let r = 0; r < R >> 1; r++) {
    const p = x + <usize>r * rowBytes, q = y + <usize>r * rowBytes;
    for (let c: usize = 0; c < rowBytes; c += 32) {
      const k0 = v128.load(k + c), s0 = v128.load(s + c), t0 = v128.load(t + c);
      const k1 = v128.load(k + c, 16), s1 = v128.load(s + c, 16), t1 = v128.load(t + c, 16);
      v128.store(q + c, f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + c), k0), s0), t0));
      v128.store(q + c, f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + c, 16), k1), s1), t1), 16);
      v128.store(q + apart + c, f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + apart + c), k0), s0), t0));
      v128.store(q + apart + c, f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + apart + c, 16), k1), s1), t1), 16);
    }
  }
}

/** The same loop with one coefficient triple held in registers: what the coefficient loads cost. */
export function pairedRowsHeld(x: usize, y: usize, R: i32, C: i32, k: f32, s: f32, t: f32): void {
  const rowBytes = <usize>C << 2, apart = <usize>(R >> 1) * rowBytes;
  const kv = f32x4.splat(k), sv = f32x4.splat(s), tv = f32x4.splat(t);
  for (let r = 0; r < R >> 1; r++) {
    const p = x + <usize>r * rowBytes, q = y + <usize>r * rowBytes;
    for (let c: usize = 0; c < rowBytes; c += 32) {
      v128.store(q + c, f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + c), kv), sv), tv));
      v128.store(q + c, f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + c, 16), kv), sv), tv), 16);
      v128.store(q + apart + c, f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + apart + c), kv), sv), tv));
      v128.store(q + apart + c, f32x4.add(f32x4.mul(f32x4.sub(v128.load(p + apart + c, 16), kv), sv), tv), 16);
    }
  }
}
