// A layer called again with the same tensors skips re-deriving what cannot
// change (a tensor's shape and layout are frozen at creation) but still checks
// everything that can: liveness, a different output, the mode and per-call
// options. These tests hold it to the same answers and errors as a first call.
import { beforeAll, describe, expect, it } from "vitest";
import { BatchNorm, Tensor, init, liveTensorCount } from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";
import { normalArray, seededRandom } from "../support/random.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

const SHAPE = [3, 4, 5];

function tensors() {
  const random = seededRandom(23);
  return { x: Tensor.from(normalArray(random, 60, 1, 2), SHAPE), y: Tensor.zeros(SHAPE) };
}

describe("tensor properties", () => {
  it("cannot be reassigned or extended (every bounds check reads them)", () => {
    const t = Tensor.zeros([2, 3]);
    const attempts: [string, () => void][] = [
      ["shape", () => { (t as { shape: number[] }).shape = [1000, 1000]; }],
      ["size", () => { (t as { size: number }).size = 1e6; }],
      ["layout", () => { (t as { layout: string }).layout = "channels-last"; }],
      ["a new property", () => { (t as unknown as Record<string, unknown>).extra = 1; }],
      ["a shape entry", () => { (t.shape as number[])[0] = 1000; }],
    ];
    for (const [what, attempt] of attempts) expect(attempt, what).toThrow(TypeError);
    expect([t.shape, t.size, t.layout]).toEqual([[2, 3], 6, undefined]);
    t.dispose();
  });
});

describe("repeated forwards with the same tensors", () => {
  it("give the bytes of a fresh layer's calls, in both modes and across mode switches", () => {
    const { x, y } = tensors();
    const repeated = new BatchNorm(4);
    const results: Float32Array[][] = [[], []];
    const modes = [true, true, false, false, true, false];
    for (const training of modes) {
      repeated.train(training);
      repeated.forward(x, y);
      results[0].push(y.toFloat32Array());
    }
    const fresh = new BatchNorm(4);
    for (const training of modes) {
      fresh.train(training);
      const out = fresh.forward(Tensor.from(x.toFloat32Array(), SHAPE));
      results[1].push(out.toFloat32Array());
    }
    expect(results[0]).toEqual(results[1]);
    expect(results[0][0].some((v) => v !== 0)).toBe(true);
    expect(repeated.runningMean!.toFloat32Array()).toEqual(fresh.runningMean!.toFloat32Array());
    repeated.dispose();
    fresh.dispose();
    x.dispose();
    y.dispose();
  });

  it("still refuse a disposed input or output", () => {
    const { x, y } = tensors();
    const bn = new BatchNorm(4).eval();
    bn.forward(x, y);
    bn.forward(x, y);
    y.dispose();
    expect(caughtError(() => bn.forward(x, y))).toMatchObject({ code: "ERR_DISPOSED", argument: "out" });
    x.dispose();
    expect(caughtError(() => bn.forward(x))).toMatchObject({ code: "ERR_DISPOSED", argument: "x" });
    bn.dispose();
  });

  it("check a different output, per-call options and the layer's own tensors again", () => {
    const { x, y } = tensors();
    const bn = new BatchNorm(4);
    bn.forward(x, y);
    const wrongShape = Tensor.zeros([3, 4, 6]), wrongLayout = Tensor.zeros(SHAPE, "channels-last");
    expect(caughtError(() => bn.forward(x, wrongShape))).toMatchObject({ code: "ERR_SHAPE", argument: "out" });
    expect(caughtError(() => bn.forward(x, wrongLayout))).toMatchObject({ code: "ERR_LAYOUT", argument: "out" });
    expect(caughtError(() => bn.forward(x, { out: y, stats: "median" } as never))).toMatchObject({ argument: "options.stats" });
    bn.forward(x, y); // the validated pair still works after the refusals
    bn.weight!.dispose();
    expect(caughtError(() => bn.forward(x, y))).toMatchObject({ code: "ERR_DISPOSED", argument: "this.weight" });
    for (const t of [x, y, wrongShape, wrongLayout]) t.dispose();
    bn.dispose();
  });

  it("take a new input of another shape through the full checks", () => {
    const { x, y } = tensors();
    const bn = new BatchNorm(4);
    bn.forward(x, y);
    const other = Tensor.zeros([3, 5, 5]);
    expect(caughtError(() => bn.forward(other, y))).toMatchObject({ code: "ERR_CHANNELS", argument: "x" });
    const before = liveTensorCount();
    const wide = Tensor.from(normalArray(seededRandom(3), 2 * 4 * 7), [2, 4, 7]);
    expect(caughtError(() => bn.forward(wide, y))).toMatchObject({ code: "ERR_SHAPE", argument: "out" });
    const out = bn.forward(wide);
    expect(out.shape).toEqual([2, 4, 7]);
    for (const t of [x, y, other, wide, out]) t.dispose();
    expect(liveTensorCount()).toBe(before - 3);
    bn.dispose();
  });
});
