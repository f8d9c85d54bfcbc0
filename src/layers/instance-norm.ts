// torch.nn.InstanceNorm1d/2d/3d: statistics per (sample, channel) over the
// spatial axes. torch's defaults differ from BatchNorm's: affine false, no
// running statistics. With trackRunningStats, training updates them (the batch
// mean of the per-instance statistics) and eval normalizes with them; like
// torch 1.13, num_batches_tracked is kept in the state dict but never counts.
import { fail } from "../errors.ts";
import { readFlag, readOptions } from "../options.ts";
import { checkMomentum, ptrOf } from "../ops/common.ts";
import { groupBackward, groupForward } from "../ops/groups.ts";
import { checkSpatial, instanceGeometry, instanceNormWithRunning } from "../ops/instance-norm.ts";
import type { SavedNormStatistics } from "../ops/saved.ts";
import { checkEps, checkLayoutTag, checkSameShape } from "../shape.ts";
import { checkLayout, checkTensor, Tensor, zerosFor, type Layout } from "../tensor.ts";
import { keep } from "../tidy.ts";
import { kernels } from "../wasm.ts";
import { ChannelWorkspace } from "../workspace.ts";
import { allocateAll, checkOutput } from "../ops/common.ts";
import { checkChannels } from "./common.ts";
import { checkChannelCount } from "./group-norm.ts";
import { NormLayer, type Buffer, type Gradients } from "./norm-layer.ts";

export interface InstanceNormOptions<Affine extends boolean = boolean, Track extends boolean = boolean> {
  /** Default 1e-5. */
  eps?: number;
  /** Weight of the new batch in the running statistics; default 0.1. */
  momentum?: number;
  /** Learnable per-channel weight and bias; default false (torch's default). */
  affine?: Affine;
  /** Keep running statistics for eval mode; default false (torch's default). */
  trackRunningStats?: Track;
  layout?: Layout;
}

const KEYS = ["eps", "momentum", "affine", "trackRunningStats", "layout"] as const;

/** The rank-agnostic layer (ranks 3 to 5); InstanceNorm1d/2d/3d add torch's rank checks. */
export class InstanceNorm extends NormLayer {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly layout: Layout;
  readonly #rank: number | undefined;
  #runningMean: Tensor | null = null;
  #runningVar: Tensor | null = null;
  #numBatchesTracked = 0;
  /** Eval mode with running statistics: BatchNorm's eval kernels use a per-channel workspace. */
  #workspace: ChannelWorkspace | null = null;
  #evalForward: { x: Tensor; xVersion: number } | null = null;

  constructor(numFeatures: number, options?: InstanceNormOptions, rank?: number) {
    const o = readOptions(options, "options", KEYS);
    const C = checkChannelCount(numFeatures, "numFeatures");
    const eps = checkEps(o.eps ?? 1e-5, "options.eps");
    const momentum = checkMomentum(o.momentum === undefined ? 0.1 : o.momentum, "options.momentum", false)!;
    const affine = readFlag(o.affine, "options.affine", false);
    const track = readFlag(o.trackRunningStats, "options.trackRunningStats", false);
    const layout = checkLayout(o.layout, "options.layout");
    super("InstanceNorm", [C], affine, affine, "numFeatures");
    this.numFeatures = C;
    this.eps = eps;
    this.momentum = momentum;
    this.affine = affine;
    this.trackRunningStats = track;
    this.layout = layout;
    this.#rank = rank;
    if (track) {
      try {
        const [mean, variance, workspace] = allocateAll<Tensor | ChannelWorkspace | null>([
          () => keep(zerosFor([C], undefined, "numFeatures")),
          () => keep(zerosFor([C], undefined, "numFeatures")).set(new Float32Array(C).fill(1)),
          () => new ChannelWorkspace(kernels(), C, "numFeatures"),
        ]);
        this.#runningMean = mean as Tensor;
        this.#runningVar = variance as Tensor;
        this.#workspace = workspace as ChannelWorkspace;
      } catch (error) {
        super.dispose(); // nothing held when the constructor fails
        throw error;
      }
    }
  }

  get runningMean(): Tensor | null { return this.#runningMean; }
  get runningVar(): Tensor | null { return this.#runningVar; }
  get numBatchesTracked(): number { return this.#numBatchesTracked; }

  protected runForward(x: Tensor, out: Tensor | undefined, weight: Tensor | null, bias: Tensor | null, training: boolean): { y: Tensor; saved: SavedNormStatistics | null } {
    const input = checkTensor(x, "x");
    checkChannels(input, this.layout, this.numFeatures, "x");
    const geometry = instanceGeometry(input, this.layout, "x", this.#rank);
    const output = checkOutput(out, input, this.layout, "out", "x");
    if (!training && this.#runningMean && this.#runningVar) {
      const y = instanceNormWithRunning(input, this.layout, geometry, this.#runningMean, this.#runningVar, weight, bias, this.eps, output, this.#workspace!);
      this.#evalForward = { x: input, xVersion: input.version };
      return { y, saved: null };
    }
    checkSpatial(geometry, "x");
    const running = training && this.#runningMean && this.#runningVar ? { mean: this.#runningMean, variance: this.#runningVar, momentum: this.momentum } : undefined;
    const result = groupForward("instanceNorm", { x: input, layout: this.layout, geometry, G: geometry.C, weight, bias, eps: this.eps, out: output, running });
    this.#evalForward = null;
    return result;
  }

  protected runBackward(dy: Tensor, out: Tensor | undefined, saved: SavedNormStatistics | null, gradients: Gradients): Tensor {
    if (saved && !this.#evalForward) return groupBackward("instanceNorm", dy, saved, { out }, gradients).dx;
    const forward = this.#evalForward;
    if (!forward) fail("ERR_NO_FORWARD", "dy", "backward needs a forward first");
    // Eval mode with running statistics: the statistics are constants, dx = dy * weight / sqrt(running_var + eps).
    if (forward.x.disposed || forward.x.version !== forward.xVersion) fail("ERR_NO_FORWARD", "dy", "the input of the last forward was disposed or modified since");
    const gradient = checkTensor(dy, "dy");
    checkSameShape(gradient, forward.x.shape, "dy", "the forward input");
    checkLayoutTag(gradient, this.layout, "dy");
    const output = checkOutput(out, forward.x, this.layout, "out", "the forward input");
    const dx = output ?? zerosFor(forward.x.shape, forward.x.layout, "out");
    const g = instanceGeometry(forward.x, this.layout, "x", this.#rank);
    if (g.N * g.S > 0) {
      kernels().evalBackward(forward.x.byteOffset, gradient.byteOffset, dx.byteOffset, g.N, g.C, g.S, this.layout === "channels-last" || g.S === 1,
        gradients.weightGrad !== null, ptrOf(gradients.weightGrad), ptrOf(gradients.biasGrad), this.#workspace!.ptr);
    }
    dx.markWritten();
    gradients.weightGrad?.markWritten();
    gradients.biasGrad?.markWritten();
    this.#evalForward = null;
    return dx;
  }

  protected buffers(): Buffer[] {
    if (!this.#runningMean || !this.#runningVar) return [];
    const mean = this.#runningMean, variance = this.#runningVar;
    return [{ key: "running_mean", tensor: () => mean, size: this.numFeatures }, { key: "running_var", tensor: () => variance, size: this.numFeatures }];
  }

  protected batchCount(): number | null {
    return this.trackRunningStats ? this.#numBatchesTracked : null;
  }

  protected setBatchCount(count: number): void {
    this.#numBatchesTracked = count;
  }

  protected disposeBuffers(): void {
    this.#runningMean?.dispose();
    this.#runningVar?.dispose();
    this.#workspace?.dispose();
  }
}

export class InstanceNorm1d extends InstanceNorm {
  constructor(numFeatures: number, options?: InstanceNormOptions) {
    super(numFeatures, options, 3);
  }
}

export class InstanceNorm2d extends InstanceNorm {
  constructor(numFeatures: number, options?: InstanceNormOptions) {
    super(numFeatures, options, 4);
  }
}

export class InstanceNorm3d extends InstanceNorm {
  constructor(numFeatures: number, options?: InstanceNormOptions) {
    super(numFeatures, options, 5);
  }
}
