// batchnorm-wasm: Batch Normalization with PyTorch semantics on wasm SIMD kernels.
export { init, activeBuild, wasmMemoryBytes, simdSupported, type BuildName, type InitOptions } from "./wasm.ts";
export { Tensor, type Layout, type NestedNumbers, type NestedArray, type RankOf } from "./tensor.ts";
export {
  liveTensorCount, memoryStats, setMemoryLimit, enableGuardBytes, checkGuardBytes, MAX_ALLOCATION_BYTES, type MemoryStats,
} from "./memory.ts";
export { tidy, keep } from "./tidy.ts";
export { setDebugTracking, liveTensorReport, type LiveTensorRecord } from "./debug.ts";
export { MAX_TENSOR_ELEMENTS } from "./values.ts";
export { MAX_CHANNELS } from "./workspace.ts";
export { BatchNormError, type BatchNormErrorCode } from "./errors.ts";
export type { BatchNormOptions, BatchNormState, BatchStatistics } from "./layers/batch-norm.ts";
export {
  batchNormTrain, batchNormEval, batchNormBackward, batchStatistics, SavedBatchStatistics,
  type TrainOptions, type EvalOptions, type BackwardOptions,
} from "./ops/batch-norm.ts";
export type { RunningVariance } from "./ops/common.ts";
export type { LayerNormOptions, RMSNormOptions } from "./layers/layer-norm.ts";
export type { GroupNormOptions } from "./layers/group-norm.ts";
export type { InstanceNormOptions } from "./layers/instance-norm.ts";
// The layer classes with construct signatures typed by their flags (src/layers/typed.ts).
export {
  BatchNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d, LayerNorm, RMSNorm, GroupNorm, InstanceNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d,
  type Present, type TypedParameters, type TypedRunningStatistics, type BatchNormConstructor, type InstanceNormConstructor,
  type LayerNormConstructor, type RMSNormConstructor, type GroupNormConstructor,
} from "./layers/typed.ts";
export type { NormStatistics } from "./layers/norm-layer.ts";
export { layerNorm, layerNormBackward } from "./ops/layer-norm.ts";
export { rmsNorm, rmsNormBackward } from "./ops/rms-norm.ts";
export { groupNorm, groupNormBackward } from "./ops/group-norm.ts";
export { instanceNorm, instanceNormBackward } from "./ops/instance-norm.ts";
export { SavedNormStatistics } from "./ops/saved.ts";
export {
  STATS_SOURCES, SINGLE_SAMPLE_POLICIES, type StatsSource, type SingleSamplePolicy, type ForwardOptions,
} from "./layers/batch-norm.ts";
export { PopulationStatistics, recomputeStatistics } from "./adapt/population.ts";
export {
  SyncBatchNorm, localStatistics, mergeStatistics, mergeGradientSums, type StatisticsPayload, type GradientPayload, type AllReduce,
} from "./sync.ts";
export {
  BatchRenorm, GhostBatchNorm, renormSchedule, type BatchRenormOptions, type GhostBatchNormOptions, type RenormLimits,
} from "./variants/variants.ts";
export {
  SGD, Adam, AdamW, Optimizer, type SGDOptions, type AdamOptions, type SGDHyperparameters, type AdamHyperparameters, type SGDTorchGroup, type AdamTorchGroup,
  type SGDStateDict, type AdamStateDict, type OptimizerStateDict, type ParameterStateDict, type ParameterPair, type ParameterInput, type ParamGroup, type ParamGroupInput,
} from "./optim/index.ts";
export {
  readSafetensors, writeSafetensors, SAFETENSORS_READ_DTYPES, SAFETENSORS_WRITE_DTYPES, MAX_SAFETENSORS_HEADER_BYTES,
  type SafetensorsFile, type SafetensorsTensor, type SafetensorsDtype, type SafetensorsInput,
} from "./io/safetensors.ts";
export { type LoadStateDictOptions, type LoadStateDictResult } from "./state/load.ts";
export { listNormLayers, loadBatchNorms, type NormLayerEntry } from "./state/list.ts";
export { stateToJSON } from "./state/json.ts";
export {
  conventions, fromKerasConfig, toKerasConfig, fromKerasWeights, toKerasWeights, fromOnnxAttributes, toOnnxAttributes,
  fromOnnxInitializers, toOnnxInitializers, type Convention, type ConventionName, type KerasBatchNormConfig, type FromKerasResult,
  type OnnxBatchNormAttributes,
} from "./conventions.ts";
export {
  fuseConvBnWeights, fuseLinearBnWeights, fuseBnLinearWeights, checkFolding,
  type BatchNormFoldState, type FoldedWeights, type ConvFoldOptions, type LinearFoldOptions, type FoldingCheck,
} from "./fold.ts";
