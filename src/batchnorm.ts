// A BatchNorm layer with torch.nn.BatchNorm1d/2d/3d semantics: parameters,
// running statistics, train/eval modes, backward that accumulates gradients.
// Every public call validates everything first; a rejected call changes nothing.
import { fail } from "./errors.ts";
import { checkBatchSize, checkInput, checkPerChannel, outputFor } from "./functional.ts";
import { checkEps, checkSameShape, geometryOf, type Geometry } from "./shape.ts";
import { checkLayout, Tensor, type Layout } from "./tensor.ts";
import { kernels } from "./wasm.ts";
import { ChannelWorkspace } from "./workspace.ts";

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
  runningVariance?: "unbiased" | "biased";
}

export interface BatchNormState {
  weight?: ArrayLike<number>;
  bias?: ArrayLike<number>;
  running_mean?: ArrayLike<number>;
  running_var?: ArrayLike<number>;
  num_batches_tracked?: number | bigint;
}

interface SavedForward {
  mode: "batch" | "running";
  x: Tensor;
  xVersion: number;
  weightVersion: number;
  geometry: Geometry;
}

function checkMomentum(momentum: unknown): number | null {
  if (momentum === null) return null;
  if (typeof momentum !== "number" || !(momentum >= 0 && momentum <= 1)) {
    fail("ERR_MOMENTUM", "options.momentum", `must be a number in [0, 1] or null, got ${String(momentum)}`);
  }
  return momentum;
}

export class BatchNorm {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly layout: Layout;
  readonly runningVariance: "unbiased" | "biased";
  #training = true;
  #weight: Tensor | null;
  #bias: Tensor | null;
  #weightGrad: Tensor | null = null;
  #biasGrad: Tensor | null = null;
  #runningMean: Tensor | null;
  #runningVar: Tensor | null;
  #numBatchesTracked = 0;
  #workspace: ChannelWorkspace;
  /** The last forward, reused between calls; valid while #hasSaved. */
  #saved: SavedForward | null = null;
  #hasSaved = false;
  /** Versions of weight, bias, running mean and running var the cached eval coefficients were made from. */
  #evalVersions = new Float64Array([-1, -1, -1, -1]);
  #disposed = false;

  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    if (!Number.isSafeInteger(numFeatures) || numFeatures < 1) {
      fail("ERR_ARGUMENT", "numFeatures", `must be a positive integer, got ${String(numFeatures)}`);
    }
    const eps = checkEps(options.eps ?? 1e-5, "options.eps");
    const momentum = checkMomentum(options.momentum === undefined ? 0.1 : options.momentum);
    const layout = checkLayout(options.layout ?? "channels-first", "options.layout");
    const runningVariance = options.runningVariance ?? "unbiased";
    if (runningVariance !== "unbiased" && runningVariance !== "biased") {
      fail("ERR_ARGUMENT", "options.runningVariance", `must be "unbiased" or "biased", got ${String(runningVariance)}`);
    }
    this.numFeatures = numFeatures;
    this.eps = eps;
    this.momentum = momentum;
    this.affine = options.affine ?? true;
    this.trackRunningStats = options.trackRunningStats ?? true;
    this.layout = layout;
    this.runningVariance = runningVariance;
    const ones = new Float32Array(numFeatures).fill(1);
    this.#workspace = new ChannelWorkspace(kernels(), numFeatures);
    this.#weight = this.affine ? Tensor.from(ones, [numFeatures]) : null;
    this.#bias = this.affine ? Tensor.zeros([numFeatures]) : null;
    this.#runningMean = this.trackRunningStats ? Tensor.zeros([numFeatures]) : null;
    this.#runningVar = this.trackRunningStats ? Tensor.from(ones, [numFeatures]) : null;
  }

  get training(): boolean {
    return this.#training;
  }

  train(mode = true): this {
    this.#assertLive();
    this.#training = mode;
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
  get numBatchesTracked(): number { return this.#numBatchesTracked; }

  /** y = BN(x). Training mode (or no running stats): batch statistics; else running statistics. */
  forward(x: Tensor, out?: Tensor): Tensor {
    this.#assertLive();
    const geometry = this.#checkInput(x, "x");
    const useBatch = this.#training || !this.trackRunningStats;
    if (useBatch) checkBatchSize(geometry, "x");
    const y = outputFor(out, x, "out", "x");
    const k = kernels();
    const { N, C, S, channelsLast } = geometry;
    const ws = this.#workspace.ptr;
    const xVersion = x.version;
    if (useBatch) {
      k.trainForward(x.byteOffset, y.byteOffset, N, C, S, channelsLast, this.#ptr(this.#weight), this.#ptr(this.#bias), this.eps, ws);
      if (this.#training && this.trackRunningStats) this.#updateRunningStatistics(geometry.count);
    } else {
      this.#prepareEval();
      k.evalForward(x.byteOffset, y.byteOffset, N, C, S, channelsLast, ws);
    }
    y.markWritten();
    const saved = (this.#saved ??= { mode: "batch", x, xVersion, weightVersion: 0, geometry });
    saved.mode = useBatch ? "batch" : "running";
    saved.x = x;
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
    if ((this.#weight?.version ?? 0) !== saved.weightVersion) fail("ERR_NO_FORWARD", "dy", "the weight was modified since the last forward");
    if (!(dy instanceof Tensor)) fail("ERR_ARGUMENT", "dy", "must be a Tensor");
    checkSameShape(dy, saved.x.shape, "dy", "the forward input");
    geometryOf(dy, this.layout, "dy");
    const dx = outputFor(out, saved.x, "out", "the forward input");
    if (this.affine && this.#weightGrad === null) {
      this.#weightGrad = Tensor.zeros([this.numFeatures]);
      this.#biasGrad = Tensor.zeros([this.numFeatures]);
    }
    const k = kernels();
    const { N, C, S, channelsLast } = saved.geometry;
    const gw = this.#ptr(this.#weightGrad), gb = this.#ptr(this.#biasGrad);
    if (saved.mode === "batch") {
      k.trainBackward(saved.x.byteOffset, dy.byteOffset, dx.byteOffset, N, C, S, channelsLast, this.#ptr(this.#weight), gw, gb, this.#workspace.ptr);
    } else {
      k.evalBackward(saved.x.byteOffset, dy.byteOffset, dx.byteOffset, N, C, S, channelsLast, this.affine, gw, gb, this.#workspace.ptr);
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
    return state;
  }

  /** Loads a state dict (PyTorch keys). All keys are checked before any is written. */
  loadStateDict(state: BatchNormState): void {
    this.#assertLive();
    if (typeof state !== "object" || state === null) fail("ERR_ARGUMENT", "state", "must be an object");
    const expected = [
      ...(this.affine ? ["weight", "bias"] : []),
      ...(this.trackRunningStats ? ["running_mean", "running_var", "num_batches_tracked"] : []),
    ];
    for (const key of Object.keys(state)) {
      if (!expected.includes(key)) fail("ERR_STATE_DICT", `state.${key}`, `unexpected key (expected ${expected.join(", ")})`);
    }
    for (const key of expected) {
      const value = (state as Record<string, unknown>)[key];
      if (value === undefined) fail("ERR_STATE_DICT", `state.${key}`, "missing key");
      if (key === "num_batches_tracked") {
        const count = Number(value);
        if (!Number.isSafeInteger(count) || count < 0) fail("ERR_ARGUMENT", `state.${key}`, `must be a non-negative integer, got ${String(value)}`);
      } else {
        const length = (value as ArrayLike<number>)?.length;
        if (typeof length !== "number") fail("ERR_ARGUMENT", `state.${key}`, "must be an array of numbers");
        if (length !== this.numFeatures) fail("ERR_CHANNELS", `state.${key}`, `must hold ${this.numFeatures} values, got ${length}`);
      }
    }
    if (state.weight && this.#weight) this.#weight.set(state.weight);
    if (state.bias && this.#bias) this.#bias.set(state.bias);
    if (state.running_mean && this.#runningMean) this.#runningMean.set(state.running_mean);
    if (state.running_var && this.#runningVar) this.#runningVar.set(state.running_var);
    if (state.num_batches_tracked !== undefined && this.trackRunningStats) this.#numBatchesTracked = Number(state.num_batches_tracked);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Frees every tensor the layer owns. Tensors returned by forward/backward stay the caller's. */
  dispose(): void {
    if (this.#disposed) return;
    for (const t of [this.#weight, this.#bias, this.#weightGrad, this.#biasGrad, this.#runningMean, this.#runningVar]) t?.dispose();
    this.#workspace.dispose();
    this.#saved = null;
    this.#hasSaved = false;
    this.#disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #assertLive(): void {
    if (this.#disposed) fail("ERR_DISPOSED", "this", "BatchNorm layer was disposed");
  }

  #checkInput(x: Tensor, argument: string): Geometry {
    const geometry = checkInput(x, this.layout, argument);
    if (geometry.C !== this.numFeatures) {
      const axis = this.layout === "channels-last" ? "last" : "second";
      fail("ERR_CHANNELS", argument, `has ${geometry.C} channels (${axis} axis of [${x.shape.join(", ")}]), the layer expects ${this.numFeatures}`);
    }
    return geometry;
  }

  #ptr(t: Tensor | null): number {
    return t ? t.byteOffset : 0;
  }

  #updateRunningStatistics(count: number): void {
    this.#numBatchesTracked += 1;
    const factor = this.momentum ?? 1 / this.#numBatchesTracked;
    kernels().runningUpdate(this.numFeatures, count, factor, this.runningVariance === "unbiased", this.#runningMean!.byteOffset, this.#runningVar!.byteOffset, this.#workspace.ptr);
    this.#runningMean!.markWritten();
    this.#runningVar!.markWritten();
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
