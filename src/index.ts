// batchnorm-wasm: Batch Normalization with PyTorch semantics on wasm SIMD kernels.
export { init, activeBuild, wasmMemoryBytes, simdSupported, type BuildName, type InitOptions } from "./wasm.ts";
export { Tensor, liveTensorCount, type Layout, type NestedNumbers } from "./tensor.ts";
export { BatchNormError, type BatchNormErrorCode } from "./errors.ts";
export { BatchNorm, type BatchNormOptions, type BatchNormState } from "./batchnorm.ts";
export {
  batchNormTrain, batchNormEval, batchNormBackward, batchStatistics, SavedBatchStatistics,
  type TrainOptions, type EvalOptions, type BackwardOptions,
} from "./functional.ts";
