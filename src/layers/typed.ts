// The public face of the layer classes: the same classes (the same objects at
// run time), with construct signatures whose instance types follow the flags
// given or defaulted, so `new BatchNorm(3).weight` is a Tensor,
// `new BatchNorm(3, { affine: false }).weight` is null, and forward keeps the
// rank of its input in the type. The bare types (BatchNorm, LayerNorm, ...)
// stay any layer of the class: a variable typed BatchNorm takes every BatchNorm.
import type { Tensor } from "../tensor.ts";
import {
  BatchNorm as BatchNormClass, BatchNorm1d as BatchNorm1dClass, BatchNorm2d as BatchNorm2dClass, BatchNorm3d as BatchNorm3dClass,
  type BatchNormOptions,
} from "./batch-norm.ts";
import { GroupNorm as GroupNormClass, type GroupNormOptions } from "./group-norm.ts";
import {
  InstanceNorm as InstanceNormClass, InstanceNorm1d as InstanceNorm1dClass, InstanceNorm2d as InstanceNorm2dClass,
  InstanceNorm3d as InstanceNorm3dClass, type InstanceNormOptions,
} from "./instance-norm.ts";
import { LayerNorm as LayerNormClass, RMSNorm as RMSNormClass, type LayerNormOptions, type RMSNormOptions } from "./layer-norm.ts";

/** `T` when the flag is true, null when it is false, either when it is only known as boolean. */
export type Present<Flag extends boolean, T> = Flag extends true ? T : null;

/**
 * Parameter accessors typed by the layer's flags. The gradients stay
 * `| null` with the parameters: they are made by the first backward (torch's
 * .grad is None before it).
 */
export interface TypedParameters<HasWeight extends boolean, HasBias extends boolean> {
  readonly weight: Present<HasWeight, Tensor>;
  readonly bias: Present<HasBias, Tensor>;
  readonly weightGrad: Present<HasWeight, Tensor> | null;
  readonly biasGrad: Present<HasBias, Tensor> | null;
  /** y for x, of x's rank. */
  forward<Rank extends number>(x: Tensor<Rank>, out?: Tensor): Tensor<Rank>;
  /** dx for the last forward, of dy's rank. */
  backward<Rank extends number>(dy: Tensor<Rank>, out?: Tensor): Tensor<Rank>;
}

/** Running statistics typed by trackRunningStats. */
export interface TypedRunningStatistics<Track extends boolean> {
  readonly runningMean: Present<Track, Tensor>;
  readonly runningVar: Present<Track, Tensor>;
}

export interface BatchNormConstructor<Layer> {
  /** affine and trackRunningStats default to true, as in torch. */
  new <Affine extends boolean = true, Track extends boolean = true>(numFeatures: number, options?: BatchNormOptions<Affine, Track>):
    TypedParameters<Affine, Affine> & TypedRunningStatistics<Track> & Layer;
  readonly prototype: Layer;
}

export interface InstanceNormConstructor<Layer> {
  /** affine and trackRunningStats default to false, as in torch. */
  new <Affine extends boolean = false, Track extends boolean = false>(numFeatures: number, options?: InstanceNormOptions<Affine, Track>):
    TypedParameters<Affine, Affine> & TypedRunningStatistics<Track> & Layer;
  readonly prototype: Layer;
}

export interface LayerNormConstructor {
  /** elementwiseAffine and bias default to true; bias needs elementwiseAffine. */
  new <Affine extends boolean = true, Bias extends boolean = true>(normalizedShape: number | readonly number[], options?: LayerNormOptions<Affine, Bias>):
    TypedParameters<Affine, Affine extends true ? Bias : false> & LayerNormClass;
  readonly prototype: LayerNormClass;
}

export interface RMSNormConstructor {
  /** elementwiseAffine defaults to true; RMSNorm has no bias. */
  new <Affine extends boolean = true>(normalizedShape: number | readonly number[], options?: RMSNormOptions<Affine>): TypedParameters<Affine, false> & RMSNormClass;
  readonly prototype: RMSNormClass;
}

export interface GroupNormConstructor {
  /** affine defaults to true. */
  new <Affine extends boolean = true>(numGroups: number, numChannels: number, options?: GroupNormOptions<Affine>): TypedParameters<Affine, Affine> & GroupNormClass;
  readonly prototype: GroupNormClass;
}

/** torch.nn.BatchNorm1d/2d/3d without the rank check: ranks 2 to 5. */
export const BatchNorm = BatchNormClass as unknown as BatchNormConstructor<BatchNormClass>;
export type BatchNorm = BatchNormClass;
export const BatchNorm1d = BatchNorm1dClass as unknown as BatchNormConstructor<BatchNorm1dClass>;
export type BatchNorm1d = BatchNorm1dClass;
export const BatchNorm2d = BatchNorm2dClass as unknown as BatchNormConstructor<BatchNorm2dClass>;
export type BatchNorm2d = BatchNorm2dClass;
export const BatchNorm3d = BatchNorm3dClass as unknown as BatchNormConstructor<BatchNorm3dClass>;
export type BatchNorm3d = BatchNorm3dClass;
export const LayerNorm = LayerNormClass as unknown as LayerNormConstructor;
export type LayerNorm = LayerNormClass;
export const RMSNorm = RMSNormClass as unknown as RMSNormConstructor;
export type RMSNorm = RMSNormClass;
export const GroupNorm = GroupNormClass as unknown as GroupNormConstructor;
export type GroupNorm = GroupNormClass;
/** torch.nn.InstanceNorm1d/2d/3d without the rank check: ranks 3 to 5. */
export const InstanceNorm = InstanceNormClass as unknown as InstanceNormConstructor<InstanceNormClass>;
export type InstanceNorm = InstanceNormClass;
export const InstanceNorm1d = InstanceNorm1dClass as unknown as InstanceNormConstructor<InstanceNorm1dClass>;
export type InstanceNorm1d = InstanceNorm1dClass;
export const InstanceNorm2d = InstanceNorm2dClass as unknown as InstanceNormConstructor<InstanceNorm2dClass>;
export type InstanceNorm2d = InstanceNorm2dClass;
export const InstanceNorm3d = InstanceNorm3dClass as unknown as InstanceNormConstructor<InstanceNorm3dClass>;
export type InstanceNorm3d = InstanceNorm3dClass;
