// LayerNorm as stateless operations (torch.nn.functional.layer_norm): statistics
// per row over the trailing normalizedShape, weight and bias per element of it.
import { readOptions } from "../options.ts";
import { checkEps } from "../shape.ts";
import { checkTensor, type Tensor } from "../tensor.ts";
import { checkRowOutput, optionalElementwise, readNormalizedShape, rowBackward, rowForward, rowsOf, type RowBackwardOptions } from "./rows.ts";
import type { SavedNormStatistics } from "./saved.ts";

export interface LayerNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Default 1e-5. */
  eps?: number;
  /** Written instead of allocating y (x itself allowed; backward then refuses). */
  out?: Tensor;
}

const KEYS = ["weight", "bias", "eps", "out"] as const;

/** y = (x - mean) / sqrt(var + eps) * weight + bias over the trailing `normalizedShape`; `saved` has mean and invStd per row. */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], options?: LayerNormOptions): { y: Tensor; saved: SavedNormStatistics } {
  const o = readOptions(options, "options", KEYS);
  const input = checkTensor(x, "x");
  const shape = readNormalizedShape(normalizedShape, "normalizedShape");
  const { R, D } = rowsOf(input, shape, "x");
  const eps = checkEps(o.eps ?? 1e-5, "options.eps");
  const weight = optionalElementwise(o.weight, shape, "options.weight");
  const bias = optionalElementwise(o.bias, shape, "options.bias");
  const out = checkRowOutput(o.out, input, "options.out");
  return rowForward("layerNorm", { x: input, R, D, normalizedShape: shape, weight, bias, eps, out });
}

/** dx through the row statistics of `saved`'s forward; dweight and dbias as new tensors (null without a weight). */
export function layerNormBackward(dy: Tensor, saved: SavedNormStatistics, options?: RowBackwardOptions): { dx: Tensor; weightGrad: Tensor | null; biasGrad: Tensor | null } {
  return rowBackward("layerNorm", dy, saved, options);
}
