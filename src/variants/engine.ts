// Normalization with statistics given per chunk of samples: the shared engine
// of synchronized BN (statistics merged over workers), batch renormalization
// (r and d corrections) and ghost batch norm (one chunk per virtual batch).
// Per-channel float64 arrays live in one wasm block (ChannelBlock); the
// kernels are assembly/sync.ts. A chunk is samples [n0, n0 + n) of x.
import { allocate, release } from "../memory.ts";
import type { Geometry } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { kernels } from "../wasm.ts";

export const SLOT = { MEAN: 0, M2: 1, SCALE: 2, SHIFT: 3, INV_STD: 4, SUM_DY: 5, SUM_DY_XHAT: 6, COEF_A: 7, COEF_B: 8, COEF_C: 9 } as const;
const SLOTS = 10;

/** Per-channel float64 scratch in wasm memory for the sync kernels. */
export class ChannelBlock {
  readonly channels: number;
  #ptr: number;

  /** Throws ERR_OUT_OF_MEMORY naming `argument` with nothing held. */
  constructor(channels: number, argument: string) {
    this.channels = channels;
    this.#ptr = allocate(channels * 8 * SLOTS, argument, "workspace");
  }

  get disposed(): boolean { return this.#ptr === 0; }

  address(slot: number): number {
    return this.#ptr + slot * this.channels * 8;
  }

  view(slot: number): Float64Array {
    return new Float64Array(kernels().memory.buffer, this.address(slot), this.channels);
  }

  dispose(): void {
    if (this.#ptr === 0) return;
    release(this.#ptr);
    this.#ptr = 0;
  }
}

/** What normalized one chunk, kept for its backward (plain float64 copies). */
export interface ChunkStatistics {
  n0: number;
  n: number;
  /** Values per channel the statistics describe (the m of the backward; the global count in sync BN). */
  count: number;
  mean: Float64Array;
  /** Biased variance of the statistics. */
  variance: Float64Array;
  invStd: Float64Array;
  /** Batch renormalization's corrections (null: r = 1, d = 0). */
  r: Float64Array | null;
  d: Float64Array | null;
}

/** 1 / sqrt(variance + eps), 0 where both are 0 (the kernels' rule). */
export const inverseStd = (variance: number, eps: number): number => {
  const v = variance + eps;
  return v === 0 ? 0 : 1 / Math.sqrt(v);
};

const offsetOf = (x: Tensor, g: Geometry, n0: number): number => x.byteOffset + n0 * g.C * g.S * 4;

/** Exact per-channel mean and M2 of samples [n0, n0 + n) (n > 0), as copies. */
export function chunkMoments(block: ChannelBlock, x: Tensor, g: Geometry, n0: number, n: number): { count: number; mean: Float64Array; m2: Float64Array } {
  kernels().channelMoments(offsetOf(x, g, n0), n, g.C, g.S, g.channelsLast, block.address(SLOT.MEAN), block.address(SLOT.M2));
  return { count: n * g.S, mean: block.view(SLOT.MEAN).slice(), m2: block.view(SLOT.M2).slice() };
}

/** y = weight * ((x - mean) * invStd * r + d) + bias over the chunk, each element in float64, rounded once. */
export function normalizeChunk(block: ChannelBlock, x: Tensor, y: Tensor, g: Geometry, chunk: ChunkStatistics, weight: Float32Array | null, bias: Float32Array | null): void {
  const mean = block.view(SLOT.MEAN), scale = block.view(SLOT.SCALE), shift = block.view(SLOT.SHIFT);
  for (let c = 0; c < g.C; c++) {
    const w = weight ? weight[c] : 1, b = bias ? bias[c] : 0;
    const r = chunk.r ? chunk.r[c] : 1, d = chunk.d ? chunk.d[c] : 0;
    mean[c] = chunk.mean[c];
    scale[c] = w * r * chunk.invStd[c];
    shift[c] = chunk.d ? w * d + b : b;
  }
  kernels().normalizeChannels(offsetOf(x, g, chunk.n0), offsetOf(y, g, chunk.n0), chunk.n, g.C, g.S, g.channelsLast, block.address(SLOT.MEAN), block.address(SLOT.SCALE), block.address(SLOT.SHIFT));
}

/** The backward's per-channel sums over the chunk: sum dy and sum dy * xhat (xhat = (x - mean) * invStd, before r and d). */
export function chunkGradientSums(block: ChannelBlock, x: Tensor, dy: Tensor, g: Geometry, chunk: ChunkStatistics): { sumDy: Float64Array; sumDyXhat: Float64Array } {
  block.view(SLOT.MEAN).set(chunk.mean);
  block.view(SLOT.INV_STD).set(chunk.invStd);
  block.view(SLOT.SUM_DY).fill(0);
  block.view(SLOT.SUM_DY_XHAT).fill(0);
  kernels().gradientSums(offsetOf(x, g, chunk.n0), offsetOf(dy, g, chunk.n0), chunk.n, g.C, g.S, g.channelsLast, block.address(SLOT.MEAN), block.address(SLOT.INV_STD), block.address(SLOT.SUM_DY), block.address(SLOT.SUM_DY_XHAT));
  return { sumDy: block.view(SLOT.SUM_DY).slice(), sumDyXhat: block.view(SLOT.SUM_DY_XHAT).slice() };
}

/**
 * dx over the chunk from the (possibly all-reduced) sums, r and d constants:
 * dx = weight * r * invStd / m * (m * dy - sumDy - xhat * sumDyXhat).
 */
export function chunkGradient(block: ChannelBlock, x: Tensor, dy: Tensor, dx: Tensor, g: Geometry, chunk: ChunkStatistics, weight: Float32Array | null, sums: { sumDy: ArrayLike<number>; sumDyXhat: ArrayLike<number> }): void {
  const mean = block.view(SLOT.MEAN), a = block.view(SLOT.COEF_A), b = block.view(SLOT.COEF_B), k = block.view(SLOT.COEF_C);
  const inverseCount = 1 / chunk.count;
  for (let c = 0; c < g.C; c++) {
    const inv = chunk.invStd[c];
    const coefA = (weight ? weight[c] : 1) * (chunk.r ? chunk.r[c] : 1) * inv;
    mean[c] = chunk.mean[c];
    a[c] = coefA;
    b[c] = -coefA * inv * sums.sumDyXhat[c] * inverseCount;
    k[c] = -coefA * sums.sumDy[c] * inverseCount;
  }
  kernels().gradientChannels(offsetOf(x, g, chunk.n0), offsetOf(dy, g, chunk.n0), offsetOf(dx, g, chunk.n0), chunk.n, g.C, g.S, g.channelsLast,
    block.address(SLOT.MEAN), block.address(SLOT.COEF_A), block.address(SLOT.COEF_B), block.address(SLOT.COEF_C));
}

/** dweight and dbias of a chunk from its sums: sum dy * (xhat * r + d) and sum dy. */
export function parameterGradients(chunk: ChunkStatistics, sums: { sumDy: ArrayLike<number>; sumDyXhat: ArrayLike<number> }, into: { weight: Float64Array; bias: Float64Array }): void {
  for (let c = 0; c < into.weight.length; c++) {
    const r = chunk.r ? chunk.r[c] : 1, d = chunk.d ? chunk.d[c] : 0;
    into.weight[c] += chunk.r ? r * sums.sumDyXhat[c] + d * sums.sumDy[c] : sums.sumDyXhat[c];
    into.bias[c] += sums.sumDy[c];
  }
}

/** grad += float32(gradient), as autograd accumulates float32 gradients. */
export function accumulateInto(grad: Tensor, gradient: Float64Array): void {
  const view = grad.view();
  for (let c = 0; c < view.length; c++) view[c] = Math.fround(view[c] + Math.fround(gradient[c]));
  grad.markWritten();
}

/**
 * torch's running update from statistics (count, mean, biased variance):
 * running = (1 - factor) * running + factor * batch, the variance unbiased
 * (count / (count - 1), when count > 1) unless `unbiased` is false.
 */
export function foldRunning(runningMean: Tensor, runningVar: Tensor, factor: number, unbiased: boolean, count: number, mean: ArrayLike<number>, variance: ArrayLike<number>): void {
  const correction = unbiased && count > 1 ? count / (count - 1) : 1;
  const rm = runningMean.view(), rv = runningVar.view();
  for (let c = 0; c < rm.length; c++) {
    rm[c] = Math.fround(factor * mean[c] + (1 - factor) * rm[c]);
    rv[c] = Math.fround(factor * (variance[c] * correction) + (1 - factor) * rv[c]);
  }
  runningMean.markWritten();
  runningVar.markWritten();
}
