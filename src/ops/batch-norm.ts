// BatchNorm as stateless operations: batch statistics, training and inference forward,
// backward. Each call reads and checks every argument first, then allocates
// everything it needs (all or nothing), and only then runs kernels and writes.
import { describeValue, fail } from "../errors.ts";
import {
  allocateAll, checkBatchSize, checkInput, checkMomentum, checkOutput, checkPerChannel, optionalPerChannel, ptrOf,
  RUNNING_VARIANCES, type RunningVariance,
} from "./common.ts";
import { forget, releaseWhenCollected } from "../memory.ts";
import { readChoice, readFlag, readOptions } from "../options.ts";
import { checkEps, checkLayoutTag, checkSameShape, geometryOf, type Geometry } from "../shape.ts";
import { checkLayout, checkTensor, Tensor, zerosFor, type Layout } from "../tensor.ts";
import { kernels } from "../wasm.ts";
import { ChannelWorkspace, F64 } from "../workspace.ts";

/** Writes NaN statistics for an empty batch (0 values per channel), as torch.var_mean gives. */
export function markEmptyStatistics(workspace: ChannelWorkspace): void {
  for (const slot of [F64.MEAN, F64.VARIANCE, F64.INV_STD]) workspace.viewF64(slot).fill(Number.NaN);
}

export interface TrainOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Default 1e-5. */
  eps?: number;
  /** Default "channels-first". */
  layout?: Layout;
  /** Written instead of allocating y; may be x itself (backward then refuses, as x changed). */
  out?: Tensor;
  /** Running statistics updated in place from this batch, like torch's F.batch_norm(training=True). Give both or neither. */
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  /** Weight of the batch in the running update; default 0.1. */
  momentum?: number;
  /** Variance folded into runningVar: "unbiased" (PyTorch, default) or "biased" (Keras, ONNX). */
  runningVariance?: RunningVariance;
}

const TRAIN_KEYS = ["weight", "bias", "eps", "layout", "out", "runningMean", "runningVar", "momentum", "runningVariance"] as const;

interface SavedState {
  x: Tensor;
  xVersion: number;
  weight: Tensor | null;
  weightVersion: number;
  geometry: Geometry;
  layout: Layout;
  workspace: ChannelWorkspace;
}

/** Only batchNormTrain makes SavedBatchStatistics. */
const savingToken = Symbol("SavedBatchStatistics");
// Set by the class's static block: module-private access to the constructor and the private state.
let makeSaved: (state: SavedState) => SavedBatchStatistics;
let savedState: (value: unknown, argument: string) => SavedState;

/**
 * What the training backward needs from its forward; owns a small wasm block
 * until disposed. Made only by batchNormTrain; its state is private.
 */
export class SavedBatchStatistics {
  #state: SavedState;

  private constructor(token: symbol, state: SavedState) {
    if (token !== savingToken) fail("ERR_ARGUMENT", "SavedBatchStatistics", "is made by batchNormTrain only");
    this.#state = state;
    releaseWhenCollected(this, [state.workspace.ptr]);
  }

  static {
    makeSaved = (state) => new SavedBatchStatistics(savingToken, state);
    savedState = (value, argument) => {
      if (typeof value !== "object" || value === null || !(#state in value)) {
        fail("ERR_ARGUMENT", argument, `must be the saved statistics returned by batchNormTrain, got ${describeValue(value)}`);
      }
      const state = (value as SavedBatchStatistics).#state;
      if (state.workspace.disposed) fail("ERR_DISPOSED", argument, "saved statistics were disposed");
      return state;
    };
  }

  /** Values per channel of the forward's batch. */
  get count(): number {
    return this.#state.geometry.count;
  }

  /** Batch mean per channel (NaN for an empty batch). */
  get mean(): Float64Array {
    return this.#read(F64.MEAN, "mean");
  }

  /** Biased batch variance per channel. */
  get variance(): Float64Array {
    return this.#read(F64.VARIANCE, "variance");
  }

  /** 1 / sqrt(variance + eps) per channel. */
  get invStd(): Float64Array {
    return this.#read(F64.INV_STD, "invStd");
  }

  get disposed(): boolean {
    return this.#state.workspace.disposed;
  }

  dispose(): void {
    forget(this);
    this.#state.workspace.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #read(slot: number, name: string): Float64Array {
    if (this.#state.workspace.disposed) fail("ERR_DISPOSED", `saved.${name}`, "saved statistics were disposed");
    return this.#state.workspace.readF64(slot);
  }
}

/** Training-mode forward: normalize with the batch statistics, optional affine, optional running update. */
export function batchNormTrain(x: Tensor, options?: TrainOptions): { y: Tensor; saved: SavedBatchStatistics } {
  const o = readOptions(options, "options", TRAIN_KEYS);
  const layout = checkLayout(o.layout, "options.layout");
  const geometry = checkInput(x, layout, "x");
  const eps = checkEps(o.eps ?? 1e-5, "options.eps");
  const { C } = geometry;
  const weight = optionalPerChannel(o.weight, C, "options.weight");
  const bias = optionalPerChannel(o.bias, C, "options.bias");
  const runningMean = optionalPerChannel(o.runningMean, C, "options.runningMean");
  const runningVar = optionalPerChannel(o.runningVar, C, "options.runningVar");
  if ((runningMean === null) !== (runningVar === null)) {
    fail("ERR_ARGUMENT", runningMean === null ? "options.runningMean" : "options.runningVar", "runningMean and runningVar go together: give both or neither");
  }
  if (runningMean !== null && runningMean === runningVar) fail("ERR_ARGUMENT", "options.runningVar", "must be a different tensor from options.runningMean");
  const momentum = checkMomentum(o.momentum === undefined ? 0.1 : o.momentum, "options.momentum", false)!;
  const runningVariance = readChoice(o.runningVariance, "options.runningVariance", RUNNING_VARIANCES, "unbiased");
  checkBatchSize(geometry, "x");
  const out = checkOutput(o.out, x, layout, "options.out", "x");
  const k = kernels();
  const [made, workspace] = allocateAll<Tensor | ChannelWorkspace | null>([
    () => (out ? null : zerosFor(x.shape, x.layout, "options.out")),
    () => new ChannelWorkspace(k, C, "x", "savedStatistics"),
  ]) as [Tensor | null, ChannelWorkspace];
  const y = out ?? made!;
  const { N, S, channelsLast, count } = geometry;
  if (count === 0) {
    markEmptyStatistics(workspace); // torch: empty output, running statistics unchanged
  } else {
    k.trainForward(x.byteOffset, y.byteOffset, N, C, S, channelsLast, ptrOf(weight), ptrOf(bias), eps, workspace.ptr);
    if (runningMean && runningVar) {
      k.runningUpdate(C, count, momentum, runningVariance === "unbiased", runningMean.byteOffset, runningVar.byteOffset, workspace.ptr);
      runningMean.markWritten();
      runningVar.markWritten();
    }
  }
  y.markWritten();
  const saved = makeSaved({ x, xVersion: x.version, weight, weightVersion: weight?.version ?? 0, geometry, layout, workspace });
  return { y, saved };
}

export interface EvalOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  eps?: number;
  layout?: Layout;
  out?: Tensor;
}

const EVAL_KEYS = ["weight", "bias", "eps", "layout", "out"] as const;

/** Inference forward with given running statistics: y = (x - mean) / sqrt(var + eps) * weight + bias. */
export function batchNormEval(x: Tensor, runningMean: Tensor, runningVar: Tensor, options?: EvalOptions): Tensor {
  const o = readOptions(options, "options", EVAL_KEYS);
  const layout = checkLayout(o.layout, "options.layout");
  const geometry = checkInput(x, layout, "x");
  const eps = checkEps(o.eps ?? 1e-5, "options.eps");
  const { C } = geometry;
  const mean = checkPerChannel(runningMean, C, "runningMean");
  const variance = checkPerChannel(runningVar, C, "runningVar");
  const weight = optionalPerChannel(o.weight, C, "options.weight");
  const bias = optionalPerChannel(o.bias, C, "options.bias");
  const out = checkOutput(o.out, x, layout, "options.out", "x");
  const k = kernels();
  const [made, workspace] = allocateAll<Tensor | ChannelWorkspace | null>([
    () => (out ? null : zerosFor(x.shape, x.layout, "options.out")),
    () => new ChannelWorkspace(k, C, "x"),
  ]) as [Tensor | null, ChannelWorkspace];
  const y = out ?? made!;
  const { N, S, channelsLast, count } = geometry;
  if (count > 0) {
    k.evalPrepare(C, mean.byteOffset, variance.byteOffset, ptrOf(weight), ptrOf(bias), eps, workspace.ptr);
    k.evalForward(x.byteOffset, y.byteOffset, N, C, S, channelsLast, workspace.ptr);
  }
  workspace.dispose();
  y.markWritten();
  return y;
}

export interface BackwardOptions {
  out?: Tensor;
  /** Whether to compute weight and bias gradients (default: true when the forward had a weight). */
  parameterGradients?: boolean;
}

const BACKWARD_KEYS = ["out", "parameterGradients"] as const;

/**
 * Training-mode backward through the batch statistics of `saved`'s forward.
 * Returns dx and, when requested, new tensors with dweight and dbias.
 */
export function batchNormBackward(dy: Tensor, saved: SavedBatchStatistics, options?: BackwardOptions): { dx: Tensor; weightGrad: Tensor | null; biasGrad: Tensor | null } {
  const state = savedState(saved, "saved");
  if (state.x.disposed) fail("ERR_NO_FORWARD", "saved", "the input of the forward was disposed");
  if (state.x.version !== state.xVersion) fail("ERR_NO_FORWARD", "saved", "the input of the forward was modified since (e.g. used as an output)");
  if (state.weight && (state.weight.disposed || state.weight.version !== state.weightVersion)) {
    fail("ERR_NO_FORWARD", "saved", "the weight was modified or disposed since the forward");
  }
  const o = readOptions(options, "options", BACKWARD_KEYS);
  const gradient = checkTensor(dy, "dy");
  checkSameShape(gradient, state.x.shape, "dy", "the forward input");
  checkLayoutTag(gradient, state.layout, "dy");
  const wantParameters = readFlag(o.parameterGradients, "options.parameterGradients", state.weight !== null);
  const out = checkOutput(o.out, state.x, state.layout, "options.out", "the forward input");
  const { N, C, S, channelsLast, count } = state.geometry;
  const [made, weightGrad, biasGrad] = allocateAll<Tensor | null>([
    () => (out ? null : zerosFor(state.x.shape, state.x.layout, "options.out")),
    () => (wantParameters ? zerosFor([C], undefined, "weightGrad") : null),
    () => (wantParameters ? zerosFor([C], undefined, "biasGrad") : null),
  ]) as [Tensor | null, Tensor | null, Tensor | null];
  const dx = out ?? made!;
  if (count > 0) {
    kernels().trainBackward(state.x.byteOffset, gradient.byteOffset, dx.byteOffset, N, C, S, channelsLast, ptrOf(state.weight), ptrOf(weightGrad), ptrOf(biasGrad), state.workspace.ptr);
  }
  dx.markWritten();
  return { dx, weightGrad, biasGrad };
}

const STATISTICS_KEYS = ["layout"] as const;

/** Per-channel batch mean and biased variance (float64), and the count of values per channel (NaN statistics for an empty batch). */
export function batchStatistics(x: Tensor, options?: { layout?: Layout }): { count: number; mean: Float64Array; variance: Float64Array } {
  const o = readOptions(options, "options", STATISTICS_KEYS);
  const layout = checkLayout(o.layout, "options.layout");
  const geometry = checkInput(x, layout, "x");
  const { N, C, S, channelsLast, count } = geometry;
  const workspace = new ChannelWorkspace(kernels(), C, "x");
  if (count > 0) kernels().batchStatistics(x.byteOffset, N, C, S, channelsLast, workspace.ptr);
  else markEmptyStatistics(workspace);
  const result = { count, mean: workspace.readF64(F64.MEAN), variance: workspace.readF64(F64.VARIANCE) };
  workspace.dispose();
  return result;
}
