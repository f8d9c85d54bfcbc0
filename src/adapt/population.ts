// Exact population statistics ("precise BN", the BN paper's inference
// procedure): per-batch count, mean and M2 merged over any number of batches
// with Chan et al.'s parallel rule in float64, so the result does not depend
// on how the data were split beyond float64 rounding.
import { describeValue, fail } from "../errors.ts";
import { batchNormAccess as access, type BatchNorm, type BatchStatistics } from "../layers/batch-norm.ts";
import { checkTensor, Tensor } from "../tensor.ts";
import { localStatistics, mergeStatistics, readStatisticsPayload, type StatisticsPayload } from "../sync.ts";

/** A running merge of per-channel statistics (count, mean, M2) in float64. */
export class PopulationStatistics {
  readonly channels: number;
  #merged: StatisticsPayload;
  #batches = 0;

  constructor(channels: number) {
    if (typeof channels !== "number" || !Number.isSafeInteger(channels) || channels < 1) fail("ERR_ARGUMENT", "channels", `must be a positive integer, got ${describeValue(channels)}`);
    this.channels = channels;
    this.#merged = { count: 0, mean: new Array(channels).fill(0), m2: new Array(channels).fill(0) };
  }

  /**
   * Adds a batch: a tensor (its exact statistics, channels-first unless
   * `layout` says otherwise), a layer's lastBatchStatistics ({ count, mean,
   * biased variance }) or a payload ({ count, mean, m2 }).
   */
  add(batch: Tensor | BatchStatistics | StatisticsPayload, options?: { layout?: "channels-first" | "channels-last" }, argument = "batch"): this {
    this.#merged = mergeStatistics([this.#merged, toPayload(batch, argument, this.channels, options)]);
    this.#batches += 1;
    return this;
  }

  /** Batches added so far. */
  get batches(): number { return this.#batches; }
  /** Values per channel added so far. */
  get count(): number { return this.#merged.count; }
  get mean(): Float64Array { return Float64Array.from(this.#merged.count > 0 ? this.#merged.mean : this.#merged.mean.map(() => Number.NaN)); }
  /** Biased (population) variance, or unbiased (M2 / (count - 1)) with `unbiased`. */
  variance(unbiased = false): Float64Array {
    const n = this.#merged.count - (unbiased ? 1 : 0);
    return Float64Array.from(this.#merged.m2, (m2) => (n > 0 ? m2 / n : Number.NaN));
  }

  /** The merged payload (plain; mergeable with other workers' by mergeStatistics). */
  toPayload(): StatisticsPayload {
    return { count: this.#merged.count, mean: this.#merged.mean.slice(), m2: this.#merged.m2.slice() };
  }

  /**
   * Writes the statistics into `layer`'s running mean and variance (unbiased
   * or biased as layer.runningVariance says). num_batches_tracked is kept.
   */
  applyTo(layer: BatchNorm): void {
    access.assertUsable(layer, true, false);
    if (!layer.runningMean || !layer.runningVar) fail("ERR_ARGUMENT", "layer", "has no running statistics (trackRunningStats: false)");
    if (layer.numFeatures !== this.channels) fail("ERR_CHANNELS", "layer", `has ${layer.numFeatures} channels, the statistics ${this.channels}`);
    if (this.#merged.count === 0) fail("ERR_ARGUMENT", "batches", "no values were added");
    const mean = this.mean, variance = this.variance(layer.runningVariance === "unbiased" && this.#merged.count > 1);
    layer.runningMean.set(Float32Array.from(mean));
    layer.runningVar.set(Float32Array.from(variance));
  }
}

function toPayload(batch: unknown, argument: string, channels: number, options?: { layout?: "channels-first" | "channels-last" }): StatisticsPayload {
  if (Tensor.isTensor(batch)) {
    const payload = localStatistics(checkTensor(batch, argument), options);
    if (payload.mean.length !== channels) fail("ERR_CHANNELS", argument, `has ${payload.mean.length} channels, expected ${channels}`);
    return payload;
  }
  if (typeof batch === "object" && batch !== null && "variance" in batch) {
    const b = batch as { count?: unknown; mean?: unknown; variance?: unknown };
    const variance = b.variance;
    const payload = readStatisticsPayload({ count: b.count, mean: b.mean, m2: variance }, argument, channels);
    return { ...payload, m2: payload.m2.map((v) => v * payload.count) };
  }
  return readStatisticsPayload(batch, argument, channels);
}

/**
 * Resets `layer`'s running statistics to the exact statistics of every batch
 * in `batches` (tensors as the layer sees them, or their statistics), merged
 * in float64; stores the unbiased or the biased variance as
 * layer.runningVariance says. Every batch is read and checked before the
 * layer changes. Returns the population statistics.
 */
export function recomputeStatistics(layer: BatchNorm, batches: Iterable<Tensor | BatchStatistics | StatisticsPayload>): PopulationStatistics {
  if (typeof layer !== "object" || layer === null || typeof (layer as BatchNorm).resolveForward !== "function") fail("ERR_ARGUMENT", "layer", `must be a BatchNorm layer, got ${describeValue(layer)}`);
  access.assertUsable(layer, true, false);
  if (batches === null || typeof batches !== "object" || typeof (batches as Iterable<unknown>)[Symbol.iterator] !== "function") {
    fail("ERR_ARGUMENT", "batches", `must be an iterable of tensors or statistics, got ${describeValue(batches)}`);
  }
  const population = new PopulationStatistics(layer.numFeatures);
  let i = 0;
  for (const batch of batches) {
    if (Tensor.isTensor(batch)) access.checkInput(layer, checkTensor(batch, `batches[${i}]`), `batches[${i}]`);
    population.add(batch as Tensor, { layout: layer.layout }, `batches[${i}]`);
    i++;
  }
  population.applyTo(layer);
  return population;
}
