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

export interface BatchNormOptions {
  /** Added to the variance; default 1e-5. */
  eps?: number;
  /** Weight of the new batch in the running statistics (PyTorch's meaning), default 0.1; null = cumulative average. */
  momentum?: number | null;
  /** Learnable weight (gamma) and bias (beta); default true. */
  affine?: boolean;
  /** Keep running mean/variance for eval mode; default true. Without them eval uses batch statistics. */
  trackRunningStats?: boolean;
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
}

const OPTION_KEYS = ["eps", "momentum", "affine", "trackRunningStats", "layout", "runningVariance", "skipNonFiniteBatches"] as const;

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
  };
}

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
  /** Versions of weight, bias, running mean and running var the cached eval coefficients were made from. */
  #evalVersions = new Float64Array([-1, -1, -1, -1]);
  /** Statistics of the last forward that used batch statistics (count -1: none yet). */
  #lastCount = -1;
  #lastMean: Float64Array | null = null;
  #lastVariance: Float64Array | null = null;
  #disposed = false;

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
    releaseWhenCollected(this, [workspace.ptr]);
    registerParameter(weight, () => this.#weightGrad);
    registerParameter(bias, () => this.#biasGrad);
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

  /** y = BN(x). Training mode (or no running stats): batch statistics; else running statistics. */
  forward(x: Tensor, out?: Tensor): Tensor {
    this.#assertLive();
    const input = checkTensor(x, "x");
    const geometry = this.#checkInput(input, "x");
    const useBatch = this.#training || !this.trackRunningStats;
    const updating = this.#training && this.trackRunningStats;
    this.#assertOwnLive(this.trackRunningStats, false);
    if (useBatch) checkBatchSize(geometry, "x");
    const y = checkOutput(out, input, this.layout, "out", "x") ?? zerosFor(input.shape, input.layout, "out");
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
    } else if (count > 0) {
      this.#prepareEval();
      k.evalForward(input.byteOffset, y.byteOffset, N, C, S, channelsLast, ws);
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
    kernels().runningUpdate(this.numFeatures, count, factor, this.runningVariance === "unbiased", this.#runningMean!.byteOffset, this.#runningVar!.byteOffset, this.#workspace.ptr);
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
