// Memory help: tidy() disposes what a block created and did not return (as
// TensorFlow.js's tf.tidy does), never a layer's own tensors; debug tracking
// reports where each live tensor was created.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, Tensor, batchNormBackward, batchNormTrain, init, keep, liveTensorCount, liveTensorReport, setDebugTracking, tidy,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

afterEach(() => {
  setDebugTracking(false);
});

const batch = () => Tensor.from(Float32Array.from({ length: 24 }, (_, i) => (i * 7) % 5), [4, 3, 2]);

describe("tidy", () => {
  it("disposes the tensors created inside and not returned", () => {
    const before = liveTensorCount();
    let inside: Tensor[] = [];
    const result = tidy(() => {
      inside = [batch(), Tensor.zeros([3]), Tensor.from([1, 2])];
      return 42;
    });
    expect(result).toBe(42);
    expect(inside.map((t) => t.disposed)).toEqual([true, true, true]);
    expect(liveTensorCount()).toBe(before);
  });

  it("keeps returned tensors, and tensors inside returned arrays and plain objects at any depth", () => {
    const before = liveTensorCount();
    let dropped: Tensor | undefined;
    const result = tidy(() => {
      dropped = Tensor.zeros([2]);
      return { a: Tensor.zeros([1]), list: [Tensor.zeros([2]), { deep: Tensor.zeros([3]) }], n: 1 };
    });
    expect(dropped!.disposed).toBe(true);
    const kept = [result.a, result.list[0] as Tensor, (result.list[1] as { deep: Tensor }).deep];
    expect(kept.map((t) => t.disposed)).toEqual([false, false, false]);
    expect(kept.map((t) => t.size)).toEqual([1, 2, 3]);
    expect(liveTensorCount()).toBe(before + 3);
    for (const t of kept) t.dispose();
  });

  it("leaves tensors created before it alone, even when used or returned inside", () => {
    const outside = batch();
    const same = tidy(() => {
      Tensor.zeros([5]);
      return outside;
    });
    expect(same).toBe(outside);
    expect(outside.disposed).toBe(false);
    outside.dispose();
  });

  it("nests: an inner result belongs to the outer tidy, which disposes it unless returned", () => {
    const before = liveTensorCount();
    let innerResult: Tensor | undefined, innerDropped: Tensor | undefined;
    const outerResult = tidy(() => {
      innerResult = tidy(() => {
        innerDropped = Tensor.zeros([1]);
        return Tensor.zeros([2]);
      });
      expect(innerDropped!.disposed).toBe(true);
      expect(innerResult.disposed).toBe(false);
      return Tensor.zeros([3]);
    });
    expect(innerResult!.disposed).toBe(true);
    expect(outerResult.disposed).toBe(false);
    expect(liveTensorCount()).toBe(before + 1);
    outerResult.dispose();

    const passedOut = tidy(() => tidy(() => Tensor.zeros([4])));
    expect(passedOut.disposed).toBe(false);
    passedOut.dispose();
    expect(liveTensorCount()).toBe(before);
  });

  it("disposes everything it created when fn throws, and rethrows the same error", () => {
    const before = liveTensorCount();
    const thrown = new Error("from fn");
    let made: Tensor | undefined;
    let error: unknown;
    try {
      tidy(() => {
        made = Tensor.zeros([8]);
        tidy(() => Tensor.zeros([2]));
        throw thrown;
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBe(thrown);
    expect(made!.disposed).toBe(true);
    expect(liveTensorCount()).toBe(before);
    // The scope stack is clean afterwards: a later tensor is not disposed by a stale scope.
    const later = Tensor.zeros([1]);
    tidy(() => 0);
    expect(later.disposed).toBe(false);
    later.dispose();
  });

  it("keep() exempts a tensor from every enclosing tidy", () => {
    let kept: Tensor | undefined;
    tidy(() => {
      tidy(() => {
        kept = keep(Tensor.zeros([2]));
      });
    });
    expect(kept!.disposed).toBe(false);
    kept!.dispose();
    expect(caughtError(() => keep({} as Tensor))).toMatchObject({ code: "ERR_ARGUMENT", argument: "tensor" });
  });

  it("never disposes a layer's parameters, buffers or gradients, even for a layer made inside", () => {
    const x = batch(), dy = batch();
    const before = liveTensorCount();
    const bn = tidy(() => {
      const layer = new BatchNorm(3);
      layer.forward(x); // y: not returned, disposed
      layer.backward(dy); // dx disposed; the first backward makes the layer's gradient buffers
      return layer;
    });
    for (const t of [bn.weight, bn.bias, bn.runningMean, bn.runningVar, bn.weightGrad, bn.biasGrad]) expect(t!.disposed).toBe(false);
    expect(liveTensorCount()).toBe(before + 6);
    // The layer keeps working outside.
    const y = bn.forward(x);
    expect(y.size).toBe(24);
    y.dispose();
    bn.dispose();
    for (const t of [x, dy]) t.dispose();
    expect(liveTensorCount()).toBe(before - 2);
  });

  it("disposes the functional API's outputs unless returned", () => {
    const x = batch(), dy = batch();
    const before = liveTensorCount();
    const dx = tidy(() => {
      const { y, saved } = batchNormTrain(x);
      const grads = batchNormBackward(dy, saved, { parameterGradients: true });
      saved.dispose();
      expect(y.disposed).toBe(false);
      return grads.dx;
    });
    expect(liveTensorCount()).toBe(before + 1);
    dx.dispose();
    for (const t of [x, dy]) t.dispose();
  });

  it("a steady loop of tidy blocks holds no more tensors than one block", () => {
    const bn = new BatchNorm(3);
    const step = () => tidy(() => {
      bn.forward(batch());
      bn.backward(batch());
    });
    step(); // the first backward makes the layer's gradient buffers
    const before = liveTensorCount();
    for (let i = 0; i < 200; i++) step();
    expect(liveTensorCount()).toBe(before);
    bn.dispose();
  });

  it("refuses a non-function and a Promise result (tidy is synchronous), disposing what fn made", () => {
    expect(caughtError(() => tidy(42 as unknown as () => void))).toMatchObject({ code: "ERR_ARGUMENT", argument: "fn" });
    const before = liveTensorCount();
    let made: Tensor | undefined;
    const error = caughtError(() => tidy(() => {
      made = Tensor.zeros([3]);
      return Promise.resolve(made);
    }));
    expect(error).toMatchObject({ code: "ERR_ARGUMENT", argument: "fn" });
    expect(made!.disposed).toBe(true);
    expect(liveTensorCount()).toBe(before);
  });
});

// A uniquely named function, so its frame can be found in every engine's stack
// format. It stores rather than returns: `return Tensor.zeros(...)` is a tail
// call, and JavaScriptCore drops tail-calling frames from the stack.
let leaked: Tensor | undefined;
function makeTrackedTensorForTheReport(): void {
  leaked = Tensor.zeros([2, 5], "channels-last");
}

describe("debug tracking", () => {
  it("reports each live tensor with the stack that created it, and forgets disposed ones", () => {
    const untracked = Tensor.zeros([1]);
    setDebugTracking(true);
    makeTrackedTensorForTheReport();
    const disposed = Tensor.zeros([3]);
    disposed.dispose();
    const report = liveTensorReport();
    expect(report).toHaveLength(1);
    expect(report[0].shape).toEqual([2, 5]);
    expect(report[0].layout).toBe("channels-last");
    expect(report[0].stack.some((frame) => frame.includes("makeTrackedTensorForTheReport"))).toBe(true);
    expect(report[0].createdAt).toBe(report[0].stack[0]);
    leaked!.dispose();
    expect(liveTensorReport()).toEqual([]);
    untracked.dispose();
  });

  it("reports a layer's tensors where the layer was made, in creation order", () => {
    setDebugTracking(true);
    const bn = new BatchNorm(4);
    const report = liveTensorReport();
    expect(report.map((r) => r.shape)).toEqual([[4], [4], [4], [4]]);
    bn.dispose();
    expect(liveTensorReport()).toEqual([]);
  });

  it("forgets every record when turned off, and refuses a non-boolean", () => {
    setDebugTracking(true);
    const t = Tensor.zeros([2]);
    setDebugTracking(false);
    expect(liveTensorReport()).toEqual([]);
    t.dispose();
    expect(caughtError(() => setDebugTracking("yes" as unknown as boolean))).toMatchObject({ code: "ERR_ARGUMENT", argument: "on" });
  });
});
