// Memory ownership: results stay right across memory growth, and a steady
// training loop neither grows wasm memory nor leaks tensors.
import { beforeAll, describe, expect, it } from "vitest";
import { BatchNorm, Tensor, batchNormTrain, init, liveTensorCount, wasmMemoryBytes } from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { normalArray, seededRandom } from "../support/random.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

describe("wasm memory", () => {
  it("gives the same results when memory grows between forward and backward", () => {
    const random = seededRandom(5);
    const shape = [4, 6, 33];
    const x = normalArray(random, 4 * 6 * 33, 2, 3);
    const dy = normalArray(random, x.length);
    const run = (growInBetween: boolean) => {
      const bn = new BatchNorm(6);
      const xt = Tensor.from(x, shape), dyt = Tensor.from(dy, shape);
      const view = xt.view(); // deliberately made before growth
      const y = bn.forward(xt);
      let grown: Tensor | undefined;
      const before = wasmMemoryBytes();
      if (growInBetween) grown = Tensor.zeros([Math.ceil((before * 2) / 4)]); // forces memory.grow
      if (growInBetween) {
        expect(wasmMemoryBytes()).toBeGreaterThan(before);
        expect(view.length).toBe(0); // the old view is detached, as documented
      }
      const dx = bn.backward(dyt);
      const out = [y.toFloat32Array(), dx.toFloat32Array(), bn.weightGrad!.toFloat32Array(), bn.runningVar!.toFloat32Array()];
      for (const t of [xt, dyt, y, dx, grown]) t?.dispose();
      bn.dispose();
      return out;
    };
    const plain = run(false), grown = run(true);
    plain.forEach((values, i) => expect(Array.from(grown[i])).toEqual(Array.from(values)));
    expect(plain[0].some((v) => v !== 0)).toBe(true);
  });

  it("keeps memory size and live tensors unchanged over 100,000 forward+backward steps", () => {
    const random = seededRandom(9);
    const shape = [2, 4, 3];
    const bn = new BatchNorm(4);
    const x = Tensor.from(normalArray(random, 24), shape);
    const dy = Tensor.from(normalArray(random, 24), shape);
    const y = Tensor.zeros(shape), dx = Tensor.zeros(shape);
    bn.forward(x, y);
    bn.backward(dy, dx); // first backward creates the gradient buffers
    const memory = wasmMemoryBytes(), live = liveTensorCount();
    for (let step = 0; step < 100_000; step++) {
      bn.zeroGrad();
      bn.forward(x, y);
      bn.backward(dy, dx);
    }
    expect(wasmMemoryBytes()).toBe(memory);
    expect(liveTensorCount()).toBe(live);
    expect(bn.numBatchesTracked).toBe(100_001);
    expect(Number.isFinite(bn.runningVar!.toFloat32Array()[0])).toBe(true);
    for (const t of [x, dy, y, dx]) t.dispose();
    bn.dispose();
    expect(liveTensorCount()).toBe(live - 4 - 6);
  });

  it("frees what it allocates: functional calls and disposal return memory for reuse", () => {
    const x = Tensor.from(normalArray(seededRandom(3), 3 * 5 * 7), [3, 5, 7]);
    const live = liveTensorCount();
    const memory = wasmMemoryBytes();
    for (let i = 0; i < 2000; i++) {
      const { y, saved } = batchNormTrain(x);
      y.dispose();
      saved.dispose();
    }
    expect(liveTensorCount()).toBe(live);
    expect(wasmMemoryBytes()).toBe(memory);
    {
      using scoped = Tensor.zeros([4, 4]);
      expect(liveTensorCount()).toBe(live + 1);
      expect(scoped.disposed).toBe(false);
    }
    expect(liveTensorCount()).toBe(live);
    x.dispose();
  });
});
