// torch.nn.LayerNorm and torch.nn.RMSNorm: statistics per row over the trailing
// normalizedShape; the same in training and eval mode.
import { readFlag, readOptions } from "../options.ts";
import { layerNorm } from "../ops/layer-norm.ts";
import { FLOAT32_EPSILON, rmsNorm } from "../ops/rms-norm.ts";
import { readNormalizedShape } from "../ops/rows.ts";
import type { SavedNormStatistics } from "../ops/saved.ts";
import { rowBackward } from "../ops/rows.ts";
import { checkEps } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { NormLayer, type Gradients } from "./norm-layer.ts";
import { fail } from "../errors.ts";

export interface LayerNormOptions<Affine extends boolean = boolean, Bias extends boolean = boolean> {
  /** Default 1e-5. */
  eps?: number;
  /** Learnable per-element weight (and bias); default true. */
  elementwiseAffine?: Affine;
  /** With elementwiseAffine, a learnable bias; default true. */
  bias?: Bias;
}

const LAYER_KEYS = ["eps", "elementwiseAffine", "bias"] as const;

function noForward(): never {
  fail("ERR_NO_FORWARD", "dy", "backward needs a forward first");
}

export class LayerNorm extends NormLayer {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;

  constructor(normalizedShape: number | readonly number[], options?: LayerNormOptions) {
    const o = readOptions(options, "options", LAYER_KEYS);
    const shape = readNormalizedShape(normalizedShape, "normalizedShape");
    const eps = checkEps(o.eps ?? 1e-5, "options.eps");
    const affine = readFlag(o.elementwiseAffine, "options.elementwiseAffine", true);
    const withBias = readFlag(o.bias, "options.bias", true);
    super("LayerNorm", shape, affine, affine && withBias, "normalizedShape");
    this.normalizedShape = Object.freeze(shape);
    this.eps = eps;
    this.elementwiseAffine = affine;
  }

  protected runForward(x: Tensor, out: Tensor | undefined, weight: Tensor | null, bias: Tensor | null) {
    return layerNorm(x, this.normalizedShape, { weight, bias, eps: this.eps, out });
  }

  protected runBackward(dy: Tensor, out: Tensor | undefined, saved: SavedNormStatistics | null, gradients: Gradients): Tensor {
    return rowBackward("layerNorm", dy, saved ?? noForward(), { out }, gradients).dx;
  }
}

export interface RMSNormOptions<Affine extends boolean = boolean> {
  /** Default null: float32 machine epsilon (2^-23), as torch does for float32 input. */
  eps?: number | null;
  /** Learnable per-element weight; default true. */
  elementwiseAffine?: Affine;
}

const RMS_KEYS = ["eps", "elementwiseAffine"] as const;

export class RMSNorm extends NormLayer {
  readonly normalizedShape: readonly number[];
  /** The eps in use (float32 machine epsilon when constructed with null). */
  readonly eps: number;
  readonly elementwiseAffine: boolean;

  constructor(normalizedShape: number | readonly number[], options?: RMSNormOptions) {
    const o = readOptions(options, "options", RMS_KEYS);
    const shape = readNormalizedShape(normalizedShape, "normalizedShape");
    const eps = o.eps === undefined || o.eps === null ? FLOAT32_EPSILON : checkEps(o.eps, "options.eps");
    const affine = readFlag(o.elementwiseAffine, "options.elementwiseAffine", true);
    super("RMSNorm", shape, affine, false, "normalizedShape");
    this.normalizedShape = Object.freeze(shape);
    this.eps = eps;
    this.elementwiseAffine = affine;
  }

  protected runForward(x: Tensor, out: Tensor | undefined, weight: Tensor | null) {
    return rmsNorm(x, this.normalizedShape, { weight, eps: this.eps, out });
  }

  protected runBackward(dy: Tensor, out: Tensor | undefined, saved: SavedNormStatistics | null, gradients: Gradients): Tensor {
    return rowBackward("rmsNorm", dy, saved ?? noForward(), { out }, gradients).dx;
  }
}

