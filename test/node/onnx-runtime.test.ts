// Node-only: models folded by batchnorm-wasm/onnx run in onnxruntime-node and
// give the unfolded model's outputs (and torch's), for the digits CNN and the
// ConvTranspose/Conv/Gemm + BN and MatMul + BN models exported by torch 1.13.
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { init } from "../../src/index.ts";
import { foldOnnxBatchNorms } from "../../src/onnx.ts";
import models from "../fixtures/onnx-models.json";
import { checkpointCases, decodeBytes, decodeFloat32 } from "../support/checkpoint.ts";

beforeAll(async () => {
  await init();
});

async function run(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const output = await session.run({ x: new ort.Tensor("float32", x, shape) });
  return output.y.data as Float32Array;
}

const maxDifference = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
};

describe("folded ONNX models in onnxruntime", () => {
  it("the digits CNN: folded and unfolded outputs agree, and agree with torch", async () => {
    const model = decodeBytes(models.digitsEval);
    const { bytes, folded } = foldOnnxBatchNorms(model);
    expect(folded).toHaveLength(4);
    const x = decodeFloat32(checkpointCases.sample.x), shape = checkpointCases.sample.shape;
    const [plain, fused] = [await run(model, x, shape), await run(bytes, x, shape)];
    const torch = decodeFloat32(checkpointCases.sample.logits);
    // Measured: folded vs unfolded 1.5e-6, unfolded vs torch 1.4e-6 (logits after the final LayerNorm, |y| up to ~3).
    expect(maxDifference(fused, plain)).toBeLessThan(1e-5);
    expect(maxDifference(plain, torch)).toBeLessThan(1e-5);
    expect(maxDifference(fused, decodeFloat32(checkpointCases.sample.fusedLogits))).toBeLessThan(1e-5);
  });

  it("MatMul + BN: folded into MatMul + Add, outputs agree with the unfolded model and torch", async () => {
    const model = decodeBytes(models.matmul);
    const { bytes, folded } = foldOnnxBatchNorms(model);
    expect(folded.map((f) => f.op)).toEqual(["MatMul"]);
    const x = decodeFloat32(models.matmulInput.x), shape = models.matmulInput.shape;
    const [plain, fused] = [await run(model, x, shape), await run(bytes, x, shape)];
    expect(maxDifference(fused, plain)).toBeLessThan(1e-5);
    expect(maxDifference(plain, decodeFloat32(models.matmulOutput.y))).toBeLessThan(1e-5);
  });

  it("ConvTranspose (grouped), Conv without bias and Gemm: folded and unfolded outputs agree, and agree with torch", async () => {
    const model = decodeBytes(models.extras);
    const { bytes, folded } = foldOnnxBatchNorms(model);
    expect(folded.map((f) => f.op)).toEqual(["ConvTranspose", "Conv", "Gemm"]);
    const x = decodeFloat32(models.extrasInput.x), shape = models.extrasInput.shape;
    const [plain, fused] = [await run(model, x, shape), await run(bytes, x, shape)];
    const torch = decodeFloat32(models.extrasOutput.y);
    const scale = Math.max(...torch.map(Math.abs));
    expect(maxDifference(fused, plain)).toBeLessThan(1e-5 * scale);
    expect(maxDifference(plain, torch)).toBeLessThan(1e-5 * scale);
  });
});
