// The index space every normalization reduces over. Statistics group q
// (0 <= q < Q) holds R runs of B contiguous float32 elements:
//   element (q, r, i) at x + (base(q) + r * runStride + i) * 4 bytes,
//   base(q) = (q / groupsPerBatch) * batchStride + (q % groupsPerBatch) * groupStride.
// All strides and counts are in elements. Examples (S = product of spatial sizes):
//   BatchNorm channels-first (N, C, S):  Q = C, groupStride S, R = N, runStride C*S, B = S
//   BatchNorm channels-last (N*S rows of C): Q = C, groupStride 1, R = N*S, runStride C, B = 1
//   GroupNorm channels-first: Q = N*G, groupStride (C/G)*S, R = 1, B = (C/G)*S
//   GroupNorm channels-last: Q = N*G, groupsPerBatch G, batchStride S*C, groupStride C/G, R = S, runStride C, B = C/G
//   LayerNorm over D trailing values: Q = rows, groupStride D, R = 1, B = D
// Per-group statistics (pilot, mean, variance) are float64 or float32 arrays of Q
// values at pointers the facade chooses.
import { canonicalF32, canonicalF64 } from "./numbers";

// A group's statistics are recomputed by two exact passes when
// (mean - pilot)^2 > 255 * variance: the float64 one-pass sums would then have
// cancelled more than 8 of their 53 bits.
const CANCELLATION_LIMIT: f64 = 255.0 / 256.0;

@inline export function groupBase(q: i32, groupsPerBatch: i32, batchStride: usize, groupStride: usize): usize {
  return <usize>(q / groupsPerBatch) * batchStride + <usize>(q % groupsPerBatch) * groupStride;
}

@inline function median3(a: f32, b: f32, c: f32): f32 { return max<f32>(min<f32>(a, b), min<f32>(max<f32>(a, b), c)); }

/**
 * The reduction's shift per group: the median of its first, middle and last
 * values, so that no single outlier can make the one-pass sums cancel.
 */
export function choosePilots(
  x: usize, Q: i32, groupsPerBatch: i32, batchStride: usize, groupStride: usize, R: i32, runStride: usize, B: i32, pilot: usize,
): void {
  // The middle and last samples sit at the same offset from every group's base.
  const count = <usize>R * B, middle = count >> 1, last = count - 1;
  const middleOffset = (middle / <usize>B) * runStride + middle % <usize>B, lastOffset = (last / <usize>B) * runStride + last % <usize>B;
  let q = 0;
  for (let batch: usize = 0; q < Q; batch++) {
    const batchBase = batch * batchStride;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      if (groupStride == 1) {
        // Four adjacent groups (channels-last lanes): f32x4.min/max give the scalar path's values.
        for (; j + 4 <= groupsPerBatch && q + 4 <= Q; j += 4, q += 4) {
          const first = x + ((batchBase + <usize>j) << 2);
          const a = v128.load(first), b = v128.load(first + (middleOffset << 2)), d = v128.load(first + (lastOffset << 2));
          v128.store(pilot + (<usize>q << 2), f32x4.max(f32x4.min(a, b), f32x4.min(f32x4.max(a, b), d)));
        }
      }
    }
    for (; j < groupsPerBatch && q < Q; j++, q++) {
      const first = x + ((batchBase + <usize>j * groupStride) << 2);
      store<f32>(pilot + (<usize>q << 2), median3(load<f32>(first), load<f32>(first + (middleOffset << 2)), load<f32>(first + (lastOffset << 2))));
    }
  }
}

/** Exact float64 two-pass mean and biased variance of group q. */
function exactGroupStatistics(
  x: usize, base: usize, R: i32, runStride: usize, B: i32, mean: usize, variance: usize, q: i32,
): void {
  const count = <f64>R * B;
  let sum: f64 = 0;
  for (let r = 0; r < R; r++) {
    const run = x + ((base + <usize>r * runStride) << 2);
    for (let i = 0; i < B; i++) sum += <f64>load<f32>(run + (<usize>i << 2));
  }
  const mu = sum / count;
  let m2: f64 = 0;
  for (let r = 0; r < R; r++) {
    const run = x + ((base + <usize>r * runStride) << 2);
    for (let i = 0; i < B; i++) {
      const d = <f64>load<f32>(run + (<usize>i << 2)) - mu;
      m2 += d * d;
    }
  }
  store<f64>(mean + (<usize>q << 3), canonicalF64(mu));
  store<f64>(variance + (<usize>q << 3), canonicalF64(m2 / count));
}

/**
 * Mean and biased variance per group from the sums around `pilot`
 * (sumA = sum (x - pilot), sumB = sum (x - pilot)^2); groups whose sums
 * cancelled are recomputed exactly from x. NaN or infinite data compare false
 * and simply propagate.
 */
export function finishGroups(
  x: usize, Q: i32, groupsPerBatch: i32, batchStride: usize, groupStride: usize, R: i32, runStride: usize, B: i32,
  pilot: usize, sumA: usize, sumB: usize, mean: usize, variance: usize,
): void {
  const inverseCount = 1.0 / (<f64>R * B);
  for (let q = 0; q < Q; q++) {
    const q8 = <usize>q << 3;
    const a = load<f64>(sumA + q8), b = load<f64>(sumB + q8);
    const offset = a * inverseCount;
    const explained = a * offset;
    if (explained > b * CANCELLATION_LIMIT) {
      exactGroupStatistics(x, groupBase(q, groupsPerBatch, batchStride, groupStride), R, runStride, B, mean, variance, q);
      continue;
    }
    store<f64>(mean + q8, canonicalF64(<f64>load<f32>(pilot + (<usize>q << 2)) + offset));
    store<f64>(variance + q8, canonicalF64(max<f64>(b - explained, 0.0) * inverseCount));
  }
}

/** Mean of squares per group from sumB = sum x^2 (RMSNorm: no mean is subtracted). */
export function finishMeanSquares(Q: i32, count: f64, sumB: usize, meanSquare: usize): void {
  const inverseCount = 1.0 / count;
  for (let q = 0; q < Q; q++) {
    const q8 = <usize>q << 3;
    store<f64>(meanSquare + q8, canonicalF64(load<f64>(sumB + q8) * inverseCount));
  }
}

/** Copies each group's pilot to its `lanes` consecutive lanes (GroupNorm channels-last reduces per lane around the group's shift). */
export function broadcastShift(Q: i32, lanes: i32, groupShift: usize, laneShift: usize): void {
  for (let q = 0; q < Q; q++) {
    const value = canonicalF32(load<f32>(groupShift + (<usize>q << 2)));
    for (let j = 0; j < lanes; j++) store<f32>(laneShift + ((<usize>q * lanes + j) << 2), value);
  }
}

/** Sums of `lanes` consecutive lanes into their group (in lane order): the per-group sums of GroupNorm channels-last. */
export function mergeLanes(Q: i32, lanes: i32, laneSums: usize, groupSums: usize): void {
  for (let q = 0; q < Q; q++) {
    let total: f64 = 0;
    for (let j = 0; j < lanes; j++) total += load<f64>(laneSums + ((<usize>q * lanes + j) << 3));
    store<f64>(groupSums + (<usize>q << 3), total);
  }
}
