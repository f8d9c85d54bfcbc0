// From a PyTorch checkpoint to running and folded layers (issue 13's worked
// example). test/fixtures/digits-cnn.safetensors is a small CNN trained in
// torch 1.13 on scikit-learn's digits (test/fixtures/generate-checkpoints.py).
// This script reads it, lists its normalization layers, loads them, runs the
// first one in eval mode on activations captured from torch, folds every BN
// into its convolution / linear layer, and runs the folded model (its
// convolutions are plain JS loops: example code, not the library).
//   node examples/checkpoint.mjs [file.safetensors]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { LayerNorm, Tensor, fuseConvBnWeights, fuseLinearBnWeights, init, listNormLayers, loadBatchNorms } from "batchnorm-wasm";
import { readSafetensorsFile } from "batchnorm-wasm/node";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const path = process.argv[2] ?? here("../test/fixtures/digits-cnn.safetensors");
const cases = JSON.parse(readFileSync(here("../test/fixtures/checkpoint-cases.json"), "utf8"));
const floats = (base64) => new Float32Array(Uint8Array.from(Buffer.from(base64, "base64")).buffer);

await init();
const file = await readSafetensorsFile(path);
console.log(`${path.split("/").pop()}: ${Object.keys(file.tensors).length} tensors, metadata ${JSON.stringify({ ...file.metadata })}`);
for (const entry of listNormLayers(file.tensors)) {
  console.log(`  ${entry.prefix.padEnd(14)} ${entry.kind.padEnd(9)} ${String(entry.channels).padStart(3)} channels${entry.kind === "Norm" ? ` (${entry.alsoMatches.join(" / ")})` : ""}`);
}

// Eval mode on torch's captured input of features.1, against torch's output.
const layers = loadBatchNorms(file.state);
const capture = cases.activations[0];
const x = Tensor.from(floats(capture.x), capture.shape);
const y = layers.get(capture.prefix).forward(x).toFloat32Array();
const torchY = floats(capture.y);
console.log(`${capture.prefix} eval on torch's activations: max |ours - torch| ${Math.max(...y.map((v, i) => Math.abs(v - torchY[i]))).toExponential(2)}`);

// Fold each BN into the layer before it.
const s = file.state, shapes = Object.fromEntries(Object.entries(file.tensors).map(([k, t]) => [k, t.shape]));
const fold = (layer, bn, groups) => fuseConvBnWeights(s[`${layer}weight`], s[`${layer}bias`] ?? null, layers.get(bn), { shape: shapes[`${layer}weight`], groups });
const c0 = fold("features.0.", "features.1.", 1), c3 = fold("features.3.", "features.4.", 8), c6 = fold("features.6.", "features.7.", 2);
const l1 = fuseLinearBnWeights(s["classifier.1.weight"], s["classifier.1.bias"], layers.get("classifier.2."));

// The folded model: conv 3x3 (padding 1, stride, groups) as a plain loop over [N, C, H, W].
function conv(x, [N, C, H, W], w, [O, Cg, K], b, stride, groups) {
  const Ho = Math.floor((H + 2 - K) / stride) + 1, Wo = Math.floor((W + 2 - K) / stride) + 1, Og = O / groups;
  const out = new Float32Array(N * O * Ho * Wo);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) {
    let sum = b[o];
    for (let c = 0; c < Cg; c++) for (let a = 0; a < K; a++) for (let e = 0; e < K; e++) {
      const p = i * stride - 1 + a, q = j * stride - 1 + e;
      if (p >= 0 && p < H && q >= 0 && q < W) sum += x[((n * C + Math.floor(o / Og) * Cg + c) * H + p) * W + q] * w[((o * Cg + c) * K + a) * K + e];
    }
    out[((n * O + o) * Ho + i) * Wo + j] = Math.max(sum, 0); // ReLU follows every conv here
  }
  return { data: out, shape: [N, O, Ho, Wo] };
}
const dense = (x, N, w, b, I, O, relu) => Float32Array.from({ length: N * O }, (_, k) => {
  const n = Math.floor(k / O), o = k % O;
  let sum = b[o];
  for (let i = 0; i < I; i++) sum += x[n * I + i] * w[o * I + i];
  return relu ? Math.max(sum, 0) : sum;
});
const sample = cases.sample, N = sample.shape[0];
let h = conv(floats(sample.x), sample.shape, c0.weight, [8, 1, 3], c0.bias, 1, 1);
h = conv(h.data, h.shape, c3.weight, [8, 1, 3], c3.bias, 1, 8);
h = conv(h.data, h.shape, c6.weight, [12, 4, 3], c6.bias, 2, 2);
const scores = dense(dense(h.data, N, l1.weight, l1.bias, 192, 32, true), N, s["classifier.4.weight"], s["classifier.4.bias"], 32, 10, false);
const norm = new LayerNorm([10]); // the model's last layer, loaded by prefix from the same checkpoint
norm.loadStateDict(file.state, { prefix: "norm." });
const scoresTensor = Tensor.from(scores, [N, 10]);
const logitsTensor = norm.forward(scoresTensor);
const logits = logitsTensor.toFloat32Array();
const argmax = (a, n) => a.subarray(n * 10, n * 10 + 10).reduce((best, v, i, row) => (v > row[best] ? i : best), 0);
const torchLogits = floats(sample.logits); // the unfused torch model
const ours = Array.from({ length: N }, (_, n) => argmax(logits, n)), theirs = Array.from({ length: N }, (_, n) => argmax(torchLogits, n));
console.log(`folded model vs torch's unfolded logits: max |difference| ${Math.max(...logits.map((v, i) => Math.abs(v - torchLogits[i]))).toExponential(2)}`);
console.log(`folded model, ${N} test digits: predictions ${ours.join("")}`);
console.log(`torch (unfolded):            predictions ${theirs.join("")}  ${ours.every((p, n) => p === theirs[n]) ? "same" : "DIFFERENT"}`);
console.log(`labels:                      ${" ".repeat(12)}${sample.labels.join("")}`);
x.dispose();
scoresTensor.dispose();
logitsTensor.dispose();
norm.dispose();
for (const layer of layers.values()) layer.dispose();
