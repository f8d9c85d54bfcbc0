// RMSNorm as stateless operations (torch 2.4's torch.nn.functional.rms_norm):
// y = x / sqrt(mean(x^2) + eps) * weight over the trailing normalizedShape.
import { readOptions } from "../options.ts";
import { checkEps } from "../shape.ts";
import { checkTensor, type Tensor } from "../tensor.ts";
import { checkRowOutput, optionalElementwise, readNormalizedShape, rowBackward, rowForward, rowsOf, type RowBackwardOptions } from "./rows.ts";
import type { SavedNormStatistics } from "./saved.ts";

/** torch's eps=None for float32 input: torch.finfo(torch.float32).eps. */
export const FLOAT32_EPSILON = 2 ** -23;

export interface RmsNormOptions {
  weight?: Tensor | null;
  /** Default null: float32 machine epsilon (2^-23), as torch does for float32 input. */
  eps?: number | null;
  out?: Tensor;
}

const KEYS = ["weight", "eps", "out"] as const;

/** y = x / sqrt(mean(x^2) + eps) * weight; `saved.invStd` is 1 / sqrt(mean(x^2) + eps) per row (`saved.mean` is null). */
export function rmsNorm(x: Tensor, normalizedShape: number | readonly number[], options?: RmsNormOptions): { y: Tensor; saved: SavedNormStatistics } {
  const o = readOptions(options, "options", KEYS);
  const input = checkTensor(x, "x");
  const shape = readNormalizedShape(normalizedShape, "normalizedShape");
  const { R, D } = rowsOf(input, shape, "x");
  const eps = o.eps === undefined || o.eps === null ? FLOAT32_EPSILON : checkEps(o.eps, "options.eps");
  const weight = optionalElementwise(o.weight, shape, "options.weight");
  const out = checkRowOutput(o.out, input, "options.out");
  return rowForward("rmsNorm", { x: input, R, D, normalizedShape: shape, weight, bias: null, eps, out });
}

/** dx through the row statistics of `saved`'s forward; dweight as a new tensor (null without a weight; biasGrad is always null). */
export function rmsNormBackward(dy: Tensor, saved: SavedNormStatistics, options?: RowBackwardOptions): { dx: Tensor; weightGrad: Tensor | null; biasGrad: Tensor | null } {
  return rowBackward("rmsNorm", dy, saved, options);
}
