// BatchNorm variants on the chunk engine: batch renormalization (Ioffe 2017)
// and ghost batch norm (statistics per virtual batch). Both are BatchNorm
// layers (same state dict, eval forward, zeroGrad, dispose); only a forward
// with batch statistics, and its backward, differ.
import { describeValue, fail } from "../errors.ts";
import { batchNormAccess as access, BatchNorm, type BatchNormOptions, type ForwardOptions } from "../layers/batch-norm.ts";
import { allocateAll, checkOutput } from "../ops/common.ts";
import { checkLayoutTag, checkSameShape, type Geometry } from "../shape.ts";
import { checkTensor, Tensor, zerosFor } from "../tensor.ts";
import {
  accumulateInto, ChannelBlock, chunkGradient, chunkGradientSums, chunkMoments, foldRunning, inverseStd, normalizeChunk, parameterGradients,
  type ChunkStatistics,
} from "./engine.ts";

/** rmax and dmax of one training step. */
export interface RenormLimits {
  rmax: number;
  dmax: number;
}

export interface BatchRenormOptions extends BatchNormOptions {
  /** Clip of r to [1 / rmax, rmax]; default 1 (r = 1: plain BN until raised). */
  rmax?: number;
  /** Clip of d to [-dmax, dmax]; default 0. */
  dmax?: number;
  /** When given, rmax and dmax of each training forward: schedule(numBatchesTracked). */
  schedule?: ((step: number) => RenormLimits) | null;
  /** Ghost batches within the renormalized batch (see GhostBatchNorm); default: the whole batch. */
  virtualBatchSize?: number | null;
}

export interface GhostBatchNormOptions extends BatchNormOptions {
  /** Samples per ghost batch; the last ghost batch holds the rest. */
  virtualBatchSize: number;
}

/**
 * The paper's schedule: rmax 1 and dmax 0 for `warmup` steps, then linear
 * ramps to `rmax` (reached at step `rmaxSteps`) and `dmax` (at `dmaxSteps`).
 * Defaults: 5000, 3, 5, 40000, 25000 (Ioffe 2017, section 4).
 */
export function renormSchedule(options?: { warmup?: number; rmax?: number; dmax?: number; rmaxSteps?: number; dmaxSteps?: number }): (step: number) => RenormLimits {
  const o = options ?? {};
  const warmup = readCount(o.warmup ?? 5000, "options.warmup");
  const rmax = readRmax(o.rmax ?? 3, "options.rmax"), dmax = readDmax(o.dmax ?? 5, "options.dmax");
  const rmaxSteps = readCount(o.rmaxSteps ?? 40000, "options.rmaxSteps"), dmaxSteps = readCount(o.dmaxSteps ?? 25000, "options.dmaxSteps");
  const ramp = (step: number, end: number) => (end <= warmup ? 1 : Math.min(1, Math.max(0, (step - warmup) / (end - warmup))));
  return (step) => ({ rmax: 1 + (rmax - 1) * (step < warmup ? 0 : ramp(step, rmaxSteps)), dmax: dmax * (step < warmup ? 0 : ramp(step, dmaxSteps)) });
}

function readCount(value: unknown, argument: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) fail("ERR_ARGUMENT", argument, `must be a non-negative integer, got ${describeValue(value)}`);
  return value;
}

function readRmax(value: unknown, argument: string): number {
  if (typeof value !== "number" || !(value >= 1) || !Number.isFinite(value)) fail("ERR_ARGUMENT", argument, `must be a finite number >= 1, got ${describeValue(value)}`);
  return value;
}

function readDmax(value: unknown, argument: string): number {
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) fail("ERR_ARGUMENT", argument, `must be a finite number >= 0, got ${describeValue(value)}`);
  return value;
}

function readVirtualBatchSize(value: unknown, argument: string, required: boolean): number | null {
  if ((value === undefined || value === null) && !required) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) fail("ERR_ARGUMENT", argument, `must be a positive integer, got ${describeValue(value)}`);
  return value;
}

/** Splits off the variant's own keys (checked) from the options BatchNorm reads. */
function splitOptions(options: unknown, own: readonly string[]): [Record<string, unknown>, BatchNormOptions | undefined] {
  if (options === undefined) return [{}, undefined];
  if (typeof options !== "object" || options === null || Array.isArray(options)) return [{}, options as BatchNormOptions]; // BatchNorm reports it
  const mine: Record<string, unknown> = {}, rest: Record<string, unknown> = {};
  for (const key of Object.keys(options)) ((own.includes(key) ? mine : rest) as Record<string, unknown>)[key] = (options as Record<string, unknown>)[key];
  return [mine, rest as BatchNormOptions];
}

interface Saved {
  x: Tensor;
  xVersion: number;
  weightVersion: number;
  geometry: Geometry;
  chunks: ChunkStatistics[];
}

interface Variant {
  virtualBatchSize: number | null;
  renorm: boolean;
}

/** The shared implementation: chunks of samples, each normalized with its own statistics (and r, d for renorm). */
class ChunkedBatchNorm extends BatchNorm {
  readonly #variant: Variant;
  #block: ChannelBlock;
  #saved: Saved | null = null;
  /** Limits of the last renormalized forward (read by the layer's getters). */
  protected limits: RenormLimits = { rmax: 1, dmax: 0 };
  protected schedule: ((step: number) => RenormLimits) | null = null;

  constructor(numFeatures: number, options: BatchNormOptions | undefined, variant: Variant) {
    super(numFeatures, options);
    this.#variant = variant;
    try {
      this.#block = new ChannelBlock(numFeatures, "numFeatures");
    } catch (error) {
      super.dispose();
      throw error;
    }
  }

  override forward(x: Tensor, out?: Tensor | ForwardOptions): Tensor {
    access.assertUsable(this, this.trackRunningStats, false);
    const input = checkTensor(x, "x");
    const geometry = access.checkInput(this, input, "x");
    const plan = this.resolveForward(out, geometry);
    if (!plan.useBatch || geometry.count === 0) {
      this.#saved = null;
      return super.forward(x, out);
    }
    const { N, S, C } = geometry;
    const size = this.#variant.virtualBatchSize ?? N;
    const starts: number[] = [];
    for (let n0 = 0; n0 < N; n0 += size) starts.push(n0);
    if (S * Math.min(size, N - starts[starts.length - 1]) === 1 && this.singleSample === "throw") {
      fail("ERR_SINGLE_VALUE", "x", `expected more than 1 value per channel in each ${this.#variant.virtualBatchSize === null ? "batch" : "ghost batch"} when using batch statistics, got 1`);
    }
    let limits = this.limits;
    if (this.#variant.renorm && this.schedule) {
      const scheduled: unknown = this.schedule(this.numBatchesTracked);
      const s = scheduled as Partial<RenormLimits> | null;
      if (typeof s !== "object" || s === null) fail("ERR_ARGUMENT", "schedule", `must return { rmax, dmax }, got ${describeValue(scheduled)}`);
      limits = { rmax: readRmax(s.rmax, "schedule().rmax"), dmax: readDmax(s.dmax, "schedule().dmax") };
    }
    if (this.#variant.renorm && !this.trackRunningStats) fail("ERR_ARGUMENT", "this", "batch renormalization needs running statistics");
    const y = checkOutput(plan.out, input, this.layout, "out", "x") ?? zerosFor(input.shape, input.layout, "out");
    // Nothing below can fail.
    if (this.#variant.renorm) this.limits = limits;
    const weight = this.weight?.toFloat32Array() ?? null, bias = this.bias?.toFloat32Array() ?? null;
    const chunks: ChunkStatistics[] = [];
    for (const n0 of starts) {
      const n = Math.min(size, N - n0);
      const moments = chunkMoments(this.#block, input, geometry, n0, n);
      const variance = moments.m2.map((m2) => m2 / moments.count);
      const invStd = variance.map((v) => inverseStd(v, this.eps));
      let r: Float64Array | null = null, d: Float64Array | null = null;
      if (this.#variant.renorm) {
        // r and d from the running statistics before this batch's update.
        const rm = this.runningMean!.toFloat32Array(), rv = this.runningVar!.toFloat32Array();
        r = new Float64Array(C);
        d = new Float64Array(C);
        for (let c = 0; c < C; c++) {
          const sigma = Math.sqrt(rv[c] + this.eps), sigmaB = Math.sqrt(variance[c] + this.eps);
          r[c] = Math.min(limits.rmax, Math.max(1 / limits.rmax, sigmaB / sigma));
          d[c] = Math.min(limits.dmax, Math.max(-limits.dmax, (moments.mean[c] - rm[c]) / sigma));
        }
      }
      const chunk: ChunkStatistics = { n0, n, count: moments.count, mean: moments.mean, variance, invStd, r, d };
      normalizeChunk(this.#block, input, y, geometry, chunk, weight, bias);
      chunks.push(chunk);
      access.recordStatistics(this, moments.count, moments.mean, variance);
      if (plan.updating) this.#fold(chunk);
    }
    y.markWritten();
    access.dropForward(this);
    this.#saved = { x: input, xVersion: input.version, weightVersion: this.weight?.version ?? 0, geometry, chunks };
    return y;
  }

  override backward(dy: Tensor, out?: Tensor): Tensor {
    const saved = this.#saved;
    if (saved === null) return super.backward(dy, out);
    access.assertUsable(this, false, true);
    if (saved.x.disposed) fail("ERR_NO_FORWARD", "dy", "the input of the last forward was disposed");
    if (saved.x.version !== saved.xVersion) fail("ERR_NO_FORWARD", "dy", "the input of the last forward was modified since (e.g. used as an output)");
    if ((this.weight?.version ?? 0) !== saved.weightVersion) fail("ERR_NO_FORWARD", "dy", "the weight was modified since the last forward");
    const gradient = checkTensor(dy, "dy");
    checkSameShape(gradient, saved.x.shape, "dy", "the forward input");
    checkLayoutTag(gradient, this.layout, "dy");
    const given = checkOutput(out, saved.x, this.layout, "out", "the forward input");
    const [made] = allocateAll<Tensor | null>([() => (given ? null : zerosFor(saved.x.shape, saved.x.layout, "out"))]);
    try {
      access.ensureGradients(this);
    } catch (error) {
      made?.dispose();
      throw error;
    }
    const dx = given ?? made!;
    const weight = this.weight?.toFloat32Array() ?? null;
    const C = this.numFeatures;
    const totals = { weight: new Float64Array(C), bias: new Float64Array(C) };
    for (const chunk of saved.chunks) {
      const sums = chunkGradientSums(this.#block, saved.x, gradient, saved.geometry, chunk);
      parameterGradients(chunk, sums, totals);
      chunkGradient(this.#block, saved.x, gradient, dx, saved.geometry, chunk, weight, sums);
    }
    dx.markWritten();
    if (this.weightGrad && this.biasGrad) {
      accumulateInto(this.weightGrad, totals.weight);
      accumulateInto(this.biasGrad, totals.bias);
    }
    this.#saved = null;
    return dx;
  }

  override dispose(): void {
    this.#block?.dispose();
    this.#saved = null;
    super.dispose();
  }

  #fold(chunk: ChunkStatistics): void {
    if (this.skipNonFiniteBatches && !(chunk.mean.every(Number.isFinite) && chunk.variance.every(Number.isFinite))) {
      access.countSkipped(this);
      return;
    }
    const tracked = access.countBatch(this);
    const factor = this.momentum ?? 1 / tracked;
    foldRunning(this.runningMean!, this.runningVar!, factor, this.runningVariance === "unbiased", chunk.count, chunk.mean, chunk.variance);
  }
}

/**
 * Batch renormalization (Ioffe 2017): training forwards normalize with the
 * batch statistics corrected towards the running ones,
 * xhat = (x - mu_B) / sigma_B * r + d, r = clip(sigma_B / sigma, 1/rmax, rmax),
 * d = clip((mu_B - mu) / sigma, -dmax, dmax), sigma = sqrt(running_var + eps),
 * with r and d constants in backward. rmax and dmax are settable between
 * steps, or given per step by `schedule`. Eval mode is plain BatchNorm.
 */
export class BatchRenorm extends ChunkedBatchNorm {
  constructor(numFeatures: number, options?: BatchRenormOptions) {
    const [own, rest] = splitOptions(options, ["rmax", "dmax", "schedule", "virtualBatchSize"]);
    const rmax = readRmax(own.rmax ?? 1, "options.rmax"), dmax = readDmax(own.dmax ?? 0, "options.dmax");
    const schedule = own.schedule ?? null;
    if (schedule !== null && typeof schedule !== "function") fail("ERR_ARGUMENT", "options.schedule", `must be a function (step) => { rmax, dmax } or null, got ${describeValue(schedule)}`);
    const virtualBatchSize = readVirtualBatchSize(own.virtualBatchSize, "options.virtualBatchSize", false);
    if (rest && (rest as BatchNormOptions).trackRunningStats === false) fail("ERR_ARGUMENT", "options.trackRunningStats", "batch renormalization needs running statistics");
    super(numFeatures, rest, { virtualBatchSize, renorm: true });
    this.limits = { rmax, dmax };
    this.schedule = schedule as ((step: number) => RenormLimits) | null;
  }

  /** rmax of the next forward (without a schedule) or of the last one (with a schedule). */
  get rmax(): number { return this.limits.rmax; }
  set rmax(value: number) { this.limits = { ...this.limits, rmax: readRmax(value, "rmax") }; }
  get dmax(): number { return this.limits.dmax; }
  set dmax(value: number) { this.limits = { ...this.limits, dmax: readDmax(value, "dmax") }; }
}

/**
 * Ghost batch norm (Hoffer et al. 2017): a training forward splits the batch
 * into ghost batches of `virtualBatchSize` samples, normalizes each with its
 * own statistics and folds each into the running statistics (one update, and
 * one num_batches_tracked, per ghost batch). Eval mode is plain BatchNorm.
 */
export class GhostBatchNorm extends ChunkedBatchNorm {
  constructor(numFeatures: number, options: GhostBatchNormOptions) {
    if (typeof options !== "object" || options === null) fail("ERR_ARGUMENT", "options", `must be an options object with virtualBatchSize, got ${describeValue(options)}`);
    const [own, rest] = splitOptions(options, ["virtualBatchSize"]);
    const virtualBatchSize = readVirtualBatchSize(own.virtualBatchSize, "options.virtualBatchSize", true);
    super(numFeatures, rest, { virtualBatchSize, renorm: false });
  }
}
