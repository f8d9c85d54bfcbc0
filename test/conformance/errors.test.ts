// Every rejected call throws a BatchNormError with a stable code naming the
// argument, and leaves parameters, running statistics and counters bit-for-bit unchanged.
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, BatchNormError, Tensor, batchNormBackward, batchNormEval, batchNormTrain, batchStatistics, init, liveTensorCount,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { seededRandom } from "../support/random.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

function expectError(action: () => unknown, code: string, argument: string): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(BatchNormError);
  expect(caught).toMatchObject({ code, argument });
  expect((caught as Error).message).toContain(argument);
}

/** A trained layer with non-trivial state, and a byte snapshot of all of it. */
function trainedLayer(options: ConstructorParameters<typeof BatchNorm>[1] = {}): BatchNorm {
  const random = seededRandom(11);
  const bn = new BatchNorm(3, options);
  bn.weight?.set([1.5, -0.5, 2]);
  bn.bias?.set([0.1, 0.2, -0.3]);
  const shape = options.layout === "channels-last" ? [4, 5, 3] : [4, 3, 5];
  const x = Tensor.from(Float32Array.from({ length: 60 }, () => random() * 4 - 1), shape);
  const dy = Tensor.from(Float32Array.from({ length: 60 }, () => random()), shape);
  const y = bn.forward(x);
  const dx = bn.backward(dy);
  for (const t of [x, dy, y, dx]) t.dispose();
  return bn;
}

function snapshot(bn: BatchNorm): string {
  const parts = [bn.weight, bn.bias, bn.runningMean, bn.runningVar, bn.weightGrad, bn.biasGrad].map((t) =>
    t ? Array.from(new Uint32Array(t.toFloat32Array().buffer)).join(",") : "none",
  );
  return `${parts.join("|")}|${bn.numBatchesTracked}|${bn.training}`;
}

describe("rejected calls", () => {
  it("reject wrong rank, naming x, and change nothing", () => {
    const bn = trainedLayer();
    const before = snapshot(bn);
    for (const shape of [[12], [1, 3, 1, 1, 1, 2]]) {
      const x = Tensor.zeros(shape);
      expectError(() => bn.forward(x), "ERR_RANK", "x");
      x.dispose();
    }
    expect(snapshot(bn)).toBe(before);
  });

  it("reject a channel mismatch in either layout", () => {
    const first = trainedLayer();
    const before = snapshot(first);
    const x = Tensor.zeros([2, 4, 5]);
    expectError(() => first.forward(x), "ERR_CHANNELS", "x");
    expect(snapshot(first)).toBe(before);
    const last = trainedLayer({ layout: "channels-last" });
    const lastBefore = snapshot(last);
    const xl = Tensor.zeros([2, 5, 3, 4]); // C = 4 on the last axis
    expectError(() => last.forward(xl), "ERR_CHANNELS", "x");
    expect(snapshot(last)).toBe(lastBefore);
    x.dispose();
    xl.dispose();
  });

  it("reject data whose length does not match the shape", () => {
    expectError(() => Tensor.from(new Float32Array(10), [2, 3, 2]), "ERR_LENGTH", "data");
    expectError(() => Tensor.zeros([2, -1, 3]), "ERR_SHAPE", "shape"); // zero sizes are allowed (empty tensors), negative ones are not
    expectError(() => Tensor.from([[1, 2], [3]]), "ERR_SHAPE", "data");
  });

  it("reject non-finite or negative eps and momentum outside [0, 1]", () => {
    for (const eps of [-1e-5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectError(() => new BatchNorm(3, { eps }), "ERR_EPS", "options.eps");
    }
    for (const momentum of [-0.1, 1.5, Number.NaN]) {
      expectError(() => new BatchNorm(3, { momentum }), "ERR_MOMENTUM", "options.momentum");
    }
    const x = Tensor.zeros([2, 3]);
    expectError(() => batchNormTrain(x, { eps: -1 }), "ERR_EPS", "options.eps");
    x.dispose();
  });

  it("reject one value per channel in training mode (PyTorch's rule) without touching state", () => {
    const bn = trainedLayer();
    const before = snapshot(bn);
    const x = Tensor.from([[1, 2, 3]]); // N = 1, no spatial axes: one value per channel
    expectError(() => bn.forward(x), "ERR_SINGLE_VALUE", "x");
    // PyTorch bumps num_batches_tracked before raising; we leave it as it was.
    expect(snapshot(bn)).toBe(before);
    bn.eval();
    expect(() => bn.forward(x).dispose()).not.toThrow(); // eval uses running statistics
    const untracked = new BatchNorm(3, { trackRunningStats: false }).eval();
    expectError(() => untracked.forward(x), "ERR_SINGLE_VALUE", "x"); // eval still uses batch statistics
    x.dispose();
  });

  it("reject backward without a matching forward", () => {
    const bn = trainedLayer(); // its backward consumed the forward
    const before = snapshot(bn);
    const dy = Tensor.zeros([4, 3, 5]);
    expectError(() => bn.backward(dy), "ERR_NO_FORWARD", "dy");
    const x = Tensor.from(Float32Array.from({ length: 60 }, (_, i) => Math.sin(i)), [4, 3, 5]);
    bn.forward(x, x); // in place: the saved input is overwritten
    expectError(() => bn.backward(dy), "ERR_NO_FORWARD", "dy");
    const x2 = Tensor.from(Float32Array.from({ length: 60 }, (_, i) => Math.cos(i)), [4, 3, 5]);
    bn.forward(x2).dispose();
    const wrong = Tensor.zeros([4, 3, 6]);
    expectError(() => bn.backward(wrong), "ERR_SHAPE", "dy");
    bn.weight!.set([1, 1, 1]); // weight changed between forward and backward
    expectError(() => bn.backward(dy), "ERR_NO_FORWARD", "dy");
    const afterForward = snapshot(bn);
    expect(afterForward.split("|").slice(4, 6)).toEqual(before.split("|").slice(4, 6)); // grads untouched
    for (const t of [dy, x, x2, wrong]) t.dispose();
  });

  it("reject use after dispose", () => {
    const x = Tensor.zeros([2, 3]);
    x.dispose();
    expect(x.disposed).toBe(true);
    expectError(() => x.toFloat32Array(), "ERR_DISPOSED", "tensor");
    const bn = new BatchNorm(3);
    expectError(() => bn.forward(x), "ERR_DISPOSED", "x");
    bn.dispose();
    const live = Tensor.zeros([2, 3]);
    expectError(() => bn.forward(live), "ERR_DISPOSED", "this");
    live.dispose();
  });

  it("reject layout mismatches and unknown layouts", () => {
    const bn = trainedLayer();
    const before = snapshot(bn);
    const tagged = Tensor.zeros([2, 5, 3], "channels-last");
    expectError(() => bn.forward(tagged), "ERR_LAYOUT", "x");
    expectError(() => new BatchNorm(3, { layout: "NHWC" as never }), "ERR_LAYOUT", "options.layout");
    expectError(() => batchStatistics(tagged, { layout: "channels-first" }), "ERR_LAYOUT", "x");
    expect(snapshot(bn)).toBe(before);
    tagged.dispose();
  });

  it("reject a bad output tensor before writing anything", () => {
    const bn = trainedLayer();
    const before = snapshot(bn);
    const x = Tensor.from(Float32Array.from({ length: 30 }, (_, i) => i % 7), [2, 3, 5]);
    const out = Tensor.zeros([2, 3, 4]);
    expectError(() => bn.forward(x, out), "ERR_SHAPE", "out");
    expect(snapshot(bn)).toBe(before);
    for (const t of [x, out]) t.dispose();
  });

  it("reject per-channel arguments of the wrong length in the functional API", () => {
    const x = Tensor.zeros([2, 3, 4]);
    const two = Tensor.zeros([2]);
    const three = Tensor.zeros([3]);
    expectError(() => batchNormTrain(x, { weight: two }), "ERR_CHANNELS", "options.weight");
    expectError(() => batchNormEval(x, three, two), "ERR_CHANNELS", "runningVar");
    const { y, saved } = batchNormTrain(x);
    expectError(() => batchNormBackward(three, saved), "ERR_SHAPE", "dy");
    for (const t of [x, two, three, y, saved]) t.dispose();
  });

  it("loadStateDict checks every key before writing any", () => {
    const bn = trainedLayer();
    const before = snapshot(bn);
    const good = bn.stateDict();
    expectError(() => bn.loadStateDict({ ...good, running_var: new Float32Array(2) }), "ERR_CHANNELS", "state.running_var");
    expectError(() => bn.loadStateDict({ ...good, running_mean: undefined }), "ERR_STATE_DICT", "state.running_mean");
    expectError(() => bn.loadStateDict({ ...good, extra: [1] } as never), "ERR_STATE_DICT", "state.extra");
    expectError(() => bn.loadStateDict({ ...good, num_batches_tracked: -1 }), "ERR_ARGUMENT", "state.num_batches_tracked");
    expect(snapshot(bn)).toBe(before);
  });

  it("a failed call leaks no tensor", () => {
    const bn = new BatchNorm(3);
    const x = Tensor.zeros([2, 4]);
    const live = liveTensorCount();
    for (let i = 0; i < 10; i++) expect(() => bn.forward(x)).toThrow(BatchNormError);
    expect(liveTensorCount()).toBe(live);
    x.dispose();
    bn.dispose();
  });
});
