// Per-channel reductions. Both compute, for every channel c with d = x - shift[c]:
//   without dy:  sumA[c] = sum d,   sumB[c] = sum d*d       (batch statistics)
//   with dy:     sumA[c] = sum dy,  sumB[c] = sum dy*d      (backward)
// Partial sums are kept in float32 lanes for at most a block of values, then
// folded into float64, so the error stays near float32 rounding of one block.
// The scalar build emulates the SIMD build's lanes and fold order exactly, so
// both builds produce the same bits. Sizes are in elements unless named *Bytes.

// Channels-first: elements a lane group takes before a fold into float64.
const RUN_BLOCK: i32 = 256;
// Channels-last: rows summed in float32 before a fold into float64. 16 keeps
// channels-last as accurate as channels-first (64 measured 5x larger y error
// on offset-1e4 data).
const ROW_BLOCK: i32 = 16;

// Scalar build: emulated SIMD lanes (16 per sum; static scratch, not an allocation).
const LANES_A = memory.data(64, 16);
const LANES_B = memory.data(64, 16);

/**
 * Channels-first data (N, C, S): x[n][c][s] at x + ((n*C + c)*S + s)*4 bytes.
 * Channel c is the N runs x[n][c][0..S), reduced in order n = 0..N-1, in
 * chunks of at most RUN_BLOCK elements. Lane layout per chunk: groups of 16
 * elements go to lanes 0-15 (four f32x4 accumulators, four dependency chains);
 * remaining groups of 4 go to lanes 0-3; the last S mod 4 elements go to a
 * scalar tail. A fold adds lanes j, 4+j, 8+j, 12+j in float32 as
 * (l[j] + l[4+j]) + (l[8+j] + l[12+j]), then the four results in float64 as
 * (r0 + r2) + (r1 + r3), then the tail.
 */
@inline
function reduceChannelsFirstImpl(
  x: usize, dy: usize, useDy: bool, N: i32, C: i32, S: i32,
  shift: usize, sumA: usize, sumB: usize,
): void {
  for (let c = 0; c < C; c++) {
    const k = load<f32>(shift + (<usize>c << 2));
    let totalA: f64 = 0, totalB: f64 = 0;
    let pending = 0;
    if (ASC_FEATURE_SIMD) {
      const kv = f32x4.splat(k);
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      let tailA: f32 = 0, tailB: f32 = 0;
      for (let n = 0; n < N; n++) {
        const run = x + (((<usize>n * C + c) * S) << 2);
        const runDy = dy + (((<usize>n * C + c) * S) << 2);
        let i = 0;
        while (i < S) {
          const end = min(S, i + RUN_BLOCK);
          pending += end - i;
          for (; i + 16 <= end; i += 16) {
            const p = run + (<usize>i << 2);
            const d0 = f32x4.sub(v128.load(p), kv), d1 = f32x4.sub(v128.load(p, 16), kv);
            const d2 = f32x4.sub(v128.load(p, 32), kv), d3 = f32x4.sub(v128.load(p, 48), kv);
            if (useDy) {
              const q = runDy + (<usize>i << 2);
              const g0 = v128.load(q), g1 = v128.load(q, 16), g2 = v128.load(q, 32), g3 = v128.load(q, 48);
              a0 = f32x4.add(a0, g0); a1 = f32x4.add(a1, g1); a2 = f32x4.add(a2, g2); a3 = f32x4.add(a3, g3);
              b0 = f32x4.add(b0, f32x4.mul(g0, d0)); b1 = f32x4.add(b1, f32x4.mul(g1, d1));
              b2 = f32x4.add(b2, f32x4.mul(g2, d2)); b3 = f32x4.add(b3, f32x4.mul(g3, d3));
            } else {
              a0 = f32x4.add(a0, d0); a1 = f32x4.add(a1, d1); a2 = f32x4.add(a2, d2); a3 = f32x4.add(a3, d3);
              b0 = f32x4.add(b0, f32x4.mul(d0, d0)); b1 = f32x4.add(b1, f32x4.mul(d1, d1));
              b2 = f32x4.add(b2, f32x4.mul(d2, d2)); b3 = f32x4.add(b3, f32x4.mul(d3, d3));
            }
          }
          for (; i + 4 <= end; i += 4) {
            const d0 = f32x4.sub(v128.load(run + (<usize>i << 2)), kv);
            if (useDy) {
              const g0 = v128.load(runDy + (<usize>i << 2));
              a0 = f32x4.add(a0, g0); b0 = f32x4.add(b0, f32x4.mul(g0, d0));
            } else {
              a0 = f32x4.add(a0, d0); b0 = f32x4.add(b0, f32x4.mul(d0, d0));
            }
          }
          for (; i < end; i++) {
            const d = load<f32>(run + (<usize>i << 2)) - k;
            if (useDy) {
              const g = load<f32>(runDy + (<usize>i << 2));
              tailA += g; tailB += g * d;
            } else {
              tailA += d; tailB += d * d;
            }
          }
          // Fold once a block is pending, and after the channel's last chunk.
          if (pending >= RUN_BLOCK || (n == N - 1 && i == S)) {
            const va = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
            const vb = f32x4.add(f32x4.add(b0, b1), f32x4.add(b2, b3));
            const pa = f64x2.add(f64x2.promote_low_f32x4(va), f64x2.promote_low_f32x4(v128.shuffle<f32>(va, va, 2, 3, 2, 3)));
            const pb = f64x2.add(f64x2.promote_low_f32x4(vb), f64x2.promote_low_f32x4(v128.shuffle<f32>(vb, vb, 2, 3, 2, 3)));
            totalA += f64x2.extract_lane(pa, 0) + f64x2.extract_lane(pa, 1);
            totalB += f64x2.extract_lane(pb, 0) + f64x2.extract_lane(pb, 1);
            totalA += <f64>tailA; totalB += <f64>tailB;
            a0 = f32x4.splat(0); a1 = a0; a2 = a0; a3 = a0; b0 = a0; b1 = a0; b2 = a0; b3 = a0;
            tailA = 0; tailB = 0;
            pending = 0;
          }
        }
      }
    } else {
      memory.fill(LANES_A, 0, 64);
      memory.fill(LANES_B, 0, 64);
      let tailA: f32 = 0, tailB: f32 = 0;
      for (let n = 0; n < N; n++) {
        const run = x + (((<usize>n * C + c) * S) << 2);
        const runDy = dy + (((<usize>n * C + c) * S) << 2);
        let i = 0;
        while (i < S) {
          const end = min(S, i + RUN_BLOCK);
          pending += end - i;
          for (; i + 16 <= end; i += 16) accumulateLanes(run, runDy, useDy, i, 16, k);
          for (; i + 4 <= end; i += 4) accumulateLanes(run, runDy, useDy, i, 4, k);
          for (; i < end; i++) {
            const d = load<f32>(run + (<usize>i << 2)) - k;
            if (useDy) {
              const g = load<f32>(runDy + (<usize>i << 2));
              tailA += g; tailB += g * d;
            } else {
              tailA += d; tailB += d * d;
            }
          }
          if (pending >= RUN_BLOCK || (n == N - 1 && i == S)) {
            totalA += foldScalarLanes(LANES_A);
            totalB += foldScalarLanes(LANES_B);
            totalA += <f64>tailA; totalB += <f64>tailB;
            memory.fill(LANES_A, 0, 64);
            memory.fill(LANES_B, 0, 64);
            tailA = 0; tailB = 0;
            pending = 0;
          }
        }
      }
    }
    store<f64>(sumA + (<usize>c << 3), totalA);
    store<f64>(sumB + (<usize>c << 3), totalB);
  }
}

/** Scalar build: adds elements i..i+count of a run into emulated lanes 0..count-1. */
@inline
function accumulateLanes(run: usize, runDy: usize, useDy: bool, i: i32, count: i32, k: f32): void {
  for (let j = 0; j < count; j++) {
    const e = <usize>(i + j) << 2, lane = <usize>j << 2;
    const d = load<f32>(run + e) - k;
    if (useDy) {
      const g = load<f32>(runDy + e);
      store<f32>(LANES_A + lane, load<f32>(LANES_A + lane) + g);
      store<f32>(LANES_B + lane, load<f32>(LANES_B + lane) + g * d);
    } else {
      store<f32>(LANES_A + lane, load<f32>(LANES_A + lane) + d);
      store<f32>(LANES_B + lane, load<f32>(LANES_B + lane) + d * d);
    }
  }
}

/** Scalar build: the SIMD fold of 16 lanes (see reduceChannelsFirstImpl). */
@inline
function foldScalarLanes(lanes: usize): f64 {
  const r0 = (load<f32>(lanes) + load<f32>(lanes, 16)) + (load<f32>(lanes, 32) + load<f32>(lanes, 48));
  const r1 = (load<f32>(lanes, 4) + load<f32>(lanes, 20)) + (load<f32>(lanes, 36) + load<f32>(lanes, 52));
  const r2 = (load<f32>(lanes, 8) + load<f32>(lanes, 24)) + (load<f32>(lanes, 40) + load<f32>(lanes, 56));
  const r3 = (load<f32>(lanes, 12) + load<f32>(lanes, 28)) + (load<f32>(lanes, 44) + load<f32>(lanes, 60));
  return (<f64>r0 + <f64>r2) + (<f64>r1 + <f64>r3);
}

/**
 * Channels-last data (R rows of C): x[r][c] at x + (r*C + c)*4 bytes, R = N * S.
 * Every channel is one lane summed in row order; lanes are folded into
 * float64 every ROW_BLOCK rows. SIMD takes 16 channels at once (a whole
 * cache line per row), then 8, then 4, then single channels; the result per
 * channel does not depend on it.
 */
@inline
function reduceChannelsLastImpl(
  x: usize, dy: usize, useDy: bool, R: i32, C: i32,
  shift: usize, sumA: usize, sumB: usize,
): void {
  memory.fill(sumA, 0, <usize>C << 3);
  memory.fill(sumB, 0, <usize>C << 3);
  const rowBytes = <usize>C << 2;
  for (let r0 = 0; r0 < R; r0 += ROW_BLOCK) {
    const r1 = min(R, r0 + ROW_BLOCK);
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      // 16 channels: one whole cache line per row, so long (power-of-two) rows,
      // whose lines share L1 sets, are not fetched twice (with 8, backward on
      // 64x1024 measured 4.3x its minimum passes; with 16, 2.8x).
      for (; c + 16 <= C; c += 16) {
        const cb = <usize>c << 2;
        const k0 = v128.load(shift + cb), k1 = v128.load(shift + cb, 16), k2 = v128.load(shift + cb, 32), k3 = v128.load(shift + cb, 48);
        let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (let r = r0; r < r1; r++) {
          const p = x + <usize>r * rowBytes + cb;
          const d0 = f32x4.sub(v128.load(p), k0), d1 = f32x4.sub(v128.load(p, 16), k1);
          const d2 = f32x4.sub(v128.load(p, 32), k2), d3 = f32x4.sub(v128.load(p, 48), k3);
          if (useDy) {
            const q = dy + <usize>r * rowBytes + cb;
            const g0 = v128.load(q), g1 = v128.load(q, 16), g2 = v128.load(q, 32), g3 = v128.load(q, 48);
            a0 = f32x4.add(a0, g0); a1 = f32x4.add(a1, g1); a2 = f32x4.add(a2, g2); a3 = f32x4.add(a3, g3);
            b0 = f32x4.add(b0, f32x4.mul(g0, d0)); b1 = f32x4.add(b1, f32x4.mul(g1, d1));
            b2 = f32x4.add(b2, f32x4.mul(g2, d2)); b3 = f32x4.add(b3, f32x4.mul(g3, d3));
          } else {
            a0 = f32x4.add(a0, d0); a1 = f32x4.add(a1, d1); a2 = f32x4.add(a2, d2); a3 = f32x4.add(a3, d3);
            b0 = f32x4.add(b0, f32x4.mul(d0, d0)); b1 = f32x4.add(b1, f32x4.mul(d1, d1));
            b2 = f32x4.add(b2, f32x4.mul(d2, d2)); b3 = f32x4.add(b3, f32x4.mul(d3, d3));
          }
        }
        const ab = sumA + (<usize>c << 3), bb = sumB + (<usize>c << 3);
        foldLanes(ab, a0); foldLanes(ab + 32, a1); foldLanes(ab + 64, a2); foldLanes(ab + 96, a3);
        foldLanes(bb, b0); foldLanes(bb + 32, b1); foldLanes(bb + 64, b2); foldLanes(bb + 96, b3);
      }
      for (; c + 8 <= C; c += 8) {
        const cb = <usize>c << 2;
        const k0 = v128.load(shift + cb), k1 = v128.load(shift + cb, 16);
        let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0;
        for (let r = r0; r < r1; r++) {
          const p = x + <usize>r * rowBytes + cb;
          const d0 = f32x4.sub(v128.load(p), k0), d1 = f32x4.sub(v128.load(p, 16), k1);
          if (useDy) {
            const q = dy + <usize>r * rowBytes + cb;
            const g0 = v128.load(q), g1 = v128.load(q, 16);
            a0 = f32x4.add(a0, g0); a1 = f32x4.add(a1, g1);
            b0 = f32x4.add(b0, f32x4.mul(g0, d0)); b1 = f32x4.add(b1, f32x4.mul(g1, d1));
          } else {
            a0 = f32x4.add(a0, d0); a1 = f32x4.add(a1, d1);
            b0 = f32x4.add(b0, f32x4.mul(d0, d0)); b1 = f32x4.add(b1, f32x4.mul(d1, d1));
          }
        }
        foldLanes(sumA + (<usize>c << 3), a0); foldLanes(sumA + (<usize>c << 3) + 32, a1);
        foldLanes(sumB + (<usize>c << 3), b0); foldLanes(sumB + (<usize>c << 3) + 32, b1);
      }
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2;
        const k0 = v128.load(shift + cb);
        let a0 = f32x4.splat(0), b0 = a0;
        for (let r = r0; r < r1; r++) {
          const d0 = f32x4.sub(v128.load(x + <usize>r * rowBytes + cb), k0);
          if (useDy) {
            const g0 = v128.load(dy + <usize>r * rowBytes + cb);
            a0 = f32x4.add(a0, g0); b0 = f32x4.add(b0, f32x4.mul(g0, d0));
          } else {
            a0 = f32x4.add(a0, d0); b0 = f32x4.add(b0, f32x4.mul(d0, d0));
          }
        }
        foldLanes(sumA + (<usize>c << 3), a0);
        foldLanes(sumB + (<usize>c << 3), b0);
      }
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2;
      const k = load<f32>(shift + cb);
      let a: f32 = 0, b: f32 = 0;
      for (let r = r0; r < r1; r++) {
        const d = load<f32>(x + <usize>r * rowBytes + cb) - k;
        if (useDy) {
          const g = load<f32>(dy + <usize>r * rowBytes + cb);
          a += g; b += g * d;
        } else {
          a += d; b += d * d;
        }
      }
      store<f64>(sumA + (<usize>c << 3), load<f64>(sumA + (<usize>c << 3)) + <f64>a);
      store<f64>(sumB + (<usize>c << 3), load<f64>(sumB + (<usize>c << 3)) + <f64>b);
    }
  }
}

/** Adds the four float32 lanes of `v` to the four float64 values at `dst`. */
@inline
function foldLanes(dst: usize, v: v128): void {
  v128.store(dst, f64x2.add(v128.load(dst), f64x2.promote_low_f32x4(v)));
  v128.store(dst, f64x2.add(v128.load(dst, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3))), 16);
}

/** Batch statistics sums: sumA = sum (x - shift), sumB = sum (x - shift)^2 per channel. */
export function reduceStatistics(x: usize, N: i32, C: i32, S: i32, channelsLast: bool, shift: usize, sumA: usize, sumB: usize): void {
  if (channelsLast) reduceChannelsLastImpl(x, 0, false, N * S, C, shift, sumA, sumB);
  else reduceChannelsFirstImpl(x, 0, false, N, C, S, shift, sumA, sumB);
}

/** Backward sums: sumA = sum dy, sumB = sum dy * (x - shift) per channel. */
export function reduceGradient(x: usize, dy: usize, N: i32, C: i32, S: i32, channelsLast: bool, shift: usize, sumA: usize, sumB: usize): void {
  if (channelsLast) reduceChannelsLastImpl(x, dy, true, N * S, C, shift, sumA, sumB);
  else reduceChannelsFirstImpl(x, dy, true, N, C, S, shift, sumA, sumB);
}
