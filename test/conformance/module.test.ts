// BatchNorm layer semantics (torch.nn.BatchNorm*d) and the functional API.
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, Tensor, activeBuild, batchNormBackward, batchNormEval, batchNormTrain, batchStatistics, init,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { normalArray, seededRandom } from "../support/random.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
};

function batches(seed: number, count: number, shape: number[], mean = 0.5, std = 2): Float32Array[] {
  const random = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, () => normalArray(random, size, mean, std));
}

describe("init", () => {
  it("reports the build under test and is memoised", async () => {
    expect(activeBuild()).toBe(testBuild());
    const again = await init();
    expect(again.build).toBe(testBuild());
    const other = testBuild() === "simd" ? "scalar" : "simd";
    await expect(init({ build: other })).rejects.toMatchObject({ code: "ERR_BUILD", argument: "options.build" });
  });
});

describe("Tensor", () => {
  it("round-trips nested arrays and flat data with a shape", () => {
    const nested = [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]];
    const t = Tensor.from(nested);
    expect(t.shape).toEqual([2, 3, 2]);
    expect(t.toArray()).toEqual(nested);
    const flat = Tensor.from(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(flat.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    t.dispose();
    flat.dispose();
  });
});

describe("BatchNorm running statistics", () => {
  const shape = [5, 3, 4];

  it("follow PyTorch's rule: momentum weights the batch, unbiased variance, count of batches", () => {
    const bn = new BatchNorm(3, { momentum: 0.3 });
    let mean = [0, 0, 0], variance = [1, 1, 1];
    for (const data of batches(1, 4, shape)) {
      const x = Tensor.from(data, shape);
      const stats = batchStatistics(x);
      bn.forward(x).dispose();
      mean = mean.map((m, c) => 0.7 * m + 0.3 * stats.mean[c]);
      variance = variance.map((v, c) => 0.7 * v + 0.3 * stats.variance[c] * (stats.count / (stats.count - 1)));
      x.dispose();
    }
    expect(bn.numBatchesTracked).toBe(4);
    expect(maxAbs(bn.runningMean!.toFloat32Array(), mean)).toBeLessThan(1e-6);
    expect(maxAbs(bn.runningVar!.toFloat32Array(), variance)).toBeLessThan(1e-6);
  });

  it("momentum null is the cumulative average of batch statistics", () => {
    const bn = new BatchNorm(3, { momentum: null });
    const sums = { mean: [0, 0, 0], variance: [0, 0, 0] };
    const data = batches(2, 5, shape);
    for (const values of data) {
      const x = Tensor.from(values, shape);
      const stats = batchStatistics(x);
      bn.forward(x).dispose();
      stats.mean.forEach((m, c) => (sums.mean[c] += m / data.length));
      stats.variance.forEach((v, c) => (sums.variance[c] += (v * (stats.count / (stats.count - 1))) / data.length));
      x.dispose();
    }
    expect(maxAbs(bn.runningMean!.toFloat32Array(), sums.mean)).toBeLessThan(2e-6);
    expect(maxAbs(bn.runningVar!.toFloat32Array(), sums.variance)).toBeLessThan(2e-6);
  });

  it("runningVariance 'biased' stores the batch variance as Keras and ONNX do", () => {
    const bn = new BatchNorm(3, { momentum: 1, runningVariance: "biased" });
    const [data] = batches(3, 1, shape);
    const x = Tensor.from(data, shape);
    bn.forward(x).dispose();
    const stats = batchStatistics(x);
    expect(maxAbs(bn.runningVar!.toFloat32Array(), stats.variance)).toBeLessThan(1e-6);
    x.dispose();
  });

  it("eval mode uses running statistics and refreshes its cached coefficients when they change", () => {
    const bn = new BatchNorm(3);
    const [data] = batches(4, 1, shape);
    const x = Tensor.from(data, shape);
    bn.loadStateDict({
      weight: [2, 0.5, -1], bias: [0.1, 0.2, 0.3], running_mean: [0.5, -1, 2], running_var: [4, 0.25, 1], num_batches_tracked: 7,
    });
    bn.eval();
    const expected = (w: number[], b: number[], m: number[], v: number[]) =>
      Array.from(data, (value, i) => {
        const c = Math.floor(i / 4) % 3;
        return ((value - m[c]) / Math.sqrt(v[c] + 1e-5)) * w[c] + b[c];
      });
    const y1 = bn.forward(x);
    expect(maxAbs(y1.toFloat32Array(), expected([2, 0.5, -1], [0.1, 0.2, 0.3], [0.5, -1, 2], [4, 0.25, 1]))).toBeLessThan(2e-6);
    bn.weight!.set([1, 1, 1]);
    bn.runningMean!.set([0, 0, 0]);
    const y2 = bn.forward(x, y1);
    expect(maxAbs(y2.toFloat32Array(), expected([1, 1, 1], [0.1, 0.2, 0.3], [0, 0, 0], [4, 0.25, 1]))).toBeLessThan(2e-6);
    expect(bn.numBatchesTracked).toBe(7); // eval does not update
    x.dispose();
    y1.dispose();
  });

  it("without running statistics, eval normalizes with the batch statistics (PyTorch)", () => {
    const bn = new BatchNorm(3, { trackRunningStats: false });
    expect(bn.runningMean).toBeNull();
    expect(Object.keys(bn.stateDict())).toEqual(["weight", "bias"]);
    const [data] = batches(5, 1, shape);
    const x = Tensor.from(data, shape);
    const train = bn.forward(x).toFloat32Array();
    const evalOut = bn.eval().forward(x).toFloat32Array();
    expect(Array.from(evalOut)).toEqual(Array.from(train));
    expect(bn.numBatchesTracked).toBe(0);
    x.dispose();
  });

  it("affine false has no parameters and gives zero-mean unit-variance channels", () => {
    const bn = new BatchNorm(3, { affine: false });
    expect(bn.weight).toBeNull();
    expect(Object.keys(bn.stateDict())).toEqual(["running_mean", "running_var", "num_batches_tracked"]);
    const [data] = batches(6, 1, shape, 10, 3);
    const x = Tensor.from(data, shape);
    const y = bn.forward(x);
    const stats = batchStatistics(y);
    for (let c = 0; c < 3; c++) {
      expect(Math.abs(stats.mean[c])).toBeLessThan(1e-6);
      expect(Math.abs(stats.variance[c] - 1)).toBeLessThan(1e-4);
    }
    const dx = bn.backward(Tensor.from(batches(7, 1, shape)[0], shape));
    expect(bn.weightGrad).toBeNull();
    expect(dx.toFloat32Array().every(Number.isFinite)).toBe(true);
  });
});

describe("BatchNorm gradients", () => {
  const shape = [4, 3, 6];

  it("accumulate across backward calls until zeroGrad, like autograd", () => {
    const bn = new BatchNorm(3);
    const [data, grad] = batches(8, 2, shape);
    const x = Tensor.from(data, shape), dy = Tensor.from(grad, shape);
    bn.forward(x).dispose();
    bn.backward(dy).dispose();
    const once = bn.weightGrad!.toFloat32Array();
    bn.forward(x).dispose();
    bn.backward(dy).dispose();
    const twice = bn.weightGrad!.toFloat32Array();
    once.forEach((g, c) => expect(twice[c]).toBe(Math.fround(g + g)));
    bn.zeroGrad();
    expect(Array.from(bn.biasGrad!.toFloat32Array())).toEqual([0, 0, 0]);
  });

  it("eval-mode backward treats the statistics as constants: dx = dy * weight / sqrt(running_var + eps)", () => {
    const bn = new BatchNorm(3).eval();
    bn.loadStateDict({ weight: [2, -1, 0.5], bias: [0, 0, 0], running_mean: [1, 2, 3], running_var: [4, 9, 0.25], num_batches_tracked: 1 });
    const [data, grad] = batches(9, 2, shape);
    const x = Tensor.from(data, shape), dy = Tensor.from(grad, shape);
    bn.forward(x).dispose();
    const dx = bn.backward(dy).toFloat32Array();
    const scale = [2 / Math.sqrt(4 + 1e-5), -1 / Math.sqrt(9 + 1e-5), 0.5 / Math.sqrt(0.25 + 1e-5)];
    expect(maxAbs(dx, Array.from(grad, (g, i) => g * scale[Math.floor(i / 6) % 3]))).toBeLessThan(1e-6);
    const dweight = [0, 0, 0], dbias = [0, 0, 0];
    grad.forEach((g, i) => {
      const c = Math.floor(i / 6) % 3;
      dbias[c] += g;
      dweight[c] += (g * (data[i] - [1, 2, 3][c])) / Math.sqrt([4, 9, 0.25][c] + 1e-5);
    });
    expect(maxAbs(bn.biasGrad!.toFloat32Array(), dbias)).toBeLessThan(1e-5);
    expect(maxAbs(bn.weightGrad!.toFloat32Array(), dweight)).toBeLessThan(1e-5);
  });

  it("the functional API gives the module's bits", () => {
    const [data, grad] = batches(10, 2, shape);
    const x = Tensor.from(data, shape), dy = Tensor.from(grad, shape);
    const weight = Tensor.from([1.5, 0.5, -2]), bias = Tensor.from([0.1, -0.1, 0.2]);
    const bn = new BatchNorm(3);
    bn.weight!.set(weight.toFloat32Array());
    bn.bias!.set(bias.toFloat32Array());
    const y = bn.forward(x).toFloat32Array();
    const dx = bn.backward(dy).toFloat32Array();
    const functional = batchNormTrain(x, { weight, bias });
    const back = batchNormBackward(dy, functional.saved);
    expect(Array.from(functional.y.toFloat32Array())).toEqual(Array.from(y));
    expect(Array.from(back.dx.toFloat32Array())).toEqual(Array.from(dx));
    expect(Array.from(back.weightGrad!.toFloat32Array())).toEqual(Array.from(bn.weightGrad!.toFloat32Array()));
    const running = bn.eval().forward(x).toFloat32Array();
    const evalOut = batchNormEval(x, bn.runningMean!, bn.runningVar!, { weight, bias });
    expect(Array.from(evalOut.toFloat32Array())).toEqual(Array.from(running));
  });
});

describe("numerical edge cases", () => {
  it("a constant channel gives y = bias and finite gradients; NaN stays in its channel", () => {
    const shape = [3, 3, 5];
    const data = batches(11, 1, shape)[0];
    for (let n = 0; n < 3; n++) for (let s = 0; s < 5; s++) {
      data[(n * 3 + 1) * 5 + s] = 1234.5; // channel 1 constant
    }
    data[(1 * 3 + 2) * 5 + 3] = Number.NaN; // one NaN in channel 2
    const bn = new BatchNorm(3);
    bn.bias!.set([0.25, 0.5, 0.75]);
    const x = Tensor.from(data, shape);
    const y = bn.forward(x).toFloat32Array();
    const dx = bn.backward(Tensor.from(batches(12, 1, shape)[0], shape)).toFloat32Array();
    for (let n = 0; n < 3; n++) for (let s = 0; s < 5; s++) {
      expect(y[(n * 3 + 1) * 5 + s]).toBe(0.5);
      expect(Number.isFinite(dx[(n * 3 + 1) * 5 + s])).toBe(true);
      expect(Number.isFinite(y[(n * 3 + 0) * 5 + s])).toBe(true);
      expect(Number.isNaN(y[(n * 3 + 2) * 5 + s])).toBe(true);
    }
    const running = bn.runningMean!.toFloat32Array();
    expect(Number.isNaN(running[2])).toBe(true);
    expect(running[1]).toBe(Math.fround(0.1 * 1234.5));
  });

  it("channels-last agrees with channels-first on transposed data", () => {
    const [N, C, H, W] = [3, 5, 7, 3];
    const first = batches(13, 1, [N, C, H, W], 100, 0.5)[0];
    const last = new Float32Array(first.length);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < H * W; s++) {
      last[(n * H * W + s) * C + c] = first[(n * C + c) * H * W + s];
    }
    const a = new BatchNorm(C), b = new BatchNorm(C, { layout: "channels-last" });
    const ya = a.forward(Tensor.from(first, [N, C, H, W])).toFloat32Array();
    const yb = b.forward(Tensor.from(last, [N, H, W, C], "channels-last")).toFloat32Array();
    let worst = 0;
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < H * W; s++) {
      worst = Math.max(worst, Math.abs(ya[(n * C + c) * H * W + s] - yb[(n * H * W + s) * C + c]));
    }
    expect(worst).toBeLessThan(2e-6);
    expect(maxAbs(a.runningVar!.toFloat32Array(), b.runningVar!.toFloat32Array())).toBeLessThan(1e-6);
  });
});
