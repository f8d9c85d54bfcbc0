// Memory ownership: results stay right across memory growth, a steady
// training loop neither grows wasm memory nor leaks tensors, every allocation
// is accounted for, out of memory is a typed error that leaves nothing behind,
// and guard bytes catch writes outside a block.
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, SavedBatchStatistics, Tensor, batchNormBackward, batchNormTrain, checkGuardBytes, enableGuardBytes, init,
  liveTensorCount, memoryStats, setMemoryLimit, wasmMemoryBytes, MAX_TENSOR_ELEMENTS,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";
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


describe("accounting and limits", () => {
  it("memoryStats counts every tensor, workspace and saved-statistics block the library holds", () => {
    const before = memoryStats();
    const bn = new BatchNorm(5);
    const layer = memoryStats();
    expect(layer.tensors - before.tensors).toBe(4); // weight, bias, running mean, running var
    expect(layer.workspaces - before.workspaces).toBe(1);
    expect(layer.bytes - before.bytes).toBeGreaterThan(4 * 5 * 4);
    const x = Tensor.zeros([2, 5, 3]);
    const { y, saved } = batchNormTrain(x);
    const withSaved = memoryStats();
    expect(withSaved.savedStatistics - before.savedStatistics).toBe(1);
    expect(withSaved.tensors - before.tensors).toBe(6);
    expect(liveTensorCount()).toBe(withSaved.tensors);
    for (const t of [x, y, saved, bn]) t.dispose();
    expect({ ...memoryStats(), wasmMemoryBytes: 0 }).toEqual({ ...before, wasmMemoryBytes: 0 });
  });

  it("out of memory is ERR_OUT_OF_MEMORY naming the argument and the bytes, with nothing held", () => {
    const before = memoryStats();
    setMemoryLimit(before.bytes + 100);
    try {
      const error = caughtError(() => Tensor.zeros([8, 8]));
      expect(error).toMatchObject({ code: "ERR_OUT_OF_MEMORY", argument: "shape" });
      expect(error.message).toContain("256 bytes");
      expect(caughtError(() => new BatchNorm(64)).code).toBe("ERR_OUT_OF_MEMORY");
      const small = Tensor.zeros([5]); // 20 bytes fit
      small.dispose();
    } finally {
      setMemoryLimit(null);
    }
    expect(memoryStats()).toEqual(before);
  });

  it("a first backward whose gradient allocation fails leaves both gradients unset; a later backward creates them", () => {
    const bn = new BatchNorm(3);
    const x = Tensor.from(Float32Array.from({ length: 30 }, (_, i) => Math.sin(i)), [2, 3, 5]);
    const dy = Tensor.from(Float32Array.from({ length: 30 }, (_, i) => Math.cos(i)), [2, 3, 5]);
    const dx = Tensor.zeros([2, 3, 5]);
    bn.forward(x).dispose();
    setMemoryLimit(memoryStats().bytes + 12); // the weight gradient fits, the bias gradient does not
    try {
      expect(caughtError(() => bn.backward(dy, dx))).toMatchObject({ code: "ERR_OUT_OF_MEMORY", argument: "this.biasGrad" });
    } finally {
      setMemoryLimit(null);
    }
    expect(bn.weightGrad).toBeNull();
    expect(bn.biasGrad).toBeNull();
    bn.backward(dy, dx); // the pending forward is still there
    expect(bn.weightGrad).not.toBeNull();
    expect(bn.biasGrad!.toFloat32Array().some((v) => v !== 0)).toBe(true);
    for (const t of [x, dy, dx, bn]) t.dispose();
  });

  it("sizes are bounded before allocating", () => {
    const live = liveTensorCount();
    for (const shape of [[2 ** 31], [65536, 32768], [MAX_TENSOR_ELEMENTS + 1]]) {
      expect(caughtError(() => Tensor.zeros(shape)).code).toBe("ERR_SHAPE");
    }
    expect(caughtError(() => new BatchNorm(38_000_000))).toMatchObject({ code: "ERR_ARGUMENT", argument: "numFeatures" });
    expect(liveTensorCount()).toBe(live);
  });

  it("reads each user value once: a proxy or getter cannot show the check one value and the write another", () => {
    let reads = 0;
    const values = [1, 2, 3];
    const proxy = new Proxy(values, { get: (target, key, receiver) => { if (key !== "length") reads++; return Reflect.get(target, key, receiver); } });
    const t = Tensor.from(proxy, [3]);
    expect(reads).toBe(3);
    let flips = 0;
    const state = {
      weight: [1, 1, 1], bias: [0, 0, 0], running_mean: [0, 0, 0], num_batches_tracked: 1,
      get running_var() { return flips++ === 0 ? [2, 2, 2] : [1, 2n, 3]; },
    };
    const bn = new BatchNorm(3);
    bn.loadStateDict(state as never);
    expect(flips).toBe(1);
    expect(Array.from(bn.runningVar!.toFloat32Array())).toEqual([2, 2, 2]);
    t.dispose();
    bn.dispose();
  });
});

describe("saved statistics cannot be forged", () => {
  it("a prototype object, a plain object or a direct constructor call is refused; a disposed handle refuses reads", () => {
    const x = Tensor.from(Float32Array.from({ length: 12 }, (_, i) => i), [4, 3]);
    const dy = Tensor.zeros([4, 3]);
    expect(caughtError(() => batchNormBackward(dy, Object.create(SavedBatchStatistics.prototype))).code).toBe("ERR_ARGUMENT");
    expect(Object.create(SavedBatchStatistics.prototype) instanceof SavedBatchStatistics).toBe(true); // why instanceof is not the check
    const { y, saved } = batchNormTrain(x);
    expect(() => { (saved as unknown as { mean: unknown }).mean = new Float64Array(3); }).toThrow(TypeError);
    saved.dispose();
    expect(caughtError(() => saved.mean)).toMatchObject({ code: "ERR_DISPOSED", argument: "saved.mean" });
    expect(caughtError(() => batchNormBackward(dy, saved)).code).toBe("ERR_DISPOSED");
    for (const t of [x, dy, y]) t.dispose();
  });
});

describe("placement", () => {
  it("starts large tensors on cache lines at distinct offsets modulo 4 KiB, guarded or not", () => {
    for (const guarded of [false, true]) {
      enableGuardBytes(guarded);
      try {
        const tensors = Array.from({ length: 4 }, () => Tensor.zeros([16 * 1024 + 3]));
        const pageOffsets = tensors.map((t) => t.byteOffset % 4096);
        expect(pageOffsets.every((offset) => offset % 64 === 0), String(pageOffsets)).toBe(true);
        expect(new Set(pageOffsets).size).toBe(4);
        if (guarded) expect(checkGuardBytes()).toEqual([]);
        tensors[1].set(new Float32Array(16 * 1024 + 3).fill(-1));
        expect([tensors[0].toFloat32Array().some((v) => v !== 0), tensors[2].toFloat32Array().some((v) => v !== 0)]).toEqual([false, false]);
        if (guarded) expect(checkGuardBytes()).toEqual([]);
        for (const t of tensors) t.dispose();
      } finally {
        enableGuardBytes(false);
      }
    }
  });
});

describe("guard bytes", () => {
  it("report a write past a block, and work with blocks made before the switch", () => {
    const unguarded = Tensor.zeros([3]);
    enableGuardBytes(true);
    try {
      const t = Tensor.zeros([5]);
      expect(checkGuardBytes()).toEqual([]);
      const bytes = new Uint8Array(t.view().buffer);
      const end = t.byteOffset + 5 * 4;
      const saved = bytes[end + 3];
      bytes[end + 3] ^= 0xff;
      const report = checkGuardBytes();
      expect(report.length).toBe(1);
      expect(report[0]).toContain("after");
      bytes[end + 3] = saved;
      expect(checkGuardBytes()).toEqual([]);
      bytes[t.byteOffset - 1] ^= 0xff;
      expect(checkGuardBytes()[0]).toContain("before");
      bytes[t.byteOffset - 1] ^= 0xff;
      t.dispose();
    } finally {
      enableGuardBytes(false);
    }
    unguarded.dispose();
    expect(checkGuardBytes()).toEqual([]);
  });
});

describe("dropped objects", () => {
  it("are freed by the garbage collector when the engine exposes one", async () => {
    const collect = (globalThis as { gc?: () => void }).gc ?? (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc.bind(null, true);
    const live = liveTensorCount();
    (() => {
      for (let i = 0; i < 200; i++) Tensor.zeros([16]);
    })();
    expect(liveTensorCount()).toBe(live + 200);
    if (collect === undefined) return; // nothing to force a collection with in this engine; the registry still runs when it collects
    for (let round = 0; round < 10 && liveTensorCount() > live; round++) {
      collect();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // A conservative collector (JavaScriptCore) may keep a few alive from stale stack words.
    expect(liveTensorCount()).toBeLessThan(live + 200);
  });
});
