// batchnorm-wasm/onnx on models exported by torch 1.13 (generate-checkpoints.py):
// the digits CNN in eval mode (BatchNormalization nodes kept) and in training
// mode, a ConvTranspose/Conv/Gemm + BN model and a MatMul + BN model. Normalization nodes read with
// their initializers (against the safetensors checkpoint of the same model),
// loaded as layers (eval outputs against torch's), folded into the nodes that
// feed them (the new weights against fuseConvBnWeights), written back. The
// outputs of folded models run by onnxruntime are in test/node/onnx-runtime.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import { BatchNorm, BatchNormError, Tensor, fuseConvBnWeights, init, readSafetensors } from "../../src/index.ts";
import { foldOnnxBatchNorms, onnxNormLayers, readOnnx } from "../../src/onnx.ts";
import models from "../fixtures/onnx-models.json";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";
import { seededRandom } from "../support/random.ts";
import { checkpointBytes, checkpointCases, decodeBytes, decodeFloat32 } from "../support/checkpoint.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

const evalModel = () => decodeBytes(models.digitsEval), trainModel = () => decodeBytes(models.digitsTrain), extras = () => decodeBytes(models.extras);
/** "/features/features.1/BatchNormalization" -> "features.1." */
const prefixOf = (node: string) => `${node.split("/")[2]}.`;

describe("reading torch's ONNX exports", () => {
  it("lists the BatchNormalization nodes with torch's attributes and the checkpoint's values", () => {
    const info = readOnnx(evalModel());
    expect(info).toMatchObject({ irVersion: 8, opset: 15, producer: "pytorch 1.13.0" });
    expect(info.normalizations.map((n) => [prefixOf(n.name), n.opType, n.channels, n.training])).toEqual([
      ["features.1.", "BatchNormalization", 8, false], ["features.4.", "BatchNormalization", 8, false],
      ["features.7.", "BatchNormalization", 12, false], ["classifier.2.", "BatchNormalization", 32, false],
    ]);
    const { state } = readSafetensors(checkpointBytes());
    for (const node of info.normalizations) {
      expect(node.attributes).toMatchObject({ epsilon: Math.fround(1e-5), momentum: Math.fround(0.9), training_mode: 0 });
      for (const key of ["weight", "bias", "running_mean", "running_var"]) {
        expect([...(node.state[key] as Float32Array)], `${node.name} ${key}`).toEqual([...(state[prefixOf(node.name) + key] as Float32Array)]);
      }
    }
    expect(readOnnx(trainModel()).normalizations.every((n) => n.training)).toBe(true);
  });

  it("makes eval-mode layers that give torch's outputs on its captured activations", () => {
    const { layers, skipped } = onnxNormLayers(evalModel());
    expect(skipped).toEqual([]);
    expect(layers.size).toBe(4);
    for (const capture of checkpointCases.activations) {
      const [name, layer] = [...layers].find(([n]) => prefixOf(n) === capture.prefix)!;
      expect(layer, name).toBeInstanceOf(BatchNorm);
      expect((layer as BatchNorm).runningVariance).toBe("biased"); // ONNX's convention for training
      const x = Tensor.from(decodeFloat32(capture.x), capture.shape);
      const y = layer.forward(x).toFloat32Array(), torchY = decodeFloat32(capture.y);
      // eps is ONNX's float32 1e-5 here, torch used the double 1e-5: within 1e-6 of torch.
      expect(Math.max(...y.map((v, i) => Math.abs(v - torchY[i])))).toBeLessThan(1e-6);
      x.dispose();
    }
    for (const layer of layers.values()) layer.dispose();
  });

  it("gives a result or a BatchNormError for 300 seeded corruptions of the model (read, load, fold)", () => {
    const random = seededRandom(23);
    const base = evalModel();
    let refused = 0;
    for (let round = 0; round < 300; round++) {
      const bytes = base.slice();
      for (let f = 0; f < 1 + Math.floor(random() * 3); f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      for (const call of [() => readOnnx(bytes), () => foldOnnxBatchNorms(bytes), () => { for (const l of onnxNormLayers(bytes).layers.values()) l.dispose(); }]) {
        try {
          call();
        } catch (error) {
          expect(error, String(error)).toBeInstanceOf(BatchNormError);
          refused += 1;
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it("refuses bytes that are not an ONNX model with ERR_FORMAT, and what is not bytes with ERR_ARGUMENT", () => {
    expect(caughtError(() => readOnnx(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff])))).toMatchObject({ code: "ERR_FORMAT", argument: "bytes" });
    expect(caughtError(() => readOnnx(checkpointBytes()))).toMatchObject({ code: "ERR_FORMAT" });
    expect(caughtError(() => readOnnx(evalModel().subarray(0, 1000)))).toMatchObject({ code: "ERR_FORMAT" });
    expect(caughtError(() => foldOnnxBatchNorms("model.onnx" as never))).toMatchObject({ code: "ERR_ARGUMENT", argument: "bytes" });
  });
});

describe("folding BatchNormalization nodes", () => {
  it("folds the digits CNN's four BNs into its Convs and Gemm; the new weights are fuseConvBnWeights'", () => {
    const result = foldOnnxBatchNorms(evalModel());
    expect(result.skipped).toEqual([]);
    expect(result.folded.map((f) => [prefixOf(f.node), f.op])).toEqual([["features.1.", "Conv"], ["features.4.", "Conv"], ["features.7.", "Conv"], ["classifier.2.", "Gemm"]]);
    const after = readOnnx(result.bytes);
    expect(after.ops).not.toContain("BatchNormalization");
    expect(after.ops.slice(0, 9)).toEqual(["Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "Flatten", "Gemm", "Relu"]);
    expect(result.bytes.length).toBeLessThan(evalModel().length);
    expect(foldOnnxBatchNorms(result.bytes).folded).toEqual([]); // nothing left to fold
    // The folded first Conv's weights, read back through a BN-shaped probe: compare with the core's folding.
    const { state } = readSafetensors(checkpointBytes());
    const expected = fuseConvBnWeights(state["features.0.weight"] as Float32Array, state["features.0.bias"] as Float32Array,
      { running_mean: state["features.1.running_mean"] as Float32Array, running_var: state["features.1.running_var"] as Float32Array,
        weight: state["features.1.weight"] as Float32Array, bias: state["features.1.bias"] as Float32Array, eps: Math.fround(1e-5) }, { shape: [8, 1, 3, 3] });
    const text = new TextDecoder("latin1").decode(result.bytes);
    const raw = new Uint8Array(expected.weight.buffer);
    expect(text.includes(new TextDecoder("latin1").decode(raw))).toBe(true);
  });

  it("folds ConvTranspose (grouped), Conv without bias and Gemm of the extras model", () => {
    const result = foldOnnxBatchNorms(extras());
    expect(result.skipped).toEqual([]);
    expect(result.folded.map((f) => f.op)).toEqual(["ConvTranspose", "Conv", "Gemm"]);
    expect(readOnnx(result.bytes).ops).not.toContain("BatchNormalization");
  });

  it("folds a 2-D MatMul into MatMul + Add", () => {
    const result = foldOnnxBatchNorms(decodeBytes(models.matmul));
    expect(result.folded.map((f) => f.op)).toEqual(["MatMul"]);
    expect(readOnnx(result.bytes).ops).toEqual(["MatMul", "Add"]);
  });

  it("leaves training-mode BNs and says why", () => {
    const result = foldOnnxBatchNorms(trainModel());
    expect(result.folded).toEqual([]);
    expect(result.skipped).toHaveLength(4);
    expect(result.skipped[0].reason).toContain("training_mode = 1");
    expect(readOnnx(result.bytes).ops.filter((op) => op === "BatchNormalization")).toHaveLength(4);
  });
});
