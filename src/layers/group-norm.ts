// torch.nn.GroupNorm: statistics per (sample, group of numChannels / numGroups
// channels), weight and bias per channel; the same in training and eval mode.
import { fail } from "../errors.ts";
import { readFlag, readOptions } from "../options.ts";
import { checkGroups, groupNorm } from "../ops/group-norm.ts";
import { groupBackward } from "../ops/groups.ts";
import type { SavedNormStatistics } from "../ops/saved.ts";
import { checkEps } from "../shape.ts";
import { checkLayout, type Layout, type Tensor } from "../tensor.ts";
import { MAX_CHANNELS } from "../workspace.ts";
import { checkChannels } from "./common.ts";
import { NormLayer, type Gradients } from "./norm-layer.ts";

export interface GroupNormOptions<Affine extends boolean = boolean> {
  /** Default 1e-5. */
  eps?: number;
  /** Learnable per-channel weight and bias; default true. */
  affine?: Affine;
  /** "channels-first" [N, C, ...] (default) or "channels-last" [N, ..., C]. */
  layout?: Layout;
}

const KEYS = ["eps", "affine", "layout"] as const;

export function checkChannelCount(value: unknown, argument: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > MAX_CHANNELS) {
    fail("ERR_ARGUMENT", argument, `must be an integer from 1 to ${MAX_CHANNELS}, got ${String(value)}`);
  }
  return value;
}

export class GroupNorm extends NormLayer {
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  readonly affine: boolean;
  readonly layout: Layout;

  constructor(numGroups: number, numChannels: number, options?: GroupNormOptions) {
    const o = readOptions(options, "options", KEYS);
    const C = checkChannelCount(numChannels, "numChannels");
    const G = checkGroups(numGroups, C, "numGroups");
    const eps = checkEps(o.eps ?? 1e-5, "options.eps");
    const affine = readFlag(o.affine, "options.affine", true);
    const layout = checkLayout(o.layout, "options.layout");
    super("GroupNorm", [C], affine, affine, "numChannels");
    this.numGroups = G;
    this.numChannels = C;
    this.eps = eps;
    this.affine = affine;
    this.layout = layout;
  }

  protected runForward(x: Tensor, out: Tensor | undefined, weight: Tensor | null, bias: Tensor | null) {
    checkChannels(x, this.layout, this.numChannels, "x");
    return groupNorm(x, this.numGroups, { weight, bias, eps: this.eps, layout: this.layout, out });
  }

  protected runBackward(dy: Tensor, out: Tensor | undefined, saved: SavedNormStatistics | null, gradients: Gradients): Tensor {
    if (!saved) fail("ERR_NO_FORWARD", "dy", "backward needs a forward first");
    return groupBackward("groupNorm", dy, saved, { out }, gradients).dx;
  }
}
