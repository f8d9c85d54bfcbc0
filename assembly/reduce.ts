// Per-channel reductions. Both compute, for every channel c with d = x - shift[c]:
//   without dy:  sumA[c] = sum d,   sumB[c] = sum d*d       (batch statistics)
//   with dy:     sumA[c] = sum dy,  sumB[c] = sum dy*d      (backward)
// Every value is widened to float64 before it is used: d is then exact, products
// of float32 values cannot overflow, and sums carry 29 more bits than float32
// (float32 partial sums made the statistics slightly worse than PyTorch's, and
// overflowed near the float32 maximum). The scalar build keeps the SIMD build's
// lanes and their order exactly, so both builds produce the same bits.
// Sizes are in elements unless named *Bytes.

// Channels-last: rows per tile pass. A tile reads 32 bytes of each of its rows,
// and the next tile the next 32, so the rows' lines stay in L1 between tiles.
// Rows of up to 64 lanes take 4 per pass; longer rows 2: from DRAM, passes over
// 4 rows of 128 to 1024 lanes measured 1.2-2.5x slower than over 2 (the strided
// accesses defeat the prefetcher; 8 rows of 256 lanes: 3.3x), in cache alike.
const SHORT_ROW_LANES: usize = 64;
const SHORT_ROW_BLOCK: i32 = 4;
const LONG_ROW_BLOCK: i32 = 2;

/**
 * Contiguous runs (see space.ts): group q is the R runs of B elements at
 * x + (q*groupStride + r*runStride)*4 bytes (for BatchNorm channels-first,
 * q = c and r = n). Within a run, element i goes to float64 lane i mod 8 while
 * 8 remain, then to lane i mod 4 while 4 remain, then to a tail accumulator;
 * the run's sum is ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)) + tail,
 * and a group's sum is its runs' sums added in order r = 0..R-1. Runs are
 * visited r-major (all groups' run 0, then run 1, ...), which is memory order
 * for BatchNorm: taking a channel's N runs in turn, each a long stride from
 * the last, measured 2x slower from DRAM (16x256x64x64).
 * With `weight` (B values, LayerNorm's backward), dy is multiplied by weight[i]
 * (exact in float64) before it is summed.
 */
@inline
function reduceRunsImpl(
  x: usize, dy: usize, useDy: bool, weight: usize, useWeight: bool,
  Q: i32, groupStride: usize, R: i32, runStride: usize, B: i32,
  shift: usize, sumA: usize, sumB: usize,
): void {
  const S = B;
  for (let n = 0; n < R; n++) {
    for (let c = 0; c < Q; c++) {
      const k = <f64>load<f32>(shift + (<usize>c << 2));
      let totalA: f64, totalB: f64;
      if (ASC_FEATURE_SIMD) {
        const kv = f64x2.splat(k);
        // a0: lanes 0,1; a1: lanes 2,3; a2: lanes 4,5; a3: lanes 6,7.
        let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        let tailA: f64 = 0, tailB: f64 = 0;
        const runByte = (<usize>c * groupStride + <usize>n * runStride) << 2;
        const run = x + runByte, runDy = dy + runByte;
        let i = 0;
        for (; i + 8 <= S; i += 8) {
          const p = run + (<usize>i << 2);
          const v0 = v128.load(p), v1 = v128.load(p, 16);
          const d0 = f64x2.sub(f64x2.promote_low_f32x4(v0), kv), d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 2, 3)), kv);
          const d2 = f64x2.sub(f64x2.promote_low_f32x4(v1), kv), d3 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v1, v1, 2, 3, 2, 3)), kv);
          if (useDy) {
            const q = runDy + (<usize>i << 2);
            const w0 = v128.load(q), w1 = v128.load(q, 16);
            let g0 = f64x2.promote_low_f32x4(w0), g1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(w0, w0, 2, 3, 2, 3));
            let g2 = f64x2.promote_low_f32x4(w1), g3 = f64x2.promote_low_f32x4(v128.shuffle<f32>(w1, w1, 2, 3, 2, 3));
            if (useWeight) {
              const pw = weight + (<usize>i << 2);
              const u0 = v128.load(pw), u1 = v128.load(pw, 16);
              g0 = f64x2.mul(g0, f64x2.promote_low_f32x4(u0)); g1 = f64x2.mul(g1, f64x2.promote_low_f32x4(v128.shuffle<f32>(u0, u0, 2, 3, 2, 3)));
              g2 = f64x2.mul(g2, f64x2.promote_low_f32x4(u1)); g3 = f64x2.mul(g3, f64x2.promote_low_f32x4(v128.shuffle<f32>(u1, u1, 2, 3, 2, 3)));
            }
            a0 = f64x2.add(a0, g0); a1 = f64x2.add(a1, g1); a2 = f64x2.add(a2, g2); a3 = f64x2.add(a3, g3);
            b0 = f64x2.add(b0, f64x2.mul(g0, d0)); b1 = f64x2.add(b1, f64x2.mul(g1, d1));
            b2 = f64x2.add(b2, f64x2.mul(g2, d2)); b3 = f64x2.add(b3, f64x2.mul(g3, d3));
          } else {
            a0 = f64x2.add(a0, d0); a1 = f64x2.add(a1, d1); a2 = f64x2.add(a2, d2); a3 = f64x2.add(a3, d3);
            b0 = f64x2.add(b0, f64x2.mul(d0, d0)); b1 = f64x2.add(b1, f64x2.mul(d1, d1));
            b2 = f64x2.add(b2, f64x2.mul(d2, d2)); b3 = f64x2.add(b3, f64x2.mul(d3, d3));
          }
        }
        if (i + 4 <= S) {
          const v0 = v128.load(run + (<usize>i << 2));
          const d0 = f64x2.sub(f64x2.promote_low_f32x4(v0), kv), d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 2, 3)), kv);
          if (useDy) {
            const w0 = v128.load(runDy + (<usize>i << 2));
            let g0 = f64x2.promote_low_f32x4(w0), g1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(w0, w0, 2, 3, 2, 3));
            if (useWeight) {
              const u0 = v128.load(weight + (<usize>i << 2));
              g0 = f64x2.mul(g0, f64x2.promote_low_f32x4(u0)); g1 = f64x2.mul(g1, f64x2.promote_low_f32x4(v128.shuffle<f32>(u0, u0, 2, 3, 2, 3)));
            }
            a0 = f64x2.add(a0, g0); a1 = f64x2.add(a1, g1);
            b0 = f64x2.add(b0, f64x2.mul(g0, d0)); b1 = f64x2.add(b1, f64x2.mul(g1, d1));
          } else {
            a0 = f64x2.add(a0, d0); a1 = f64x2.add(a1, d1);
            b0 = f64x2.add(b0, f64x2.mul(d0, d0)); b1 = f64x2.add(b1, f64x2.mul(d1, d1));
          }
          i += 4;
        }
        for (; i < S; i++) {
          const d = <f64>load<f32>(run + (<usize>i << 2)) - k;
          if (useDy) {
            const g = <f64>load<f32>(runDy + (<usize>i << 2)) * (useWeight ? <f64>load<f32>(weight + (<usize>i << 2)) : 1.0);
            tailA += g; tailB += g * d;
          } else {
            tailA += d; tailB += d * d;
          }
        }
        totalA = foldLanes(a0, a1, a2, a3) + tailA;
        totalB = foldLanes(b0, b1, b2, b3) + tailB;
      } else {
        let a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0, a5: f64 = 0, a6: f64 = 0, a7: f64 = 0;
        let b0: f64 = 0, b1: f64 = 0, b2: f64 = 0, b3: f64 = 0, b4: f64 = 0, b5: f64 = 0, b6: f64 = 0, b7: f64 = 0;
        let tailA: f64 = 0, tailB: f64 = 0;
        const runByte = (<usize>c * groupStride + <usize>n * runStride) << 2;
        const run = x + runByte, runDy = dy + runByte;
        let i = 0;
        for (; i + 8 <= S; i += 8) {
          const p = run + (<usize>i << 2);
          const d0 = <f64>load<f32>(p) - k, d1 = <f64>load<f32>(p, 4) - k, d2 = <f64>load<f32>(p, 8) - k, d3 = <f64>load<f32>(p, 12) - k;
          const d4 = <f64>load<f32>(p, 16) - k, d5 = <f64>load<f32>(p, 20) - k, d6 = <f64>load<f32>(p, 24) - k, d7 = <f64>load<f32>(p, 28) - k;
          if (useDy) {
            const q = runDy + (<usize>i << 2);
            let g0 = <f64>load<f32>(q), g1 = <f64>load<f32>(q, 4), g2 = <f64>load<f32>(q, 8), g3 = <f64>load<f32>(q, 12);
            let g4 = <f64>load<f32>(q, 16), g5 = <f64>load<f32>(q, 20), g6 = <f64>load<f32>(q, 24), g7 = <f64>load<f32>(q, 28);
            if (useWeight) {
              const u = weight + (<usize>i << 2);
              g0 *= <f64>load<f32>(u); g1 *= <f64>load<f32>(u, 4); g2 *= <f64>load<f32>(u, 8); g3 *= <f64>load<f32>(u, 12);
              g4 *= <f64>load<f32>(u, 16); g5 *= <f64>load<f32>(u, 20); g6 *= <f64>load<f32>(u, 24); g7 *= <f64>load<f32>(u, 28);
            }
            a0 += g0; a1 += g1; a2 += g2; a3 += g3; a4 += g4; a5 += g5; a6 += g6; a7 += g7;
            b0 += g0 * d0; b1 += g1 * d1; b2 += g2 * d2; b3 += g3 * d3;
            b4 += g4 * d4; b5 += g5 * d5; b6 += g6 * d6; b7 += g7 * d7;
          } else {
            a0 += d0; a1 += d1; a2 += d2; a3 += d3; a4 += d4; a5 += d5; a6 += d6; a7 += d7;
            b0 += d0 * d0; b1 += d1 * d1; b2 += d2 * d2; b3 += d3 * d3;
            b4 += d4 * d4; b5 += d5 * d5; b6 += d6 * d6; b7 += d7 * d7;
          }
        }
        if (i + 4 <= S) {
          const p = run + (<usize>i << 2);
          const d0 = <f64>load<f32>(p) - k, d1 = <f64>load<f32>(p, 4) - k, d2 = <f64>load<f32>(p, 8) - k, d3 = <f64>load<f32>(p, 12) - k;
          if (useDy) {
            const q = runDy + (<usize>i << 2);
            let g0 = <f64>load<f32>(q), g1 = <f64>load<f32>(q, 4), g2 = <f64>load<f32>(q, 8), g3 = <f64>load<f32>(q, 12);
            if (useWeight) {
              const u = weight + (<usize>i << 2);
              g0 *= <f64>load<f32>(u); g1 *= <f64>load<f32>(u, 4); g2 *= <f64>load<f32>(u, 8); g3 *= <f64>load<f32>(u, 12);
            }
            a0 += g0; a1 += g1; a2 += g2; a3 += g3;
            b0 += g0 * d0; b1 += g1 * d1; b2 += g2 * d2; b3 += g3 * d3;
          } else {
            a0 += d0; a1 += d1; a2 += d2; a3 += d3;
            b0 += d0 * d0; b1 += d1 * d1; b2 += d2 * d2; b3 += d3 * d3;
          }
          i += 4;
        }
        for (; i < S; i++) {
          const d = <f64>load<f32>(run + (<usize>i << 2)) - k;
          if (useDy) {
            const g = <f64>load<f32>(runDy + (<usize>i << 2)) * (useWeight ? <f64>load<f32>(weight + (<usize>i << 2)) : 1.0);
            tailA += g; tailB += g * d;
          } else {
            tailA += d; tailB += d * d;
          }
        }
        totalA = (((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))) + tailA;
        totalB = (((b0 + b4) + (b1 + b5)) + ((b2 + b6) + (b3 + b7))) + tailB;
      }
      const ab = sumA + (<usize>c << 3), bb = sumB + (<usize>c << 3);
      store<f64>(ab, n == 0 ? totalA : load<f64>(ab) + totalA);
      store<f64>(bb, n == 0 ? totalB : load<f64>(bb) + totalB);
    }
  }
}

/** ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)) for lane pairs v0 = (l0, l1) ... v3 = (l6, l7). */
@inline
function foldLanes(v0: v128, v1: v128, v2: v128, v3: v128): f64 {
  const low = f64x2.add(v0, v2);  // (l0 + l4, l1 + l5)
  const high = f64x2.add(v1, v3); // (l2 + l6, l3 + l7)
  return (f64x2.extract_lane(low, 0) + f64x2.extract_lane(low, 1)) + (f64x2.extract_lane(high, 0) + f64x2.extract_lane(high, 1));
}

/**
 * Lanes: one batch is R rows of C contiguous lanes, x[r][c] at
 * x + (r*rowStride + c)*4 bytes (BatchNorm channels-last: R = N*S rows of C
 * channels, rowStride = C). Every lane is one float64 accumulator summed in row
 * order, so the result does not depend on how lanes are tiled: SIMD takes 8
 * lanes at once (two f32x4 loads, four f64x2 accumulators per sum), then 4,
 * then single ones, a few rows per tile pass; the scalar build sums each
 * lane in the same row order.
 */
@inline
function reduceLanesImpl(
  x: usize, dy: usize, useDy: bool, R: i32, C: i32, rowStride: usize,
  shift: usize, sumA: usize, sumB: usize,
): void {
  memory.fill(sumA, 0, <usize>C << 3);
  memory.fill(sumB, 0, <usize>C << 3);
  const rowBytes = rowStride << 2;
  const rowBlock = rowStride <= SHORT_ROW_LANES ? SHORT_ROW_BLOCK : LONG_ROW_BLOCK;
  for (let r0 = 0; r0 < R; r0 += rowBlock) {
    const r1 = min(R, r0 + rowBlock);
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 8 <= C; c += 8) {
        const cb = <usize>c << 2, ab = sumA + (<usize>c << 3), bb = sumB + (<usize>c << 3);
        const k0 = f64x2.promote_low_f32x4(v128.load64_zero(shift + cb)), k1 = f64x2.promote_low_f32x4(v128.load64_zero(shift + cb + 8));
        const k2 = f64x2.promote_low_f32x4(v128.load64_zero(shift + cb + 16)), k3 = f64x2.promote_low_f32x4(v128.load64_zero(shift + cb + 24));
        let a0 = v128.load(ab), a1 = v128.load(ab, 16), a2 = v128.load(ab, 32), a3 = v128.load(ab, 48);
        let b0 = v128.load(bb), b1 = v128.load(bb, 16), b2 = v128.load(bb, 32), b3 = v128.load(bb, 48);
        for (let r = r0; r < r1; r++) {
          const p = x + <usize>r * rowBytes + cb;
          const v0 = v128.load(p), v1 = v128.load(p, 16);
          const d0 = f64x2.sub(f64x2.promote_low_f32x4(v0), k0), d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 2, 3)), k1);
          const d2 = f64x2.sub(f64x2.promote_low_f32x4(v1), k2), d3 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v1, v1, 2, 3, 2, 3)), k3);
          if (useDy) {
            const q = dy + <usize>r * rowBytes + cb;
            const w0 = v128.load(q), w1 = v128.load(q, 16);
            const g0 = f64x2.promote_low_f32x4(w0), g1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(w0, w0, 2, 3, 2, 3));
            const g2 = f64x2.promote_low_f32x4(w1), g3 = f64x2.promote_low_f32x4(v128.shuffle<f32>(w1, w1, 2, 3, 2, 3));
            a0 = f64x2.add(a0, g0); a1 = f64x2.add(a1, g1); a2 = f64x2.add(a2, g2); a3 = f64x2.add(a3, g3);
            b0 = f64x2.add(b0, f64x2.mul(g0, d0)); b1 = f64x2.add(b1, f64x2.mul(g1, d1));
            b2 = f64x2.add(b2, f64x2.mul(g2, d2)); b3 = f64x2.add(b3, f64x2.mul(g3, d3));
          } else {
            a0 = f64x2.add(a0, d0); a1 = f64x2.add(a1, d1); a2 = f64x2.add(a2, d2); a3 = f64x2.add(a3, d3);
            b0 = f64x2.add(b0, f64x2.mul(d0, d0)); b1 = f64x2.add(b1, f64x2.mul(d1, d1));
            b2 = f64x2.add(b2, f64x2.mul(d2, d2)); b3 = f64x2.add(b3, f64x2.mul(d3, d3));
          }
        }
        v128.store(ab, a0); v128.store(ab, a1, 16); v128.store(ab, a2, 32); v128.store(ab, a3, 48);
        v128.store(bb, b0); v128.store(bb, b1, 16); v128.store(bb, b2, 32); v128.store(bb, b3, 48);
      }
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2, ab = sumA + (<usize>c << 3), bb = sumB + (<usize>c << 3);
        const k0 = f64x2.promote_low_f32x4(v128.load64_zero(shift + cb)), k1 = f64x2.promote_low_f32x4(v128.load64_zero(shift + cb + 8));
        let a0 = v128.load(ab), a1 = v128.load(ab, 16), b0 = v128.load(bb), b1 = v128.load(bb, 16);
        for (let r = r0; r < r1; r++) {
          const v0 = v128.load(x + <usize>r * rowBytes + cb);
          const d0 = f64x2.sub(f64x2.promote_low_f32x4(v0), k0), d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 2, 3)), k1);
          if (useDy) {
            const w0 = v128.load(dy + <usize>r * rowBytes + cb);
            const g0 = f64x2.promote_low_f32x4(w0), g1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(w0, w0, 2, 3, 2, 3));
            a0 = f64x2.add(a0, g0); a1 = f64x2.add(a1, g1);
            b0 = f64x2.add(b0, f64x2.mul(g0, d0)); b1 = f64x2.add(b1, f64x2.mul(g1, d1));
          } else {
            a0 = f64x2.add(a0, d0); a1 = f64x2.add(a1, d1);
            b0 = f64x2.add(b0, f64x2.mul(d0, d0)); b1 = f64x2.add(b1, f64x2.mul(d1, d1));
          }
        }
        v128.store(ab, a0); v128.store(ab, a1, 16);
        v128.store(bb, b0); v128.store(bb, b1, 16);
      }
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2, ab = sumA + (<usize>c << 3), bb = sumB + (<usize>c << 3);
      const k = <f64>load<f32>(shift + cb);
      let a = load<f64>(ab), b = load<f64>(bb);
      for (let r = r0; r < r1; r++) {
        const d = <f64>load<f32>(x + <usize>r * rowBytes + cb) - k;
        if (useDy) {
          const g = <f64>load<f32>(dy + <usize>r * rowBytes + cb);
          a += g; b += g * d;
        } else {
          a += d; b += d * d;
        }
      }
      store<f64>(ab, a);
      store<f64>(bb, b);
    }
  }
}

/**
 * Statistics sums over contiguous runs: sumA = sum (x - shift), sumB = sum (x - shift)^2
 * per group. With dy (not 0): sumA = sum g, sumB = sum g * (x - shift), g = dy
 * (times weight[i] when weight is not 0).
 */
export function reduceRuns(
  x: usize, dy: usize, weight: usize, Q: i32, groupStride: usize, R: i32, runStride: usize, B: i32,
  shift: usize, sumA: usize, sumB: usize,
): void {
  if (dy == 0) reduceRunsImpl(x, 0, false, 0, false, Q, groupStride, R, runStride, B, shift, sumA, sumB);
  else if (weight == 0) reduceRunsImpl(x, dy, true, 0, false, Q, groupStride, R, runStride, B, shift, sumA, sumB);
  else reduceRunsImpl(x, dy, true, weight, true, Q, groupStride, R, runStride, B, shift, sumA, sumB);
}

/**
 * Statistics sums per lane over `batches` batches of R rows of C lanes (batch b
 * at x + b*batchStride*4 bytes; its shift and sums at lane offset b*C): the
 * same sums as reduceRuns, lane by lane.
 */
export function reduceLanes(
  x: usize, dy: usize, batches: i32, batchStride: usize, R: i32, rowStride: usize, C: i32,
  shift: usize, sumA: usize, sumB: usize,
): void {
  for (let b = 0; b < batches; b++) {
    const data = <usize>b * batchStride << 2, lane = <usize>b * C;
    if (dy == 0) reduceLanesImpl(x + data, 0, false, R, C, rowStride, shift + (lane << 2), sumA + (lane << 3), sumB + (lane << 3));
    else reduceLanesImpl(x + data, dy + data, true, R, C, rowStride, shift + (lane << 2), sumA + (lane << 3), sumB + (lane << 3));
  }
}

/**
 * LayerNorm's parameter gradients: per lane j of R rows of C,
 * sumA[j] = sum_r dy, sumB[j] = sum_r dy * (x - rowMean[r]) * rowInv[r]
 * (rowMean may be 0 for none: RMSNorm). Summed in row order in both builds.
 */
export function reduceColumns(x: usize, dy: usize, R: i32, C: i32, rowMean: usize, rowInv: usize, sumA: usize, sumB: usize): void {
  memory.fill(sumA, 0, <usize>C << 3);
  memory.fill(sumB, 0, <usize>C << 3);
  const rowBytes = <usize>C << 2;
  for (let r = 0; r < R; r++) {
    const m: f64 = rowMean ? load<f64>(rowMean + (<usize>r << 3)) : 0, v = load<f64>(rowInv + (<usize>r << 3));
    const px = x + <usize>r * rowBytes, pg = dy + <usize>r * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const mv = f64x2.splat(m), iv = f64x2.splat(v);
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2, c8 = <usize>c << 3;
        const xv = v128.load(px + cb), gv = v128.load(pg + cb);
        const g0 = f64x2.promote_low_f32x4(gv), g1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(gv, gv, 2, 3, 2, 3));
        const h0 = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(xv), mv), iv);
        const h1 = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(xv, xv, 2, 3, 2, 3)), mv), iv);
        v128.store(sumA + c8, f64x2.add(v128.load(sumA + c8), g0));
        v128.store(sumA + c8, f64x2.add(v128.load(sumA + c8, 16), g1), 16);
        v128.store(sumB + c8, f64x2.add(v128.load(sumB + c8), f64x2.mul(g0, h0)));
        v128.store(sumB + c8, f64x2.add(v128.load(sumB + c8, 16), f64x2.mul(g1, h1)), 16);
      }
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2, c8 = <usize>c << 3;
      const g = <f64>load<f32>(pg + cb);
      store<f64>(sumA + c8, load<f64>(sumA + c8) + g);
      store<f64>(sumB + c8, load<f64>(sumB + c8) + g * ((<f64>load<f32>(px + cb) - m) * v));
    }
  }
}
