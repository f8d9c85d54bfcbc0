// Stateless operations: batch statistics, training and inference forward,
// backward. Every argument is validated before anything is allocated or written.
import { fail } from "./errors.ts";
import { checkEps, checkSameShape, geometryOf, type Geometry } from "./shape.ts";
import { checkLayout, Tensor, type Layout } from "./tensor.ts";
import { kernels } from "./wasm.ts";
import { ChannelWorkspace, F64 } from "./workspace.ts";

/** Throws unless `t` is a live tensor of `channels` values. */
export function checkPerChannel(t: Tensor, channels: number, argument: string): void {
  if (!(t instanceof Tensor)) fail("ERR_ARGUMENT", argument, "must be a Tensor");
  t.assertLive(argument);
  if (t.size !== channels) fail("ERR_CHANNELS", argument, `must hold one value per channel (${channels}), got ${t.size}`);
}

export function checkInput(x: unknown, layout: Layout, argument: string): Geometry {
  if (!(x instanceof Tensor)) fail("ERR_ARGUMENT", argument, "must be a Tensor");
  return geometryOf(x, layout, argument);
}

/** Normalizing with batch statistics needs more than one value per channel (PyTorch's rule). */
export function checkBatchSize(geometry: Geometry, argument: string): void {
  if (geometry.count < 2) {
    fail("ERR_SINGLE_VALUE", argument, `expected more than 1 value per channel when using batch statistics, got ${geometry.count}`);
  }
}

/** The output tensor: `out` when given (checked), else a new one. Call after all other checks. */
export function outputFor(out: Tensor | undefined, like: Tensor, argument: string, what: string): Tensor {
  if (out === undefined) return Tensor.zeros(like.shape, like.layout);
  if (!(out instanceof Tensor)) fail("ERR_ARGUMENT", argument, "must be a Tensor");
  checkSameShape(out, like.shape, argument, what);
  return out;
}

const ptrOf = (t: Tensor | null | undefined): number => (t ? t.byteOffset : 0);

export interface TrainOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Default 1e-5. */
  eps?: number;
  /** Default "channels-first". */
  layout?: Layout;
  /** Written instead of allocating y; may be x itself (backward then refuses, as x changed). */
  out?: Tensor;
}

/** What training backward needs from its forward; owns a small wasm block until disposed. */
export class SavedBatchStatistics {
  readonly geometry: Geometry;
  readonly layout: Layout;
  readonly x: Tensor;
  readonly weight: Tensor | null;
  readonly workspace: ChannelWorkspace;
  #xVersion: number;
  #weightVersion: number;

  constructor(x: Tensor, geometry: Geometry, layout: Layout, weight: Tensor | null, workspace: ChannelWorkspace) {
    this.x = x;
    this.geometry = geometry;
    this.layout = layout;
    this.weight = weight;
    this.workspace = workspace;
    this.#xVersion = x.version;
    this.#weightVersion = weight?.version ?? 0;
  }

  /** Batch mean per channel. */
  get mean(): Float64Array {
    return this.workspace.readF64(F64.MEAN);
  }

  /** Biased batch variance per channel. */
  get variance(): Float64Array {
    return this.workspace.readF64(F64.VARIANCE);
  }

  /** 1 / sqrt(variance + eps) per channel. */
  get invStd(): Float64Array {
    return this.workspace.readF64(F64.INV_STD);
  }

  /** Throws ERR_NO_FORWARD if x or weight were disposed or written since the forward. */
  checkUnchanged(argument: string): void {
    if (this.workspace.ptr === 0) fail("ERR_DISPOSED", argument, "saved statistics were disposed");
    if (this.x.disposed) fail("ERR_NO_FORWARD", argument, "the input of the forward was disposed");
    if (this.x.version !== this.#xVersion) fail("ERR_NO_FORWARD", argument, "the input of the forward was modified since (e.g. used as an output)");
    if (this.weight && (this.weight.disposed || this.weight.version !== this.#weightVersion)) {
      fail("ERR_NO_FORWARD", argument, "the weight was modified or disposed since the forward");
    }
  }

  dispose(): void {
    this.workspace.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Training-mode forward: normalize with the batch statistics, optional affine. */
export function batchNormTrain(x: Tensor, options: TrainOptions = {}): { y: Tensor; saved: SavedBatchStatistics } {
  const layout = checkLayout(options.layout ?? "channels-first", "options.layout");
  const geometry = checkInput(x, layout, "x");
  const eps = checkEps(options.eps ?? 1e-5, "options.eps");
  const weight = options.weight ?? null, bias = options.bias ?? null;
  if (weight) checkPerChannel(weight, geometry.C, "options.weight");
  if (bias) checkPerChannel(bias, geometry.C, "options.bias");
  checkBatchSize(geometry, "x");
  const y = outputFor(options.out, x, "options.out", "x");
  const workspace = new ChannelWorkspace(kernels(), geometry.C);
  const { N, C, S, channelsLast } = geometry;
  kernels().trainForward(x.byteOffset, y.byteOffset, N, C, S, channelsLast, ptrOf(weight), ptrOf(bias), eps, workspace.ptr);
  const saved = new SavedBatchStatistics(x, geometry, layout, weight, workspace);
  y.markWritten();
  return { y, saved };
}

export interface EvalOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  eps?: number;
  layout?: Layout;
  out?: Tensor;
}

/** Inference forward with given running statistics: y = (x - mean) / sqrt(var + eps) * weight + bias. */
export function batchNormEval(x: Tensor, runningMean: Tensor, runningVar: Tensor, options: EvalOptions = {}): Tensor {
  const layout = checkLayout(options.layout ?? "channels-first", "options.layout");
  const geometry = checkInput(x, layout, "x");
  const eps = checkEps(options.eps ?? 1e-5, "options.eps");
  checkPerChannel(runningMean, geometry.C, "runningMean");
  checkPerChannel(runningVar, geometry.C, "runningVar");
  const weight = options.weight ?? null, bias = options.bias ?? null;
  if (weight) checkPerChannel(weight, geometry.C, "options.weight");
  if (bias) checkPerChannel(bias, geometry.C, "options.bias");
  const y = outputFor(options.out, x, "options.out", "x");
  const k = kernels();
  const workspace = new ChannelWorkspace(k, geometry.C);
  const { N, C, S, channelsLast } = geometry;
  k.evalPrepare(C, runningMean.byteOffset, runningVar.byteOffset, ptrOf(weight), ptrOf(bias), eps, workspace.ptr);
  k.evalForward(x.byteOffset, y.byteOffset, N, C, S, channelsLast, workspace.ptr);
  workspace.dispose();
  y.markWritten();
  return y;
}

export interface BackwardOptions {
  out?: Tensor;
  /** Whether to compute weight and bias gradients (default: true when the forward had a weight). */
  parameterGradients?: boolean;
}

/**
 * Training-mode backward through the batch statistics of `saved`'s forward.
 * Returns dx and, when requested, new tensors with dweight and dbias.
 */
export function batchNormBackward(dy: Tensor, saved: SavedBatchStatistics, options: BackwardOptions = {}): { dx: Tensor; weightGrad: Tensor | null; biasGrad: Tensor | null } {
  if (!(saved instanceof SavedBatchStatistics)) fail("ERR_NO_FORWARD", "saved", "must be the saved statistics of batchNormTrain");
  saved.checkUnchanged("saved");
  if (!(dy instanceof Tensor)) fail("ERR_ARGUMENT", "dy", "must be a Tensor");
  checkSameShape(dy, saved.x.shape, "dy", "the forward input");
  geometryOf(dy, saved.layout, "dy");
  const wantParameters = options.parameterGradients ?? saved.weight !== null;
  const dx = outputFor(options.out, saved.x, "options.out", "the forward input");
  const C = saved.geometry.C;
  const weightGrad = wantParameters ? Tensor.zeros([C]) : null;
  const biasGrad = wantParameters ? Tensor.zeros([C]) : null;
  const { N, S, channelsLast } = saved.geometry;
  kernels().trainBackward(saved.x.byteOffset, dy.byteOffset, dx.byteOffset, N, C, S, channelsLast, ptrOf(saved.weight), ptrOf(weightGrad), ptrOf(biasGrad), saved.workspace.ptr);
  dx.markWritten();
  return { dx, weightGrad, biasGrad };
}

/** Per-channel batch mean and biased variance (float64), and the count of values per channel. */
export function batchStatistics(x: Tensor, options: { layout?: Layout } = {}): { count: number; mean: Float64Array; variance: Float64Array } {
  const layout = checkLayout(options.layout ?? "channels-first", "options.layout");
  const geometry = checkInput(x, layout, "x");
  const workspace = new ChannelWorkspace(kernels(), geometry.C);
  const { N, C, S, channelsLast } = geometry;
  kernels().batchStatistics(x.byteOffset, N, C, S, channelsLast, workspace.ptr);
  const result = { count: geometry.count, mean: workspace.readF64(F64.MEAN), variance: workspace.readF64(F64.VARIANCE) };
  workspace.dispose();
  return result;
}
