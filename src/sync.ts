// Synchronized BatchNorm for data-parallel training: each worker computes a
// small plain payload of per-channel statistics, the user's all-reduce merges
// them (Chan et al.'s parallel rule in float64), every worker normalizes with
// the merged statistics; backward all-reduces two per-channel sums. K workers
// with batches of B give the single-process K*B batch's results.
import { describeValue, fail } from "./errors.ts";
import { batchNormAccess as access, type BatchNorm, type ForwardOptions } from "./layers/batch-norm.ts";
import { allocateAll, checkInput, checkOutput } from "./ops/common.ts";
import { readOptions } from "./options.ts";
import { checkLayoutTag, checkSameShape, type Geometry } from "./shape.ts";
import { checkLayout, checkTensor, Tensor, zerosFor, type Layout } from "./tensor.ts";
import {
  accumulateInto, ChannelBlock, chunkGradient, chunkGradientSums, chunkMoments, foldRunning, inverseStd, normalizeChunk,
  type ChunkStatistics,
} from "./variants/engine.ts";

/** Per-channel statistics of some values: count, mean and M2 = sum (x - mean)^2. Plain: postMessage and JSON carry it. */
export interface StatisticsPayload {
  count: number;
  mean: number[];
  m2: number[];
}

/** The backward's per-channel sums: sum dy and sum dy * xhat. Plain, like StatisticsPayload. */
export interface GradientPayload {
  sumDy: number[];
  sumDyXhat: number[];
}

/**
 * The user's all-reduce: given this worker's payload, returns every worker's
 * payloads in a fixed (rank) order, or the already merged payload. Over
 * postMessage, a SharedArrayBuffer, WebRTC or a server alike.
 */
export type AllReduce = (payload: StatisticsPayload | GradientPayload, kind: "statistics" | "gradients") =>
  | readonly (StatisticsPayload | GradientPayload)[] | StatisticsPayload | GradientPayload
  | Promise<readonly (StatisticsPayload | GradientPayload)[] | StatisticsPayload | GradientPayload>;

function readNumbers(value: unknown, length: number | null, argument: string): number[] {
  const isArrayLike = Array.isArray(value) || value instanceof Float64Array || value instanceof Float32Array;
  if (!isArrayLike) fail("ERR_ARGUMENT", argument, `must be an array of numbers, got ${describeValue(value)}`);
  const values = Array.from(value as ArrayLike<unknown>);
  if (length !== null && values.length !== length) fail("ERR_CHANNELS", argument, `must hold ${length} values (one per channel), got ${values.length}`);
  values.forEach((v, i) => {
    if (typeof v !== "number") fail("ERR_ARGUMENT", `${argument}[${i}]`, `must be a number, got ${describeValue(v)}`);
  });
  return values as number[];
}

/** Checks and copies a statistics payload (channels: the expected count, or null for any). */
export function readStatisticsPayload(value: unknown, argument: string, channels: number | null = null): StatisticsPayload {
  if (typeof value !== "object" || value === null) fail("ERR_ARGUMENT", argument, `must be a statistics payload { count, mean, m2 }, got ${describeValue(value)}`);
  const v = value as Record<string, unknown>;
  const count = v.count;
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) fail("ERR_ARGUMENT", `${argument}.count`, `must be a non-negative integer, got ${describeValue(count)}`);
  const mean = readNumbers(v.mean, channels, `${argument}.mean`);
  const m2 = readNumbers(v.m2, mean.length, `${argument}.m2`);
  if (mean.length === 0) fail("ERR_CHANNELS", `${argument}.mean`, "must hold one value per channel, got none");
  return { count, mean, m2 };
}

function readGradientPayload(value: unknown, argument: string, channels: number | null): GradientPayload {
  if (typeof value !== "object" || value === null) fail("ERR_ARGUMENT", argument, `must be a gradient payload { sumDy, sumDyXhat }, got ${describeValue(value)}`);
  const v = value as Record<string, unknown>;
  const sumDy = readNumbers(v.sumDy, channels, `${argument}.sumDy`);
  return { sumDy, sumDyXhat: readNumbers(v.sumDyXhat, sumDy.length, `${argument}.sumDyXhat`) };
}

const LOCAL_KEYS = ["layout"] as const;

/** This worker's payload for x: exact per-channel count, mean and M2 (two float64 passes). */
export function localStatistics(x: Tensor, options?: { layout?: Layout }): StatisticsPayload {
  const o = readOptions(options, "options", LOCAL_KEYS);
  const layout = checkLayout(o.layout, "options.layout");
  const geometry = checkInput(x, layout, "x");
  return momentsOf(x, geometry);
}

function momentsOf(x: Tensor, g: Geometry): StatisticsPayload {
  if (g.count === 0) return { count: 0, mean: new Array(g.C).fill(0), m2: new Array(g.C).fill(0) };
  const block = new ChannelBlock(g.C, "x");
  try {
    const { count, mean, m2 } = chunkMoments(block, x, g, 0, g.N);
    return { count, mean: Array.from(mean), m2: Array.from(m2) };
  } finally {
    block.dispose();
  }
}

/**
 * Merges payloads in the given order with Chan et al.'s rule (float64):
 * n = na + nb, delta = mb - ma, mean = ma + delta * nb / n,
 * M2 = M2a + M2b + delta^2 * na * nb / n. Order-independent up to float64
 * rounding; the same order gives the same bits.
 */
export function mergeStatistics(payloads: readonly StatisticsPayload[]): StatisticsPayload {
  if (!Array.isArray(payloads) || payloads.length === 0) fail("ERR_ARGUMENT", "payloads", `must be a non-empty array of statistics payloads, got ${describeValue(payloads)}`);
  const first = readStatisticsPayload(payloads[0], "payloads[0]");
  const read = [first, ...payloads.slice(1).map((p, i) => readStatisticsPayload(p, `payloads[${i + 1}]`, first.mean.length))];
  const C = first.mean.length;
  let count = 0;
  const mean = new Array<number>(C).fill(0), m2 = new Array<number>(C).fill(0);
  for (const p of read) {
    if (p.count === 0) continue;
    const n = count + p.count;
    for (let c = 0; c < C; c++) {
      const delta = p.mean[c] - mean[c];
      mean[c] += (delta * p.count) / n;
      m2[c] += p.m2[c] + (delta * delta * count * p.count) / n;
    }
    count = n;
  }
  return { count, mean, m2 };
}

/** Sums gradient payloads in the given order (float64). */
export function mergeGradientSums(payloads: readonly GradientPayload[]): GradientPayload {
  if (!Array.isArray(payloads) || payloads.length === 0) fail("ERR_ARGUMENT", "payloads", `must be a non-empty array of gradient payloads, got ${describeValue(payloads)}`);
  const first = readGradientPayload(payloads[0], "payloads[0]", null);
  const read = [first, ...payloads.slice(1).map((p, i) => readGradientPayload(p, `payloads[${i + 1}]`, first.sumDy.length))];
  const C = first.sumDy.length;
  const sumDy = new Array<number>(C).fill(0), sumDyXhat = new Array<number>(C).fill(0);
  for (const p of read) {
    for (let c = 0; c < C; c++) {
      sumDy[c] += p.sumDy[c];
      sumDyXhat[c] += p.sumDyXhat[c];
    }
  }
  return { sumDy, sumDyXhat };
}

interface Saved {
  x: Tensor;
  xVersion: number;
  weightVersion: number;
  geometry: Geometry;
  chunk: ChunkStatistics;
}

/**
 * A BatchNorm layer's forward and backward synchronized over workers. The
 * layer keeps its parameters, running statistics, gradients and state dict;
 * every worker holds its own copy (same weights) and calls the same steps.
 * Forwards that normalize with running statistics (eval) are the layer's own.
 * weightGrad and biasGrad receive the all-reduced sums, which already are the
 * gradient of the whole K*B batch: average (do not sum) them over workers if
 * the training loop all-reduces every parameter gradient.
 */
export class SyncBatchNorm {
  readonly layer: BatchNorm;
  readonly #allReduce: AllReduce | null;
  #saved: Saved | null = null;

  constructor(layer: BatchNorm, allReduce?: AllReduce | null) {
    if (typeof layer !== "object" || layer === null || typeof (layer as BatchNorm).resolveForward !== "function") {
      fail("ERR_ARGUMENT", "layer", `must be a BatchNorm layer, got ${describeValue(layer)}`);
    }
    if (allReduce !== undefined && allReduce !== null && typeof allReduce !== "function") fail("ERR_ARGUMENT", "allReduce", `must be a function, got ${describeValue(allReduce)}`);
    access.assertUsable(layer, false, false);
    this.layer = layer;
    this.#allReduce = allReduce ?? null;
  }

  /** This worker's statistics payload for x (checked against the layer). */
  localStatistics(x: Tensor): StatisticsPayload {
    access.assertUsable(this.layer, false, false);
    const input = checkTensor(x, "x");
    return momentsOf(input, access.checkInput(this.layer, input, "x"));
  }

  /**
   * Normalizes x with the merged statistics (and folds them into the running
   * statistics when the layer's rules say so); keeps what backward needs.
   * Synchronous: the step after the all-reduce.
   */
  forwardWithStatistics(x: Tensor, statistics: StatisticsPayload, out?: Tensor | ForwardOptions): Tensor {
    const layer = this.layer;
    access.assertUsable(layer, layer.trackRunningStats, false);
    const input = checkTensor(x, "x");
    const geometry = access.checkInput(layer, input, "x");
    const merged = readStatisticsPayload(statistics, "statistics", layer.numFeatures);
    const plan = layer.resolveForward(out, { ...geometry, count: merged.count }, "statistics");
    if (!plan.useBatch) fail("ERR_ARGUMENT", "statistics", "the layer normalizes with running statistics here (eval mode or stats: \"running\"): call forward");
    if (merged.count < geometry.count) fail("ERR_ARGUMENT", "statistics.count", `must count at least this worker's ${geometry.count} values per channel, got ${merged.count}`);
    const y = checkOutput(plan.out, input, layer.layout, "out", "x") ?? zerosFor(input.shape, input.layout, "out");
    // Nothing below can fail.
    const variance = Float64Array.from(merged.m2, (m2) => (merged.count > 0 ? m2 / merged.count : Number.NaN));
    const mean = Float64Array.from(merged.count > 0 ? merged.mean : merged.mean.map(() => Number.NaN));
    const chunk: ChunkStatistics = { n0: 0, n: geometry.N, count: merged.count, mean, variance, invStd: variance.map((v) => inverseStd(v, layer.eps)), r: null, d: null };
    if (geometry.count > 0) {
      const block = new ChannelBlock(layer.numFeatures, "x");
      normalizeChunk(block, input, y, geometry, chunk, layer.weight?.toFloat32Array() ?? null, layer.bias?.toFloat32Array() ?? null);
      block.dispose();
    }
    y.markWritten();
    access.recordStatistics(layer, merged.count, mean, variance);
    if (plan.updating) {
      if (merged.count === 0) access.countBatch(layer);
      else if (layer.skipNonFiniteBatches && !(mean.every(Number.isFinite) && variance.every(Number.isFinite))) access.countSkipped(layer);
      else {
        const tracked = access.countBatch(layer);
        foldRunning(layer.runningMean!, layer.runningVar!, layer.momentum ?? 1 / tracked, layer.runningVariance === "unbiased", merged.count, mean, variance);
      }
    }
    access.dropForward(layer);
    this.#saved = { x: input, xVersion: input.version, weightVersion: layer.weight?.version ?? 0, geometry, chunk };
    return y;
  }

  /** forward: local statistics, the all-reduce, then forwardWithStatistics (or the layer's own forward with running statistics). */
  async forward(x: Tensor, out?: Tensor | ForwardOptions): Promise<Tensor> {
    const layer = this.layer;
    access.assertUsable(layer, layer.trackRunningStats, false);
    const input = checkTensor(x, "x");
    const geometry = access.checkInput(layer, input, "x");
    const plan = layer.resolveForward(out, { ...geometry, count: 2 }); // the batch size is checked on the merged count
    if (!plan.useBatch) {
      this.#saved = null;
      return layer.forward(input, out);
    }
    const allReduce = this.#requireAllReduce();
    const local = momentsOf(input, geometry);
    const reply = await allReduce(local, "statistics");
    const merged = Array.isArray(reply)
      ? mergeStatistics(reply as StatisticsPayload[])
      : readStatisticsPayload(reply, "allReduce()", layer.numFeatures);
    return this.forwardWithStatistics(input, merged, out);
  }

  /** This worker's backward sums for dy (after a synchronized forward): sum dy and sum dy * xhat per channel. */
  localGradientSums(dy: Tensor): GradientPayload {
    const saved = this.#checkSaved();
    const gradient = this.#checkGradient(dy, saved);
    const block = new ChannelBlock(this.layer.numFeatures, "dy");
    try {
      if (saved.geometry.count === 0) return { sumDy: new Array(this.layer.numFeatures).fill(0), sumDyXhat: new Array(this.layer.numFeatures).fill(0) };
      const sums = chunkGradientSums(block, saved.x, gradient, saved.geometry, saved.chunk);
      return { sumDy: Array.from(sums.sumDy), sumDyXhat: Array.from(sums.sumDyXhat) };
    } finally {
      block.dispose();
    }
  }

  /**
   * dx from the all-reduced sums (the whole batch's dbias and dweight, which
   * are added to the layer's gradients). Consumes the saved forward.
   */
  backwardWithSums(dy: Tensor, sums: GradientPayload, out?: Tensor): Tensor {
    const saved = this.#checkSaved();
    const gradient = this.#checkGradient(dy, saved);
    const layer = this.layer;
    const merged = readGradientPayload(sums, "sums", layer.numFeatures);
    const given = checkOutput(out, saved.x, layer.layout, "out", "the forward input");
    const [made, block] = allocateAll<Tensor | ChannelBlock | null>([
      () => (given ? null : zerosFor(saved.x.shape, saved.x.layout, "out")),
      () => new ChannelBlock(layer.numFeatures, "dy"),
    ]) as [Tensor | null, ChannelBlock];
    try {
      access.ensureGradients(layer);
    } catch (error) {
      made?.dispose();
      block.dispose();
      throw error;
    }
    const dx = given ?? made!;
    if (saved.geometry.count > 0) chunkGradient(block, saved.x, gradient, dx, saved.geometry, saved.chunk, layer.weight?.toFloat32Array() ?? null, merged);
    block.dispose();
    dx.markWritten();
    if (layer.weightGrad && layer.biasGrad) {
      accumulateInto(layer.weightGrad, Float64Array.from(merged.sumDyXhat));
      accumulateInto(layer.biasGrad, Float64Array.from(merged.sumDy));
    }
    this.#saved = null;
    return dx;
  }

  /** backward: local sums, the all-reduce, then backwardWithSums (or the layer's own backward after an eval forward). */
  async backward(dy: Tensor, out?: Tensor): Promise<Tensor> {
    if (this.#saved === null) return this.layer.backward(dy, out);
    const allReduce = this.#requireAllReduce();
    const local = this.localGradientSums(dy);
    if (out !== undefined) checkOutput(out, this.#saved.x, this.layer.layout, "out", "the forward input");
    const reply = await allReduce(local, "gradients");
    const merged = Array.isArray(reply) ? mergeGradientSums(reply as GradientPayload[]) : readGradientPayload(reply, "allReduce()", this.layer.numFeatures);
    return this.backwardWithSums(dy, merged, out);
  }

  #requireAllReduce(): AllReduce {
    if (this.#allReduce === null) fail("ERR_ARGUMENT", "allReduce", "forward and backward need the all-reduce given to the constructor (or use localStatistics and forwardWithStatistics)");
    return this.#allReduce;
  }

  #checkSaved(): Saved {
    access.assertUsable(this.layer, false, true);
    const saved = this.#saved ?? fail("ERR_NO_FORWARD", "dy", "backward needs a synchronized forward first (each forward allows one backward)");
    if (saved.x.disposed) fail("ERR_NO_FORWARD", "dy", "the input of the forward was disposed");
    if (saved.x.version !== saved.xVersion) fail("ERR_NO_FORWARD", "dy", "the input of the forward was modified since (e.g. used as an output)");
    if ((this.layer.weight?.version ?? 0) !== saved.weightVersion) fail("ERR_NO_FORWARD", "dy", "the weight was modified since the forward");
    return saved;
  }

  #checkGradient(dy: unknown, saved: Saved): Tensor {
    const gradient = checkTensor(dy, "dy");
    checkSameShape(gradient, saved.x.shape, "dy", "the forward input");
    checkLayoutTag(gradient, this.layer.layout, "dy");
    return gradient;
  }
}
