// GroupNorm as stateless operations (torch.nn.functional.group_norm): statistics
// per (sample, group of C / numGroups channels), weight and bias per channel.
import { fail } from "../errors.ts";
import { readOptions } from "../options.ts";
import { checkEps } from "../shape.ts";
import { checkLayout, checkTensor, type Layout, type Tensor } from "../tensor.ts";
import { checkOutput } from "./common.ts";
import { groupBackward, groupForward, groupGeometryOf, optionalPerChannelOf, type GroupBackwardOptions } from "./groups.ts";
import type { SavedNormStatistics } from "./saved.ts";

export interface GroupNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Default 1e-5. */
  eps?: number;
  /** "channels-first" [N, C, ...] (default) or "channels-last" [N, ..., C]. */
  layout?: Layout;
  out?: Tensor;
}

const KEYS = ["weight", "bias", "eps", "layout", "out"] as const;

/** Throws ERR_CHANNELS unless numGroups is a positive integer dividing `channels`. */
export function checkGroups(numGroups: unknown, channels: number, argument: string): number {
  if (typeof numGroups !== "number" || !Number.isSafeInteger(numGroups) || numGroups < 1) {
    fail("ERR_ARGUMENT", argument, `must be a positive integer, got ${String(numGroups)}`);
  }
  if (channels % numGroups !== 0) fail("ERR_CHANNELS", argument, `must divide the number of channels (${channels}), got ${numGroups}`);
  return numGroups;
}

/** y per (n, group) statistics; `saved` has mean and invStd per (n, group), n-major. */
export function groupNorm(x: Tensor, numGroups: number, options?: GroupNormOptions): { y: Tensor; saved: SavedNormStatistics } {
  const o = readOptions(options, "options", KEYS);
  const layout = checkLayout(o.layout, "options.layout");
  const input = checkTensor(x, "x");
  const geometry = groupGeometryOf(input, layout, "x", 2, 32, "2D or higher");
  const G = checkGroups(numGroups, geometry.C, "numGroups");
  const eps = checkEps(o.eps ?? 1e-5, "options.eps");
  const weight = optionalPerChannelOf(o.weight, geometry.C, "options.weight");
  const bias = optionalPerChannelOf(o.bias, geometry.C, "options.bias");
  const out = checkOutput(o.out, input, layout, "options.out", "x");
  return groupForward("groupNorm", { x: input, layout, geometry, G, weight, bias, eps, out });
}

/** dx through the group statistics of `saved`'s forward; dweight and dbias as new tensors (null without a weight). */
export function groupNormBackward(dy: Tensor, saved: SavedNormStatistics, options?: GroupBackwardOptions): { dx: Tensor; weightGrad: Tensor | null; biasGrad: Tensor | null } {
  return groupBackward("groupNorm", dy, saved, options);
}
