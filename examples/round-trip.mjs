// A train/eval round trip through the public API (`npm start`).
// Imports the package by its own name, as a user would after `npm install batchnorm-wasm`.
import { BatchNorm, Tensor, init, batchStatistics, liveTensorCount } from "batchnorm-wasm";

const { build } = await init();
console.log(`batchnorm-wasm loaded the ${build} build`);

// A BatchNorm2d over 3 channels, fed batches of [N=8, C=3, H=4, W=4] with per-channel offsets.
const shape = [8, 3, 4, 4];
const offsets = [5, -2, 1000];
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const batch = () => Float32Array.from({ length: 8 * 3 * 16 }, (_, i) => offsets[Math.floor(i / 16) % 3] + random() * (1 + (Math.floor(i / 16) % 3)));

const bn = new BatchNorm(3);
const format = (values) => Array.from(values, (v) => v.toFixed(4).padStart(10)).join(" ");
const steps = 100; // momentum 0.1: running statistics keep 1 - 0.9^100 of the data's
for (let step = 1; step <= steps; step++) {
  const x = Tensor.from(batch(), shape);
  const y = bn.forward(x);
  const dy = Tensor.from(Float32Array.from({ length: x.size }, random), shape);
  const dx = bn.backward(dy);
  if (step === 1) {
    const stats = batchStatistics(y);
    console.log(`train step 1: output mean per channel ${format(stats.mean)}`);
    console.log(`              output var  per channel ${format(stats.variance)}`);
  }
  for (const t of [x, y, dy, dx]) t.dispose();
}
console.log(`after ${steps} steps: running_mean ${format(bn.runningMean.toFloat32Array())}`);
console.log(`                running_var  ${format(bn.runningVar.toFloat32Array())}   num_batches_tracked ${bn.numBatchesTracked}`);

bn.eval();
const x = Tensor.from(batch(), shape);
const y = bn.forward(x);
const stats = batchStatistics(y);
console.log(`eval on a fresh batch: output mean ${format(stats.mean)}`);
console.log(`                       output var  ${format(stats.variance)}`);
const state = bn.stateDict();
console.log(`stateDict keys: ${Object.keys(state).join(", ")}`);
for (const t of [x, y]) t.dispose();
bn.dispose();
console.log(`live tensors after dispose: ${liveTensorCount()}`);
