// PyTorch parity beyond the numerics: empty batches, BatchNorm1d/2d/3d rank
// checks, reset_running_stats / reset_parameters, the functional training
// forward updating caller-given running statistics, the last batch's
// statistics, and the opt-in skipping of non-finite batches.
// Torch 1.13 behaviour these tests encode (checked with Debian's python3-torch):
//   BatchNorm2d(3) in training on a [0, 3, 4, 4] input: y is [0, 3, 4, 4],
//   num_batches_tracked goes 0 -> 1, running_mean/var stay 0/1; backward gives
//   an empty dx and zero weight/bias grads. Eval mode: empty y, no count.
//   [2, 3, 0] (no spatial values) behaves the same; momentum=None counts the
//   empty batch, so the next batch's factor is 1/3 after one real and one empty batch.
//   F.batch_norm(training=True) on an empty input leaves the running statistics.
//   BatchNorm1d on 4D: "expected 2D or 3D input (got 4D input)"; BatchNorm2d on
//   3D: "expected 4D input (got 3D input)"; BatchNorm3d: "expected 5D input (got 3D input)".
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d, Tensor, batchNormBackward, batchNormTrain, batchStatistics, init,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";
import { normalArray, seededRandom } from "../support/random.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

const u32 = (values: Float32Array | Float64Array) => Array.from(new Uint32Array(values.buffer.slice(0)));
const bitsOf = (t: Tensor) => u32(t.toFloat32Array());


describe("empty batches, as torch does them", () => {
  it("training: empty output, the batch is counted, the running statistics stay; backward gives zero gradients", () => {
    for (const shape of [[0, 3, 4, 4], [2, 3, 0, 4]]) {
      const bn = new BatchNorm2d(3);
      const x = Tensor.zeros(shape);
      const y = bn.forward(x);
      expect(y.shape).toEqual(shape);
      expect(y.size).toBe(0);
      expect(bn.numBatchesTracked).toBe(1);
      expect(Array.from(bn.runningMean!.toFloat32Array())).toEqual([0, 0, 0]);
      expect(Array.from(bn.runningVar!.toFloat32Array())).toEqual([1, 1, 1]);
      const stats = bn.lastBatchStatistics!;
      expect(stats.count).toBe(0);
      expect(Array.from(stats.mean).every(Number.isNaN)).toBe(true);
      const dx = bn.backward(Tensor.zeros(shape));
      expect(dx.shape).toEqual(shape);
      expect(Array.from(bn.weightGrad!.toFloat32Array())).toEqual([0, 0, 0]);
      expect(Array.from(bn.biasGrad!.toFloat32Array())).toEqual([0, 0, 0]);
      for (const t of [x, y, dx]) t.dispose();
      bn.dispose();
    }
  });

  it("eval: empty output, nothing counted; rank-2 empty batches too", () => {
    const bn = new BatchNorm1d(3).eval();
    const x = Tensor.zeros([0, 3]);
    const y = bn.forward(x);
    expect(y.shape).toEqual([0, 3]);
    expect(bn.numBatchesTracked).toBe(0);
    expect(bn.backward(Tensor.zeros([0, 3])).size).toBe(0);
    bn.train();
    bn.forward(x).dispose();
    expect(bn.numBatchesTracked).toBe(1);
  });

  it("momentum null counts the empty batch in the cumulative average's factor", () => {
    const random = seededRandom(3);
    const a = normalArray(random, 8 * 3, 1, 2), b = normalArray(random, 8 * 3, -1, 1);
    const bn = new BatchNorm1d(3, { momentum: null });
    const xa = Tensor.from(a, [8, 3]), xb = Tensor.from(b, [8, 3]), empty = Tensor.zeros([0, 3]);
    bn.forward(xa).dispose();
    bn.forward(empty).dispose();
    bn.forward(xb).dispose();
    expect(bn.numBatchesTracked).toBe(3);
    const ma = batchStatistics(xa).mean, mb = batchStatistics(xb).mean;
    const mean = bn.runningMean!.toFloat32Array();
    for (let c = 0; c < 3; c++) expect(Math.abs(mean[c] - ((2 / 3) * ma[c] + (1 / 3) * mb[c]))).toBeLessThan(1e-6);
  });

  it("the functional forward and batchStatistics accept an empty batch; running statistics stay", () => {
    const x = Tensor.zeros([0, 3, 2]);
    const runningMean = Tensor.from([1, 2, 3]), runningVar = Tensor.from([4, 5, 6]);
    const { y, saved } = batchNormTrain(x, { runningMean, runningVar });
    expect(y.shape).toEqual([0, 3, 2]);
    expect(saved.count).toBe(0);
    expect(Array.from(runningMean.toFloat32Array())).toEqual([1, 2, 3]);
    expect(Array.from(runningVar.toFloat32Array())).toEqual([4, 5, 6]);
    const back = batchNormBackward(Tensor.zeros([0, 3, 2]), saved, { parameterGradients: true });
    expect(Array.from(back.weightGrad!.toFloat32Array())).toEqual([0, 0, 0]);
    const stats = batchStatistics(x);
    expect(stats.count).toBe(0);
    expect(Array.from(stats.variance).every(Number.isNaN)).toBe(true);
  });

  it("one value per channel is still refused (torch's rule); zero channels are refused", () => {
    expect(caughtError(() => new BatchNorm1d(3).forward(Tensor.zeros([1, 3]))).code).toBe("ERR_SINGLE_VALUE");
    expect(caughtError(() => batchStatistics(Tensor.zeros([2, 0]))).code).toBe("ERR_CHANNELS");
  });
});

describe("BatchNorm1d, BatchNorm2d, BatchNorm3d", () => {
  it("accept torch's ranks and refuse the others with torch's message", () => {
    const rows: [typeof BatchNorm1d, number[], number[], string][] = [
      [BatchNorm1d, [4, 3], [4, 3, 2, 2], "expected 2D or 3D input (got 4D input)"],
      [BatchNorm1d, [4, 3, 5], [4, 3, 2, 2, 2], "expected 2D or 3D input (got 5D input)"],
      [BatchNorm2d, [4, 3, 2, 2], [4, 3, 5], "expected 4D input (got 3D input)"],
      [BatchNorm3d, [4, 3, 2, 2, 2], [4, 3, 5], "expected 5D input (got 3D input)"],
    ];
    for (const [Layer, good, bad, message] of rows) {
      const bn = new Layer(3);
      expect(bn).toBeInstanceOf(BatchNorm);
      const x = Tensor.from(normalArray(seededRandom(1), good.reduce((a, b) => a * b, 1)), good);
      bn.forward(x).dispose();
      const error = caughtError(() => bn.forward(Tensor.zeros(bad)));
      expect(error).toMatchObject({ code: "ERR_RANK", argument: "x" });
      expect(error.message).toContain(message);
      expect(bn.numBatchesTracked).toBe(1);
      bn.dispose();
    }
  });

  it("channels-last BatchNorm2d takes [N, H, W, C]; the rank-agnostic BatchNorm takes ranks 2 to 5", () => {
    const last = new BatchNorm2d(3, { layout: "channels-last" });
    const x = Tensor.from(normalArray(seededRandom(2), 2 * 2 * 2 * 3), [2, 2, 2, 3]);
    expect(last.forward(x).shape).toEqual([2, 2, 2, 3]);
    const any = new BatchNorm(3);
    for (const shape of [[4, 3], [4, 3, 2], [4, 3, 2, 2], [4, 3, 2, 2, 2]]) {
      any.forward(Tensor.from(normalArray(seededRandom(3), shape.reduce((a, b) => a * b, 1)), shape)).dispose();
    }
    expect(any.numBatchesTracked).toBe(4);
  });
});

describe("resetRunningStats and resetParameters", () => {
  it("reset as torch's reset_running_stats / reset_parameters, and eval uses the reset values", () => {
    const shape = [6, 3, 4];
    const x = Tensor.from(normalArray(seededRandom(4), 72, 2, 3), shape);
    const bn = new BatchNorm(3);
    bn.weight!.set([2, 3, 4]);
    bn.bias!.set([1, 1, 1]);
    bn.forward(x).dispose();
    bn.backward(Tensor.from(normalArray(seededRandom(5), 72), shape)).dispose();
    bn.eval();
    const beforeReset = bitsOf(bn.forward(x));
    const grads = bitsOf(bn.weightGrad!);
    bn.resetRunningStats();
    expect(Array.from(bn.runningMean!.toFloat32Array())).toEqual([0, 0, 0]);
    expect(Array.from(bn.runningVar!.toFloat32Array())).toEqual([1, 1, 1]);
    expect(bn.numBatchesTracked).toBe(0);
    const fresh = new BatchNorm(3).eval();
    fresh.weight!.set([2, 3, 4]);
    fresh.bias!.set([1, 1, 1]);
    const afterReset = bitsOf(bn.forward(x));
    expect(afterReset).toEqual(bitsOf(fresh.forward(x))); // the eval coefficients were refreshed
    expect(afterReset).not.toEqual(beforeReset);
    bn.resetParameters();
    expect(Array.from(bn.weight!.toFloat32Array())).toEqual([1, 1, 1]);
    expect(Array.from(bn.bias!.toFloat32Array())).toEqual([0, 0, 0]);
    expect(bitsOf(bn.weightGrad!)).toEqual(grads); // torch's reset_parameters leaves .grad alone
    expect(bitsOf(bn.forward(x))).toEqual(bitsOf(new BatchNorm(3).eval().forward(x)));
  });

  it("without running statistics, resetRunningStats does nothing (torch)", () => {
    const bn = new BatchNorm(3, { trackRunningStats: false });
    bn.resetRunningStats();
    bn.resetParameters();
    expect(bn.runningMean).toBeNull();
  });
});

describe("functional training forward with running statistics (F.batch_norm(training=True))", () => {
  it("updates caller-given running statistics with the layer's bits", () => {
    const shape = [5, 3, 7];
    for (const runningVariance of ["unbiased", "biased"] as const) {
      const bn = new BatchNorm(3, { momentum: 0.3, runningVariance });
      const runningMean = Tensor.zeros([3]), runningVar = Tensor.from([1, 1, 1]);
      for (let step = 0; step < 3; step++) {
        const x = Tensor.from(normalArray(seededRandom(10 + step), 105, 1, 2), shape);
        const layerY = bitsOf(bn.forward(x));
        const { y } = batchNormTrain(x, { runningMean, runningVar, momentum: 0.3, runningVariance });
        expect(bitsOf(y)).toEqual(layerY);
      }
      expect(bitsOf(runningMean)).toEqual(bitsOf(bn.runningMean!));
      expect(bitsOf(runningVar)).toEqual(bitsOf(bn.runningVar!));
    }
  });
});

describe("the last forward's batch statistics", () => {
  it("equal batchStatistics of the input, survive eval forwards, and are copies", () => {
    const bn = new BatchNorm(3);
    expect(bn.lastBatchStatistics).toBeNull();
    const x = Tensor.from(normalArray(seededRandom(20), 60, 3, 2), [4, 3, 5]);
    bn.forward(x).dispose();
    const expected = batchStatistics(x);
    const stats = bn.lastBatchStatistics!;
    expect(stats.count).toBe(20);
    expect(u32(stats.mean)).toEqual(u32(expected.mean));
    expect(u32(stats.variance)).toEqual(u32(expected.variance));
    stats.mean.fill(0);
    bn.eval();
    bn.forward(Tensor.from(normalArray(seededRandom(21), 60, -5, 1), [4, 3, 5])).dispose();
    expect(u32(bn.lastBatchStatistics!.mean)).toEqual(u32(expected.mean));
  });
});

describe("skipNonFiniteBatches", () => {
  const shape = [4, 3, 2];
  const batch = (poison: number) => {
    const values = normalArray(seededRandom(30), 24, 0.5, 1);
    values[2 * 3 * 2 + 1] = poison; // one value in channel 0
    return Tensor.from(values, shape);
  };

  it("keeps a batch with non-finite statistics out of the running statistics and counts it", () => {
    const bn = new BatchNorm(3, { skipNonFiniteBatches: true });
    const clean = Tensor.from(normalArray(seededRandom(31), 24), shape);
    bn.forward(clean).dispose();
    const mean = bitsOf(bn.runningMean!), variance = bitsOf(bn.runningVar!);
    for (const poison of [Number.NaN, Infinity, -Infinity]) {
      const y = bn.forward(batch(poison)).toFloat32Array();
      expect(Number.isNaN(y[0])).toBe(true); // the output is torch's: the batch itself is normalized
    }
    expect(bn.skippedBatches).toBe(3);
    expect(bn.numBatchesTracked).toBe(1);
    expect(bitsOf(bn.runningMean!)).toEqual(mean);
    expect(bitsOf(bn.runningVar!)).toEqual(variance);
    expect(bn.eval().forward(clean).toFloat32Array().every(Number.isFinite)).toBe(true);
    bn.resetRunningStats();
    expect(bn.skippedBatches).toBe(0);
  });

  it("by default a NaN batch poisons the running statistics, as in torch", () => {
    const bn = new BatchNorm(3);
    bn.forward(batch(Number.NaN)).dispose();
    expect(bn.numBatchesTracked).toBe(1);
    expect(bn.skippedBatches).toBe(0);
    expect(Number.isNaN(bn.runningMean!.toFloat32Array()[0])).toBe(true);
    expect(Number.isFinite(bn.runningMean!.toFloat32Array()[1])).toBe(true);
  });
});
