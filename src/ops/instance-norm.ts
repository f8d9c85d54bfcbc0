// InstanceNorm as stateless operations (torch.nn.functional.instance_norm):
// statistics per (sample, channel) over the spatial axes; with running
// statistics they are updated from the batch (torch's rule: the batch mean of
// the per-instance means and unbiased variances) or, with useInputStats false,
// used instead of the instance statistics.
import { fail } from "../errors.ts";
import { readFlag, readOptions } from "../options.ts";
import { checkEps } from "../shape.ts";
import { checkLayout, checkTensor, zerosFor, type Layout, type Tensor } from "../tensor.ts";
import { kernels } from "../wasm.ts";
import { ChannelWorkspace } from "../workspace.ts";
import { allocateAll, checkMomentum, checkOutput, ptrOf } from "./common.ts";
import { groupBackward, groupForward, groupGeometryOf, optionalPerChannelOf, type GroupBackwardOptions, type GroupGeometry } from "./groups.ts";
import type { SavedNormStatistics } from "./saved.ts";

export interface InstanceNormOptions {
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Normalize with each instance's statistics (default true); false: with runningMean and runningVar. */
  useInputStats?: boolean;
  /** Weight of the batch in the running update; default 0.1. */
  momentum?: number;
  eps?: number;
  layout?: Layout;
  out?: Tensor;
}

const KEYS = ["runningMean", "runningVar", "weight", "bias", "useInputStats", "momentum", "eps", "layout", "out"] as const;

export function instanceGeometry(x: Tensor, layout: Layout, argument: string, rank?: number): GroupGeometry {
  if (rank === undefined) return groupGeometryOf(x, layout, argument, 3, 5, "3D, 4D or 5D");
  return groupGeometryOf(x, layout, argument, rank, rank, `${rank}D`);
}

/** Instance statistics need more than one spatial value (torch's rule in training). */
export function checkSpatial(geometry: GroupGeometry, argument: string): void {
  if (geometry.S === 1) fail("ERR_SINGLE_VALUE", argument, "expected more than 1 spatial element when using instance statistics, got 1");
}

/**
 * Inference with running statistics: y = (x - runningMean) / sqrt(runningVar + eps) * weight + bias,
 * through BatchNorm's eval kernels (the same per-channel form).
 */
export function instanceNormWithRunning(x: Tensor, layout: Layout, g: GroupGeometry, mean: Tensor, variance: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number, out: Tensor | undefined, workspace?: ChannelWorkspace): Tensor {
  const k = kernels();
  const [made, ws] = allocateAll<Tensor | ChannelWorkspace | null>([
    () => (out ? null : zerosFor(x.shape, x.layout, "options.out")),
    () => (workspace ? null : new ChannelWorkspace(k, g.C, "x")),
  ]) as [Tensor | null, ChannelWorkspace | null];
  const y = out ?? made!;
  const space = workspace ?? ws!;
  if (g.N * g.S > 0) {
    k.evalPrepare(g.C, mean.byteOffset, variance.byteOffset, ptrOf(weight), ptrOf(bias), eps, space.ptr);
    k.evalForward(x.byteOffset, y.byteOffset, g.N, g.C, g.S, layout === "channels-last" || g.S === 1, space.ptr);
  }
  if (!workspace) space.dispose();
  y.markWritten();
  return y;
}

/**
 * InstanceNorm forward. With useInputStats (default) returns the instance
 * statistics in `saved` (mean and invStd per (n, c)); with useInputStats false
 * it normalizes with the running statistics and `saved` is null.
 */
export function instanceNorm(x: Tensor, options?: InstanceNormOptions): { y: Tensor; saved: SavedNormStatistics | null } {
  const o = readOptions(options, "options", KEYS);
  const layout = checkLayout(o.layout, "options.layout");
  const input = checkTensor(x, "x");
  const geometry = instanceGeometry(input, layout, "x");
  const { C } = geometry;
  const eps = checkEps(o.eps ?? 1e-5, "options.eps");
  const weight = optionalPerChannelOf(o.weight, C, "options.weight");
  const bias = optionalPerChannelOf(o.bias, C, "options.bias");
  const runningMean = optionalPerChannelOf(o.runningMean, C, "options.runningMean");
  const runningVar = optionalPerChannelOf(o.runningVar, C, "options.runningVar");
  if ((runningMean === null) !== (runningVar === null)) {
    fail("ERR_ARGUMENT", runningMean === null ? "options.runningMean" : "options.runningVar", "runningMean and runningVar go together: give both or neither");
  }
  if (runningMean !== null && runningMean === runningVar) fail("ERR_ARGUMENT", "options.runningVar", "must be a different tensor from options.runningMean");
  const useInputStats = readFlag(o.useInputStats, "options.useInputStats", true);
  const momentum = checkMomentum(o.momentum === undefined ? 0.1 : o.momentum, "options.momentum", false)!;
  const out = checkOutput(o.out, input, layout, "options.out", "x");
  if (!useInputStats) {
    if (!runningMean || !runningVar) fail("ERR_ARGUMENT", "options.useInputStats", "false needs runningMean and runningVar");
    return { y: instanceNormWithRunning(input, layout, geometry, runningMean, runningVar, weight, bias, eps, out), saved: null };
  }
  checkSpatial(geometry, "x");
  const running = runningMean && runningVar ? { mean: runningMean, variance: runningVar, momentum } : undefined;
  return groupForward("instanceNorm", { x: input, layout, geometry, G: C, weight, bias, eps, out, running });
}

/** dx through the instance statistics of `saved`'s forward; dweight and dbias as new tensors (null without a weight). */
export function instanceNormBackward(dy: Tensor, saved: SavedNormStatistics, options?: GroupBackwardOptions): { dx: Tensor; weightGrad: Tensor | null; biasGrad: Tensor | null } {
  return groupBackward("instanceNorm", dy, saved, options);
}
