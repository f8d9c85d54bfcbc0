// batchnorm-wasm/onnx: ONNX models in and out. Needs protobufjs (an optional
// peer dependency: `npm install protobufjs`); the core entry points need nothing.
export {
  readOnnx, onnxNormLayers, foldOnnxBatchNorms,
  type OnnxModelInfo, type OnnxNormNode, type OnnxNormOp, type OnnxNormLayer, type OnnxFoldResult,
} from "./onnx/model.ts";
