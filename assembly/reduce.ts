// Per-channel reductions. Both compute, for every channel c with d = x - shift[c]:
//   without dy:  sumA[c] = sum d,   sumB[c] = sum d*d       (batch statistics)
//   with dy:     sumA[c] = sum dy,  sumB[c] = sum dy*d      (backward)
// Partial sums are kept in float32 lanes for at most a block of values, then
// folded into float64, so the error stays near float32 rounding of one block.
// The scalar build emulates the SIMD build's lanes and fold order exactly, so
// both builds produce the same bits. Sizes are in elements unless named *Bytes.

// Channels-first: elements a lane group takes before a fold into float64.
const RUN_BLOCK: i32 = 256;
// Channels-last: rows summed in float32 before a fold into float64.
const ROW_BLOCK: i32 = 64;

/**
 * Channels-first data (N, C, S): x[n][c][s] at x + ((n*C + c)*S + s)*4 bytes.
 * Channel c is the N runs x[n][c][0..S), reduced in order n = 0..N-1.
 * Within a run, 8 lanes take elements i = 0,1,..,7 mod 8 (lanes 0-3 also take
 * a final group of 4), and the last S mod 4 elements go to a scalar tail.
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
      let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0;
      let tailA: f32 = 0, tailB: f32 = 0;
      for (let n = 0; n < N; n++) {
        const runByte = ((<usize>n * C + c) * S) << 2;
        let i = 0;
        while (i < S) {
          const end = min(S, i + RUN_BLOCK);
          pending += end - i;
          for (; i + 8 <= end; i += 8) {
            const p = x + runByte + (<usize>i << 2);
            const d0 = f32x4.sub(v128.load(p), kv);
            const d1 = f32x4.sub(v128.load(p, 16), kv);
            if (useDy) {
              const q = dy + runByte + (<usize>i << 2);
              const g0 = v128.load(q), g1 = v128.load(q, 16);
              a0 = f32x4.add(a0, g0); a1 = f32x4.add(a1, g1);
              b0 = f32x4.add(b0, f32x4.mul(g0, d0)); b1 = f32x4.add(b1, f32x4.mul(g1, d1));
            } else {
              a0 = f32x4.add(a0, d0); a1 = f32x4.add(a1, d1);
              b0 = f32x4.add(b0, f32x4.mul(d0, d0)); b1 = f32x4.add(b1, f32x4.mul(d1, d1));
            }
          }
          if (i + 4 <= end) {
            const p = x + runByte + (<usize>i << 2);
            const d0 = f32x4.sub(v128.load(p), kv);
            if (useDy) {
              const g0 = v128.load(dy + runByte + (<usize>i << 2));
              a0 = f32x4.add(a0, g0); b0 = f32x4.add(b0, f32x4.mul(g0, d0));
            } else {
              a0 = f32x4.add(a0, d0); b0 = f32x4.add(b0, f32x4.mul(d0, d0));
            }
            i += 4;
          }
          for (; i < end; i++) {
            const byte = runByte + (<usize>i << 2);
            const d = load<f32>(x + byte) - k;
            if (useDy) {
              const g = load<f32>(dy + byte);
              tailA += g; tailB += g * d;
            } else {
              tailA += d; tailB += d * d;
            }
          }
          // Fold once a block is pending, and after the channel's last chunk.
          if (pending >= RUN_BLOCK || (n == N - 1 && i == S)) {
            const va = f32x4.add(a0, a1), vb = f32x4.add(b0, b1);
            const pa = f64x2.add(f64x2.promote_low_f32x4(va), f64x2.promote_low_f32x4(v128.shuffle<f32>(va, va, 2, 3, 2, 3)));
            const pb = f64x2.add(f64x2.promote_low_f32x4(vb), f64x2.promote_low_f32x4(v128.shuffle<f32>(vb, vb, 2, 3, 2, 3)));
            totalA += f64x2.extract_lane(pa, 0) + f64x2.extract_lane(pa, 1);
            totalB += f64x2.extract_lane(pb, 0) + f64x2.extract_lane(pb, 1);
            totalA += <f64>tailA; totalB += <f64>tailB;
            a0 = f32x4.splat(0); a1 = a0; b0 = a0; b1 = a0;
            tailA = 0; tailB = 0;
            pending = 0;
          }
        }
      }
    } else {
      // Lanes a0_j / a1_j mirror f32x4 accumulators a0 / a1 of the SIMD path.
      let a00: f32 = 0, a01: f32 = 0, a02: f32 = 0, a03: f32 = 0, a10: f32 = 0, a11: f32 = 0, a12: f32 = 0, a13: f32 = 0;
      let b00: f32 = 0, b01: f32 = 0, b02: f32 = 0, b03: f32 = 0, b10: f32 = 0, b11: f32 = 0, b12: f32 = 0, b13: f32 = 0;
      let tailA: f32 = 0, tailB: f32 = 0;
      for (let n = 0; n < N; n++) {
        const runByte = ((<usize>n * C + c) * S) << 2;
        let i = 0;
        while (i < S) {
          const end = min(S, i + RUN_BLOCK);
          pending += end - i;
          for (; i + 8 <= end; i += 8) {
            const p = x + runByte + (<usize>i << 2);
            const d0 = load<f32>(p) - k, d1 = load<f32>(p, 4) - k, d2 = load<f32>(p, 8) - k, d3 = load<f32>(p, 12) - k;
            const d4 = load<f32>(p, 16) - k, d5 = load<f32>(p, 20) - k, d6 = load<f32>(p, 24) - k, d7 = load<f32>(p, 28) - k;
            if (useDy) {
              const q = dy + runByte + (<usize>i << 2);
              const g0 = load<f32>(q), g1 = load<f32>(q, 4), g2 = load<f32>(q, 8), g3 = load<f32>(q, 12);
              const g4 = load<f32>(q, 16), g5 = load<f32>(q, 20), g6 = load<f32>(q, 24), g7 = load<f32>(q, 28);
              a00 += g0; a01 += g1; a02 += g2; a03 += g3; a10 += g4; a11 += g5; a12 += g6; a13 += g7;
              b00 += g0 * d0; b01 += g1 * d1; b02 += g2 * d2; b03 += g3 * d3;
              b10 += g4 * d4; b11 += g5 * d5; b12 += g6 * d6; b13 += g7 * d7;
            } else {
              a00 += d0; a01 += d1; a02 += d2; a03 += d3; a10 += d4; a11 += d5; a12 += d6; a13 += d7;
              b00 += d0 * d0; b01 += d1 * d1; b02 += d2 * d2; b03 += d3 * d3;
              b10 += d4 * d4; b11 += d5 * d5; b12 += d6 * d6; b13 += d7 * d7;
            }
          }
          if (i + 4 <= end) {
            const p = x + runByte + (<usize>i << 2);
            const d0 = load<f32>(p) - k, d1 = load<f32>(p, 4) - k, d2 = load<f32>(p, 8) - k, d3 = load<f32>(p, 12) - k;
            if (useDy) {
              const q = dy + runByte + (<usize>i << 2);
              const g0 = load<f32>(q), g1 = load<f32>(q, 4), g2 = load<f32>(q, 8), g3 = load<f32>(q, 12);
              a00 += g0; a01 += g1; a02 += g2; a03 += g3;
              b00 += g0 * d0; b01 += g1 * d1; b02 += g2 * d2; b03 += g3 * d3;
            } else {
              a00 += d0; a01 += d1; a02 += d2; a03 += d3;
              b00 += d0 * d0; b01 += d1 * d1; b02 += d2 * d2; b03 += d3 * d3;
            }
            i += 4;
          }
          for (; i < end; i++) {
            const byte = runByte + (<usize>i << 2);
            const d = load<f32>(x + byte) - k;
            if (useDy) {
              const g = load<f32>(dy + byte);
              tailA += g; tailB += g * d;
            } else {
              tailA += d; tailB += d * d;
            }
          }
          if (pending >= RUN_BLOCK || (n == N - 1 && i == S)) {
            totalA += (<f64>(a00 + a10) + <f64>(a02 + a12)) + (<f64>(a01 + a11) + <f64>(a03 + a13));
            totalB += (<f64>(b00 + b10) + <f64>(b02 + b12)) + (<f64>(b01 + b11) + <f64>(b03 + b13));
            totalA += <f64>tailA; totalB += <f64>tailB;
            a00 = 0; a01 = 0; a02 = 0; a03 = 0; a10 = 0; a11 = 0; a12 = 0; a13 = 0;
            b00 = 0; b01 = 0; b02 = 0; b03 = 0; b10 = 0; b11 = 0; b12 = 0; b13 = 0;
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

/**
 * Channels-last data (R rows of C): x[r][c] at x + (r*C + c)*4 bytes, R = N * S.
 * Every channel is one lane summed in row order; lanes are folded into
 * float64 every ROW_BLOCK rows. SIMD takes 8 channels at once (16 measured
 * slower: more accumulators than vector registers), then 4, then single
 * channels; the result per channel does not depend on it.
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
