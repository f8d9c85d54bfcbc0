// A BatchNorm layer with torch.nn.BatchNorm1d/2d/3d semantics: parameters,
// running statistics, train/eval modes, backward that accumulates gradients.
// Every public call reads and checks everything it will use (the layer's own
// tensors included), allocates all it needs, and only then writes: a rejected
// call changes nothing.
import { describeValue, fail } from "../errors.ts";
import { allocateAll, checkBatchSize, checkMomentum, checkOutput, RUNNING_VARIANCES, type RunningVariance } from "../ops/common.ts";
import { markEmptyStatistics } from "../ops/batch-norm.ts";
import { forget, releaseWhenCollected } from "../memory.ts";
import { readChoice, readFlag, readOptions } from "../options.ts";
import { checkEps, checkLayoutTag, checkSameShape, geometryOf, type Geometry } from "../shape.ts";
import { checkLayout, checkTensor, Tensor, zerosFor, type Layout } from "../tensor.ts";
import { keep } from "../tidy.ts";
import { kernels } from "../wasm.ts";
import { ChannelWorkspace, F64, MAX_CHANNELS } from "../workspace.ts";
import { ownLive, readBatchCount, stageArray } from "./common.ts";
import { registerParameter } from "../parameters.ts";
import { planStateLoad, type LoadStateDictOptions, type LoadStateDictResult } from "../state/load.ts";
import { withJSON } from "../state/json.ts";

/** Options; `Affine` and `Track` are the literal types of `affine` and `trackRunningStats`, for the parameter accessors' types. */
export interface BatchNormOptions<Affine extends boolean = boolean, Track extends boolean = boolean> {
  /** Added to the variance; default 1e-5. */
  eps?: number;
  /** Weight of the new batch in the running statistics (PyTorch's meaning), default 0.1; null = cumulative average. */
  momentum?: number | null;
  /** Learnable weight (gamma) and bias (beta); default true. */
  affine?: Affine;
  /** Keep running mean/variance for eval mode; default true. Without them eval uses batch statistics. */
  trackRunningStats?: Track;
  /** "channels-first" [N, C, ...] (default) or "channels-last" [N, ..., C]. */
  layout?: Layout;
  /** Variance folded into running_var: "unbiased" (PyTorch, default) or "biased" (Keras, ONNX). */
  runningVariance?: RunningVariance;
  /**
   * Leave the running statistics (and num_batches_tracked) untouched when a
   * training batch's mean or variance is not finite in some channel, and count
   * it in `skippedBatches`. Default false: PyTorch folds such a batch in.
   */
  skipNonFiniteBatches?: boolean;
  /**
   * Which statistics normalize, whatever train()/eval() says: "batch" or
   * "running" (needs trackRunningStats). Default (undefined or null): the mode
   * decides, as in torch (training: batch; eval: running when tracked).
   */
  stats?: StatsSource | null;
  /**
   * Whether a forward folds its batch statistics into the running statistics,
   * whatever the mode (true needs trackRunningStats; with stats "running" the
   * batch statistics are computed for the update only). Default (undefined or
   * null): torch's rule, training mode with trackRunningStats.
   */
  updateRunningStats?: boolean | null;
  /**
   * A batch with one value per channel where batch statistics are needed:
   * "throw" (torch's ERR_SINGLE_VALUE, default), "running" (normalize with the
   * running statistics, no update; needs trackRunningStats) or
   * "zero-variance" (ONNX: variance 0, so y = bias and dx = 0; a running
   * update folds in the value and variance 0).
   */
  singleSample?: SingleSamplePolicy;
}

export const STATS_SOURCES = ["batch", "running"] as const;
export type StatsSource = (typeof STATS_SOURCES)[number];
export const SINGLE_SAMPLE_POLICIES = ["throw", "running", "zero-variance"] as const;
export type SingleSamplePolicy = (typeof SINGLE_SAMPLE_POLICIES)[number];

/** Per-call choices of forward (its second argument may be these options or the output tensor). */
export interface ForwardOptions {
  out?: Tensor;
  /** Overrides the layer's stats for this call. */
  stats?: StatsSource | null;
  /** Overrides the layer's updateRunningStats for this call. */
  updateRunningStats?: boolean | null;
}

const FORWARD_KEYS = ["out", "stats", "updateRunningStats"] as const;

const OPTION_KEYS = [
  "eps", "momentum", "affine", "trackRunningStats", "layout", "runningVariance", "skipNonFiniteBatches", "stats", "updateRunningStats", "singleSample",
] as const;

export interface BatchNormState {
  weight?: ArrayLike<number> | Tensor;
  bias?: ArrayLike<number> | Tensor;
  running_mean?: ArrayLike<number> | Tensor;
  running_var?: ArrayLike<number> | Tensor;
  num_batches_tracked?: number | bigint;
}

type StateKey = "weight" | "bias" | "running_mean" | "running_var" | "num_batches_tracked";

/** Per-channel statistics of a batch: values per channel, mean and biased variance in float64. */
export interface BatchStatistics {
  count: number;
  mean: Float64Array;
  variance: Float64Array;
}

interface SavedForward {
  mode: "batch" | "running";
  x: Tensor;
  xVersion: number;
  weightVersion: number;
  geometry: Geometry;
}

interface Config {
  numFeatures: number;
  eps: number;
  momentum: number | null;
  affine: boolean;
  trackRunningStats: boolean;
  layout: Layout;
  runningVariance: RunningVariance;
  skipNonFiniteBatches: boolean;
  stats: StatsSource | null;
  updateRunningStats: boolean | null;
  singleSample: SingleSamplePolicy;
}

/** A forward's resolved choices (see BatchNorm.resolveForward). */
export interface ForwardPlan {
  out: Tensor | undefined;
  /** Normalize with batch statistics (false: running). */
  useBatch: boolean;
  /** Fold the batch statistics into the running statistics. */
  updating: boolean;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

function readStats(value: unknown, argument: string, tracked: boolean): StatsSource | null {
  if (value === undefined || value === null) return null;
  const stats = readChoice(value, argument, STATS_SOURCES, "batch");
  if (stats === "running" && !tracked) fail("ERR_ARGUMENT", argument, `"running" needs running statistics (the layer has trackRunningStats: false)`);
  return stats;
}

function readUpdate(value: unknown, argument: string, tracked: boolean): boolean | null {
  if (value === undefined || value === null) return null;
  const update = readFlag(value, argument, false);
  if (update && !tracked) fail("ERR_ARGUMENT", argument, "true needs running statistics (the layer has trackRunningStats: false)");
  return update;
}

function readConfig(numFeatures: unknown, options: unknown): Config {
  if (typeof numFeatures !== "number" || !Number.isSafeInteger(numFeatures) || numFeatures < 1 || numFeatures > MAX_CHANNELS) {
    fail("ERR_ARGUMENT", "numFeatures", `must be an integer from 1 to ${MAX_CHANNELS}, got ${describeValue(numFeatures)}`);
  }
  const o = readOptions(options, "options", OPTION_KEYS);
  return {
    numFeatures,
    eps: checkEps(o.eps ?? 1e-5, "options.eps"),
    momentum: checkMomentum(o.momentum === undefined ? 0.1 : o.momentum, "options.momentum", true),
    affine: readFlag(o.affine, "options.affine", true),
    trackRunningStats: readFlag(o.trackRunningStats, "options.trackRunningStats", true),
    layout: checkLayout(o.layout, "options.layout"),
    runningVariance: readChoice(o.runningVariance, "options.runningVariance", RUNNING_VARIANCES, "unbiased"),
    skipNonFiniteBatches: readFlag(o.skipNonFiniteBatches, "options.skipNonFiniteBatches", false),
    ...readModeOptions(o),
  };
}

function readModeOptions(o: Partial<Record<(typeof OPTION_KEYS)[number], unknown>>): Pick<Config, "stats" | "updateRunningStats" | "singleSample"> {
  const tracked = readFlag(o.trackRunningStats, "options.trackRunningStats", true);
  const singleSample = readChoice(o.singleSample, "options.singleSample", SINGLE_SAMPLE_POLICIES, "throw");
  if (singleSample === "running" && !tracked) fail("ERR_ARGUMENT", "options.singleSample", `"running" needs running statistics (trackRunningStats: false)`);
  return {
    stats: readStats(o.stats, "options.stats", tracked),
    updateRunningStats: readUpdate(o.updateRunningStats, "options.updateRunningStats", tracked),
    singleSample,
  };
}

/** Module-private access to a layer's state for src/variants and src/sync.ts (not exported from the package). */
export interface BatchNormAccess {
  /** Rank and channel checks of the layer (ERR_RANK, ERR_CHANNELS naming `argument`). */
  checkInput(layer: BatchNorm, x: Tensor, argument: string): Geometry;
  /** ERR_DISPOSED for a disposed layer or a disposed own tensor. */
  assertUsable(layer: BatchNorm, runningStatistics: boolean, gradients: boolean): void;
  /** Allocates weightGrad and biasGrad (both or neither) when affine and not yet made. */
  ensureGradients(layer: BatchNorm): void;
  /** num_batches_tracked += 1; returns the new count. */
  countBatch(layer: BatchNorm): number;
  /** skippedBatches += 1. */
  countSkipped(layer: BatchNorm): void;
  /** The pending forward of the layer itself is gone (a variant's forward replaced it). */
  dropForward(layer: BatchNorm): void;
  recordStatistics(layer: BatchNorm, count: number, mean: Float64Array, variance: Float64Array): void;
}
export let batchNormAccess: BatchNormAccess;

function filled(channels: number, value: number): Float32Array {
  return new Float32Array(channels).fill(value);
}

const allFinite = (values: Float64Array): boolean => values.every(Number.isFinite);

/** The rank-agnostic layer: ranks 2 to 5. BatchNorm1d/2d/3d add torch's rank checks. */
export class BatchNorm {
  readonly #config: Config;
  #training = true;
  #weight: Tensor | null;
  #bias: Tensor | null;
  #weightGrad: Tensor | null = null;
  #biasGrad: Tensor | null = null;
  #runningMean: Tensor | null;
  #runningVar: Tensor | null;
  #numBatchesTracked = 0;
  #skippedBatches = 0;
  #workspace: ChannelWorkspace;
  /** The last forward, reused between calls; valid while #hasSaved. */
  #saved: SavedForward | null = null;
  #hasSaved = false;
  /**
   * The last input forward validated, its geometry, and the output validated
   * against it. A tensor's shape and layout are frozen, so the same tensors
   * need only their liveness checked again (the fixed cost of small calls).
   * The output is held weakly: the layer must not keep a dropped tensor alive.
   */
  #checkedInput: Tensor | null = null;
  #checkedGeometry: Geometry | null = null;
  #checkedOutput: WeakRef<Tensor> | null = null;
  /** Versions of weight, bias, running mean and running var the cached eval coefficients were made from. */
  #evalVersions = new Float64Array([-1, -1, -1, -1]);
  /** Statistics of the last forward that used batch statistics (count -1: none yet). */
  #lastCount = -1;
  #lastMean: Float64Array | null = null;
  #lastVariance: Float64Array | null = null;
  #stats: StatsSource | null;
  #updateRunningStats: boolean | null;
  #singleSample: SingleSamplePolicy;
  #disposed = false;

  static {
    batchNormAccess = {
      checkInput: (layer, x, argument) => layer.#checkInput(x, argument),
      assertUsable: (layer, runningStatistics, gradients) => {
        layer.#assertLive();
        layer.#assertOwnLive(runningStatistics, gradients);
      },
      ensureGradients: (layer) => {
        if (!layer.affine || layer.#weightGrad !== null) return;
        const C = layer.numFeatures;
        const [weightGrad, biasGrad] = allocateAll<Tensor>([
          () => keep(zerosFor([C], undefined, "this.weightGrad")),
          () => keep(zerosFor([C], undefined, "this.biasGrad")),
        ]);
        layer.#weightGrad = weightGrad;
        layer.#biasGrad = biasGrad;
      },
      countBatch: (layer) => ++layer.#numBatchesTracked,
      countSkipped: (layer) => void (layer.#skippedBatches += 1),
      dropForward: (layer) => void (layer.#hasSaved = false),
      recordStatistics: (layer, count, mean, variance) => {
        layer.#lastMean ??= new Float64Array(layer.numFeatures);
        layer.#lastVariance ??= new Float64Array(layer.numFeatures);
        layer.#lastMean.set(mean);
        layer.#lastVariance.set(variance);
        layer.#lastCount = count;
      },
    };
  }

  constructor(numFeatures: number, options?: BatchNormOptions) {
    const config = readConfig(numFeatures, options);
    const C = config.numFeatures;
    const k = kernels();
    const ones = (): Tensor => keep(zerosFor([C], undefined, "numFeatures")).set(filled(C, 1)); // the layer's own: no tidy disposes it
    const zeros = (): Tensor => keep(zerosFor([C], undefined, "numFeatures"));
    // All or nothing: a failed allocation frees the ones before it.
    const [workspace, weight, bias, runningMean, runningVar] = allocateAll<ChannelWorkspace | Tensor | null>([
      () => new ChannelWorkspace(k, C, "numFeatures"),
      () => (config.affine ? ones() : null),
      () => (config.affine ? zeros() : null),
      () => (config.trackRunningStats ? zeros() : null),
      () => (config.trackRunningStats ? ones() : null),
    ]) as [ChannelWorkspace, Tensor | null, Tensor | null, Tensor | null, Tensor | null];
    this.#config = Object.freeze(config);
    this.#workspace = workspace;
    this.#weight = weight;
    this.#bias = bias;
    this.#runningMean = runningMean;
    this.#runningVar = runningVar;
    this.#stats = config.stats;
    this.#updateRunningStats = config.updateRunningStats;
    this.#singleSample = config.singleSample;
    releaseWhenCollected(this, [workspace.ptr]);
    registerParameter(weight, () => this.#weightGrad);
    registerParameter(bias, () => this.#biasGrad);
  }

  /** Which statistics normalize regardless of train()/eval(), or null: the mode decides (torch). */
  get stats(): StatsSource | null { return this.#stats; }
  set stats(value: StatsSource | null) {
    this.#assertLive();
    this.#stats = readStats(value, "stats", this.trackRunningStats);
  }

  /** Whether forwards update the running statistics regardless of the mode, or null: torch's rule. */
  get updateRunningStats(): boolean | null { return this.#updateRunningStats; }
  set updateRunningStats(value: boolean | null) {
    this.#assertLive();
    this.#updateRunningStats = readUpdate(value, "updateRunningStats", this.trackRunningStats);
  }

  /** What a one-value-per-channel batch does where batch statistics are needed. */
  get singleSample(): SingleSamplePolicy { return this.#singleSample; }
  set singleSample(value: SingleSamplePolicy) {
    this.#assertLive();
    if (value === undefined) fail("ERR_ARGUMENT", "singleSample", `must be "throw" or "running" or "zero-variance", got undefined`);
    const policy = readChoice(value, "singleSample", SINGLE_SAMPLE_POLICIES, "throw");
    if (policy === "running" && !this.trackRunningStats) fail("ERR_ARGUMENT", "singleSample", `"running" needs running statistics (trackRunningStats: false)`);
    this.#singleSample = policy;
  }

  /**
   * The choices forward makes for `outOrOptions` (an output tensor or
   * ForwardOptions) and a batch of `geometry`: per call, then per layer, then
   * the mode; applies the single-sample policy (may throw ERR_SINGLE_VALUE).
   * Variants (src/variants) share it.
   */
  resolveForward(outOrOptions: unknown, geometry: Geometry, argument = "x"): ForwardPlan {
    let out: unknown = outOrOptions, stats = this.#stats, update = this.#updateRunningStats;
    if (outOrOptions !== undefined && !Tensor.isTensor(outOrOptions) && isPlainObject(outOrOptions)) {
      const o = readOptions(outOrOptions, "options", FORWARD_KEYS);
      out = o.out;
      stats = o.stats === undefined ? stats : readStats(o.stats, "options.stats", this.trackRunningStats);
      update = o.updateRunningStats === undefined ? update : readUpdate(o.updateRunningStats, "options.updateRunningStats", this.trackRunningStats);
    }
    let useBatch = stats === null ? this.#training || !this.trackRunningStats : stats === "batch";
    let updating = update === null ? this.#training && this.trackRunningStats : update;
    if (geometry.count === 1 && (useBatch || updating)) {
      if (this.#singleSample === "throw") checkBatchSize(geometry, argument);
      else if (this.#singleSample === "running") useBatch = updating = false;
    }
    return { out: out as Tensor | undefined, useBatch, updating };
  }

  get numFeatures(): number { return this.#config.numFeatures; }
  get eps(): number { return this.#config.eps; }
  get momentum(): number | null { return this.#config.momentum; }
  get affine(): boolean { return this.#config.affine; }
  get trackRunningStats(): boolean { return this.#config.trackRunningStats; }
  get layout(): Layout { return this.#config.layout; }
  get runningVariance(): RunningVariance { return this.#config.runningVariance; }
  get skipNonFiniteBatches(): boolean { return this.#config.skipNonFiniteBatches; }

  get training(): boolean {
    return this.#training;
  }

  /** Sets training mode (`mode` must be a boolean, as in PyTorch). */
  train(mode: boolean = true): this {
    this.#assertLive();
    this.#training = readFlag(mode, "mode", true);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  get weight(): Tensor | null { return this.#weight; }
  get bias(): Tensor | null { return this.#bias; }
  get weightGrad(): Tensor | null { return this.#weightGrad; }
  get biasGrad(): Tensor | null { return this.#biasGrad; }
  get runningMean(): Tensor | null { return this.#runningMean; }
  get runningVar(): Tensor | null { return this.#runningVar; }

  /** The learnable tensors (weight, then bias; none without affine), as torch's parameters(); optimizers take them. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, tensor]) => tensor);
  }

  /** [name, tensor] of each parameter under torch's names ("weight", "bias"), as torch's named_parameters(). */
  namedParameters(): [string, Tensor][] {
    this.#assertLive();
    return this.#weight && this.#bias ? [["weight", this.#weight], ["bias", this.#bias]] : [];
  }
  get numBatchesTracked(): number { return this.#numBatchesTracked; }
  /** Training batches kept out of the running statistics by skipNonFiniteBatches. */
  get skippedBatches(): number { return this.#skippedBatches; }

  /** Statistics of the last forward that normalized with batch statistics (a copy), or null before any. */
  get lastBatchStatistics(): BatchStatistics | null {
    if (this.#lastCount < 0) return null;
    return { count: this.#lastCount, mean: this.#lastMean!.slice(), variance: this.#lastVariance!.slice() };
  }

  /**
   * y = BN(x). Training mode (or no running stats): batch statistics; else
   * running statistics; `stats` and `updateRunningStats` (per layer, or per
   * call in options) override the mode. The second argument is the output
   * tensor or ForwardOptions.
   */
  forward(x: Tensor, out?: Tensor | ForwardOptions): Tensor {
    this.#assertLive();
    const known = x === this.#checkedInput;
    if (known) x.assertLive("x");
    const input = known ? x : checkTensor(x, "x");
    const geometry = known ? this.#checkedGeometry! : this.#checkInput(input, "x");
    const plan = this.resolveForward(out, geometry);
    const { useBatch, updating } = plan;
    this.#assertOwnLive(this.trackRunningStats, false);
    const knownOutput = known && plan.out !== undefined && plan.out === this.#checkedOutput?.deref();
    if (knownOutput) plan.out!.assertLive("out");
    const given = knownOutput ? plan.out : checkOutput(plan.out, input, this.layout, "out", "x");
    const y = given ?? zerosFor(input.shape, input.layout, "out");
    // Every check passed: remember what they established (a rejected call holds on to nothing).
    if (!known) {
      this.#checkedInput = input;
      this.#checkedGeometry = geometry;
    }
    if (!knownOutput) this.#checkedOutput = given === undefined ? null : new WeakRef(given);
    // Nothing below can fail.
    const k = kernels();
    const { N, C, S, channelsLast, count } = geometry;
    const ws = this.#workspace.ptr;
    const xVersion = input.version;
    if (useBatch) {
      if (count > 0) k.trainForward(input.byteOffset, y.byteOffset, N, C, S, channelsLast, this.#ptr(this.#weight), this.#ptr(this.#bias), this.eps, ws);
      else markEmptyStatistics(this.#workspace);
      this.#recordBatchStatistics(count);
      if (updating) this.#updateRunningStatistics(count);
    } else {
      // Running statistics normalize; with updating, this batch's statistics are
      // computed first (x may be y) and folded in after the normalization.
      if (updating) {
        if (count > 0) k.batchStatistics(input.byteOffset, N, C, S, channelsLast, ws);
        else markEmptyStatistics(this.#workspace);
        this.#recordBatchStatistics(count);
      }
      if (count > 0) {
        this.#prepareEval();
        k.evalForward(input.byteOffset, y.byteOffset, N, C, S, channelsLast, ws);
      }
      if (updating) this.#updateRunningStatistics(count);
    }
    y.markWritten();
    const saved = (this.#saved ??= { mode: "batch", x: input, xVersion, weightVersion: 0, geometry });
    saved.mode = useBatch ? "batch" : "running";
    saved.x = input;
    saved.xVersion = xVersion;
    saved.weightVersion = this.#weight?.version ?? 0;
    saved.geometry = geometry;
    this.#hasSaved = true;
    return y;
  }

  /**
   * dx for the last forward; adds dweight and dbias to weightGrad and biasGrad
   * (created at the first backward) like autograd. Consumes the saved forward.
   */
  backward(dy: Tensor, out?: Tensor): Tensor {
    this.#assertLive();
    const saved = this.#hasSaved ? this.#saved! : fail("ERR_NO_FORWARD", "dy", "backward needs a forward first (each forward allows one backward)");
    if (saved.x.disposed) fail("ERR_NO_FORWARD", "dy", "the input of the last forward was disposed");
    if (saved.x.version !== saved.xVersion) fail("ERR_NO_FORWARD", "dy", "the input of the last forward was modified since (e.g. used as an output)");
    this.#assertOwnLive(false, true);
    if ((this.#weight?.version ?? 0) !== saved.weightVersion) fail("ERR_NO_FORWARD", "dy", "the weight was modified since the last forward");
    const gradient = checkTensor(dy, "dy");
    checkSameShape(gradient, saved.x.shape, "dy", "the forward input");
    checkLayoutTag(gradient, this.layout, "dy");
    const given = checkOutput(out, saved.x, this.layout, "out", "the forward input");
    const C = this.numFeatures;
    const needGrads = this.affine && this.#weightGrad === null;
    // Both gradient buffers or neither: a failure leaves them null, and a later backward tries again.
    let dx = given;
    if (dx === undefined || needGrads) {
      const [made, newWeightGrad, newBiasGrad] = allocateAll<Tensor | null>([
        () => (given ? null : zerosFor(saved.x.shape, saved.x.layout, "out")),
        () => (needGrads ? keep(zerosFor([C], undefined, "this.weightGrad")) : null),
        () => (needGrads ? keep(zerosFor([C], undefined, "this.biasGrad")) : null),
      ]) as [Tensor | null, Tensor | null, Tensor | null];
      dx = given ?? made!;
      if (needGrads) {
        this.#weightGrad = newWeightGrad;
        this.#biasGrad = newBiasGrad;
      }
    }
    const k = kernels();
    const { N, S, channelsLast, count } = saved.geometry;
    const gw = this.#ptr(this.#weightGrad), gb = this.#ptr(this.#biasGrad);
    if (count > 0) {
      if (saved.mode === "batch") {
        k.trainBackward(saved.x.byteOffset, gradient.byteOffset, dx.byteOffset, N, C, S, channelsLast, this.#ptr(this.#weight), gw, gb, this.#workspace.ptr);
      } else {
        k.evalBackward(saved.x.byteOffset, gradient.byteOffset, dx.byteOffset, N, C, S, channelsLast, this.affine, gw, gb, this.#workspace.ptr);
      }
    }
    dx.markWritten();
    this.#weightGrad?.markWritten();
    this.#biasGrad?.markWritten();
    this.#hasSaved = false;
    return dx;
  }

  /** Sets the parameter gradients to zero (the buffers are kept, so loops do not allocate). */
  zeroGrad(): void {
    this.#assertLive();
    this.#assertOwnLive(false, true);
    for (const grad of [this.#weightGrad, this.#biasGrad]) {
      if (grad) {
        grad.view().fill(0);
        grad.markWritten();
      }
    }
  }

  /** Copies of the parameters and buffers under PyTorch's state_dict keys. */
  stateDict(): BatchNormState {
    this.#assertLive();
    this.#assertOwnLive(true, false);
    const state: BatchNormState = {};
    if (this.#weight && this.#bias) {
      state.weight = this.#weight.toFloat32Array();
      state.bias = this.#bias.toFloat32Array();
    }
    if (this.#runningMean && this.#runningVar) {
      state.running_mean = this.#runningMean.toFloat32Array();
      state.running_var = this.#runningVar.toFloat32Array();
      state.num_batches_tracked = this.#numBatchesTracked;
    }
    return withJSON(state); // JSON.stringify writes plain arrays
  }

  /**
   * Loads a state dict (PyTorch keys; with `prefix`, this layer's keys inside a
   * whole-model dict). Each value is read once and converted into staging; all
   * are checked before any is written. Returns torch's { missingKeys,
   * unexpectedKeys } (both empty unless `strict: false`).
   */
  loadStateDict(state: BatchNormState | Record<string, unknown>, options?: LoadStateDictOptions): LoadStateDictResult {
    this.#assertLive();
    const expected: StateKey[] = [
      ...(this.affine ? (["weight", "bias"] as const) : []),
      ...(this.trackRunningStats ? (["running_mean", "running_var", "num_batches_tracked"] as const) : []),
    ];
    const plan = planStateLoad(state, options, expected);
    const staged = new Map<StateKey, Float32Array>();
    let count = this.#numBatchesTracked;
    for (const key of expected) {
      if (!plan.values.has(key)) continue; // missing, and strict: false
      const value = plan.values.get(key);
      const argument = `state.${plan.prefix}${key}`;
      if (key === "num_batches_tracked") count = readBatchCount(value, argument);
      else staged.set(key, this.#stagePerChannel(value, argument));
    }
    this.#assertOwnLive(true, false);
    // Nothing below can fail.
    const targets: [StateKey, Tensor | null][] = [["weight", this.#weight], ["bias", this.#bias], ["running_mean", this.#runningMean], ["running_var", this.#runningVar]];
    for (const [key, target] of targets) {
      const values = staged.get(key);
      if (values && target) target.set(values);
    }
    if (this.trackRunningStats) this.#numBatchesTracked = count;
    return { missingKeys: plan.missingKeys, unexpectedKeys: plan.unexpectedKeys };
  }

  /** torch's reset_running_stats(): running mean 0, running var 1, num_batches_tracked 0 (and skippedBatches 0). */
  resetRunningStats(): void {
    this.#assertLive();
    this.#assertOwnLive(true, false);
    this.#resetRunningStatistics();
  }

  /** torch's reset_parameters(): resetRunningStats(), then weight 1 and bias 0. Gradients stay. */
  resetParameters(): void {
    this.#assertLive();
    this.#assertOwnLive(true, false);
    this.#resetRunningStatistics();
    const C = this.numFeatures;
    this.#weight?.set(filled(C, 1));
    this.#bias?.set(filled(C, 0));
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Frees every tensor the layer owns. Tensors returned by forward/backward stay the caller's. */
  dispose(): void {
    if (this.#disposed) return;
    for (const t of [this.#weight, this.#bias, this.#weightGrad, this.#biasGrad, this.#runningMean, this.#runningVar]) t?.dispose();
    forget(this);
    this.#workspace.dispose();
    this.#saved = null;
    this.#hasSaved = false;
    this.#checkedInput = this.#checkedGeometry = this.#checkedOutput = null;
    this.#disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Subclasses refuse ranks torch's BatchNorm1d/2d/3d refuse; the base accepts 2 to 5. */
  protected checkRank(_rank: number, _argument: string): void {}

  #assertLive(): void {
    if (this.#disposed) fail("ERR_DISPOSED", "this", "BatchNorm layer was disposed");
  }

  /** The layer's own tensors can be disposed through their getters; refuse before using a disposed one. */
  #assertOwnLive(runningStatistics: boolean, gradients: boolean): void {
    // Plain checks, no arrays: this runs on every forward and backward.
    ownLive(this.#weight, "weight");
    ownLive(this.#bias, "bias");
    if (runningStatistics) {
      ownLive(this.#runningMean, "runningMean");
      ownLive(this.#runningVar, "runningVar");
    }
    if (gradients) {
      ownLive(this.#weightGrad, "weightGrad");
      ownLive(this.#biasGrad, "biasGrad");
    }
  }


  #checkInput(x: Tensor, argument: string): Geometry {
    this.checkRank(x.shape.length, argument);
    const geometry = geometryOf(x, this.layout, argument);
    if (geometry.C !== this.numFeatures) {
      const axis = this.layout === "channels-last" ? "last" : "second";
      fail("ERR_CHANNELS", argument, `has ${geometry.C} channels (${axis} axis of [${x.shape.join(", ")}]), the layer expects ${this.numFeatures}`);
    }
    return geometry;
  }

  #stagePerChannel(value: unknown, argument: string): Float32Array {
    return stageArray(value, this.numFeatures, argument, "ERR_CHANNELS");
  }

  #ptr(t: Tensor | null): number {
    return t ? t.byteOffset : 0;
  }

  #recordBatchStatistics(count: number): void {
    this.#lastMean ??= new Float64Array(this.numFeatures);
    this.#lastVariance ??= new Float64Array(this.numFeatures);
    this.#lastMean.set(this.#workspace.viewF64(F64.MEAN));
    this.#lastVariance.set(this.#workspace.viewF64(F64.VARIANCE));
    this.#lastCount = count;
  }

  #updateRunningStatistics(count: number): void {
    if (count === 0) {
      this.#numBatchesTracked += 1; // torch counts an empty batch and leaves the statistics
      return;
    }
    if (this.skipNonFiniteBatches && !(allFinite(this.#lastMean!) && allFinite(this.#lastVariance!))) {
      this.#skippedBatches += 1;
      return;
    }
    this.#numBatchesTracked += 1;
    const factor = this.momentum ?? 1 / this.#numBatchesTracked;
    kernels().runningUpdate(this.numFeatures, count, factor, this.runningVariance === "unbiased" && count > 1, this.#runningMean!.byteOffset, this.#runningVar!.byteOffset, this.#workspace.ptr);
    this.#runningMean!.markWritten();
    this.#runningVar!.markWritten();
  }

  #resetRunningStatistics(): void {
    if (!this.#runningMean || !this.#runningVar) return;
    const C = this.numFeatures;
    this.#runningMean.set(filled(C, 0));
    this.#runningVar.set(filled(C, 1));
    this.#numBatchesTracked = 0;
    this.#skippedBatches = 0;
  }

  /** Recomputes the inference coefficients only when a parameter or running statistic changed. */
  #prepareEval(): void {
    const versions = this.#evalVersions;
    const weight = this.#weight?.version ?? 0, bias = this.#bias?.version ?? 0;
    const mean = this.#runningMean!.version, variance = this.#runningVar!.version;
    if (versions[0] === weight && versions[1] === bias && versions[2] === mean && versions[3] === variance) return;
    kernels().evalPrepare(this.numFeatures, this.#runningMean!.byteOffset, this.#runningVar!.byteOffset, this.#ptr(this.#weight), this.#ptr(this.#bias), this.eps, this.#workspace.ptr);
    versions.set([weight, bias, mean, variance]);
  }
}

function rankRule(allowed: readonly number[], expected: string) {
  return (rank: number, argument: string): void => {
    if (!allowed.includes(rank)) fail("ERR_RANK", argument, `expected ${expected} input (got ${rank}D input)`);
  };
}

const rank1d = rankRule([2, 3], "2D or 3D"), rank2d = rankRule([4], "4D"), rank3d = rankRule([5], "5D");

/** torch.nn.BatchNorm1d: input [N, C] or [N, C, L] ([N, L, C] channels-last). */
export class BatchNorm1d extends BatchNorm {
  protected override checkRank(rank: number, argument: string): void { rank1d(rank, argument); }
}

/** torch.nn.BatchNorm2d: input [N, C, H, W] ([N, H, W, C] channels-last). */
export class BatchNorm2d extends BatchNorm {
  protected override checkRank(rank: number, argument: string): void { rank2d(rank, argument); }
}

/** torch.nn.BatchNorm3d: input [N, C, D, H, W] ([N, D, H, W, C] channels-last). */
export class BatchNorm3d extends BatchNorm {
  protected override checkRank(rank: number, argument: string): void { rank3d(rank, argument); }
}
