// Typed errors and nothing changed for the checkpoint entry points: prefixed
// and non-strict loadStateDict on BatchNorm and the family (bit-for-bit state
// before and after every rejected call, each value read once, getters and
// proxies), the converters and listNormLayers on hostile values.
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, GroupNorm, InstanceNorm1d, LayerNorm, Tensor, fromKerasWeights, fromOnnxInitializers, init, listNormLayers, liveTensorCount, loadBatchNorms,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

type Layer = BatchNorm | LayerNorm | GroupNorm | InstanceNorm1d;

/** Every byte of the layer's state and its counter, as JSON-safe text (NaN-safe through the bits). */
function snapshot(layer: Layer): string {
  const state = layer.stateDict() as Record<string, unknown>;
  return JSON.stringify(Object.entries(state).map(([k, v]) => [k, v instanceof Float32Array ? [...new Uint32Array(v.buffer)] : v]));
}

const makers: [string, () => Layer, string[]][] = [
  ["BatchNorm", () => new BatchNorm(3), ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]],
  ["LayerNorm", () => new LayerNorm([3]), ["weight", "bias"]],
  ["GroupNorm", () => new GroupNorm(1, 3), ["weight", "bias"]],
  ["InstanceNorm1d (running stats)", () => new InstanceNorm1d(3, { affine: true, trackRunningStats: true }), ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]],
];

function trained(make: () => Layer): Layer {
  const layer = make();
  const x = Tensor.from(Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.cos(i) * 5), layer instanceof LayerNorm ? [2, 4, 3] : [2, 3, 4]);
  (layer as BatchNorm).forward(x).dispose();
  x.dispose();
  return layer;
}

describe.each(makers)("%s: rejected loads change nothing", (_name, make, keys) => {
  const good = (prefix = "", extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    ...Object.fromEntries(keys.map((k) => [prefix + k, k === "num_batches_tracked" ? 4 : [0.5, 1.5, 2.5]])), ...extra,
  });
  const cases: [string, (l: Layer) => unknown, string, string][] = [
    ["a state that is null", (l) => l.loadStateDict(null as never), "ERR_ARGUMENT", "state"],
    ["a state that is an array", (l) => l.loadStateDict([] as never), "ERR_ARGUMENT", "state"],
    ["options that are null", (l) => l.loadStateDict(good(), null as never), "ERR_ARGUMENT", "options"],
    ["an unknown option", (l) => l.loadStateDict(good(), { strictly: true } as never), "ERR_ARGUMENT", "options.strictly"],
    ["a non-boolean strict", (l) => l.loadStateDict(good(), { strict: 0 } as never), "ERR_ARGUMENT", "options.strict"],
    ["a non-string prefix", (l) => l.loadStateDict(good(), { prefix: null } as never), "ERR_ARGUMENT", "options.prefix"],
    ["an unexpected key under the prefix", (l) => l.loadStateDict(good("a.b.", { "a.b.extra": [1] }), { prefix: "a.b." }), "ERR_STATE_DICT", "state.a.b.extra"],
    ["a missing key under the prefix", (l) => l.loadStateDict({ ...good("p."), "p.bias": undefined }, { prefix: "p." }), "ERR_STATE_DICT", "state.p.bias"],
    ["the right keys under another prefix", (l) => l.loadStateDict(good("q."), { prefix: "p." }), "ERR_STATE_DICT", `state.p.${keys[0]}`],
    ["a wrong length with strict false", (l) => l.loadStateDict(good("p.", { "p.bias": [1, 2] }), { prefix: "p.", strict: false }), _name === "BatchNorm" ? "ERR_CHANNELS" : "ERR_SHAPE", "state.p.bias"],
    ["a string element with strict false", (l) => l.loadStateDict({ "p.weight": [1, "2", 3] }, { prefix: "p.", strict: false }), "ERR_ARGUMENT", "state.p.weight"],
    ["a value beyond float32", (l) => l.loadStateDict(good("", { weight: [1e39, 0, 0] })), "ERR_ARGUMENT", "state.weight"],
    ["JSON's null for a NaN", (l) => l.loadStateDict(good("", { bias: [null, 0, 0] })), "ERR_ARGUMENT", "state.bias"],
  ];
  if (keys.includes("num_batches_tracked")) {
    cases.push(
      ["a negative count", (l) => l.loadStateDict(good("p.", { "p.num_batches_tracked": -1 }), { prefix: "p." }), "ERR_ARGUMENT", "state.p.num_batches_tracked"],
      ["a fractional count with strict false", (l) => l.loadStateDict({ "p.num_batches_tracked": 1.5 }, { prefix: "p.", strict: false }), "ERR_ARGUMENT", "state.p.num_batches_tracked"],
    );
  }
  it.each(cases)("%s", (_case, call, code, argument) => {
    const layer = trained(make);
    const before = snapshot(layer);
    expect(caughtError(() => call(layer))).toMatchObject({ code, argument });
    expect(snapshot(layer)).toBe(before);
    layer.dispose();
  });

  it("a disposed tensor in the state is refused, nothing changed", () => {
    const layer = trained(make);
    const before = snapshot(layer);
    const gone = Tensor.from([1, 2, 3]);
    gone.dispose();
    expect(caughtError(() => layer.loadStateDict(good("m.", { "m.weight": gone }), { prefix: "m." }))).toMatchObject({ code: "ERR_DISPOSED", argument: "state.m.weight" });
    expect(snapshot(layer)).toBe(before);
    layer.dispose();
  });

  it("reads each key once and each value once (getters), and a throwing getter passes through with nothing changed", () => {
    const layer = trained(make);
    const reads = new Map<string, number>();
    const state: Record<string, unknown> = { "other.weight": [9] };
    for (const [key, value] of Object.entries(good("m."))) {
      Object.defineProperty(state, key, { enumerable: true, get: () => (reads.set(key, (reads.get(key) ?? 0) + 1), value) });
    }
    let ownKeys = 0;
    const proxy = new Proxy(state, { ownKeys: (t) => (ownKeys += 1, Reflect.ownKeys(t)) });
    expect(layer.loadStateDict(proxy, { prefix: "m." })).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(ownKeys).toBe(1);
    expect([...reads.values()].every((n) => n === 1)).toBe(true);
    expect(reads.size).toBe(keys.length);
    const before = snapshot(layer);
    const failing = { ...good("m."), get "m.bias"(): unknown { throw new RangeError("from the getter"); } };
    expect(() => layer.loadStateDict(failing, { prefix: "m." })).toThrow(RangeError);
    expect(snapshot(layer)).toBe(before);
    layer.dispose();
  });
});

describe("other checkpoint entry points on hostile values", () => {
  it.each([
    ["listNormLayers of null", () => listNormLayers(null as never), "ERR_ARGUMENT", "state"],
    ["listNormLayers of an array", () => listNormLayers([] as never), "ERR_ARGUMENT", "state"],
    ["loadBatchNorms with a bad option", () => loadBatchNorms({ "a.running_mean": [0], "a.running_var": [1], "a.num_batches_tracked": 0 }, { eps: -1 }), "ERR_EPS", "options.eps"],
    ["loadBatchNorms with a bad value", () => loadBatchNorms({ "a.running_mean": [0], "a.running_var": ["1"], "a.num_batches_tracked": 0 }), "ERR_ARGUMENT", "state.a.running_var"],
    ["fromKerasWeights with a wrong length", () => fromKerasWeights({ gamma: [1], beta: [0, 0], moving_mean: [0, 0], moving_variance: [1, 1] }), "ERR_CHANNELS", "weights.gamma"],
    ["fromOnnxInitializers with a missing input", () => fromOnnxInitializers({ scale: [1], B: [0], input_mean: [0] } as never), "ERR_STATE_DICT", "inputs.input_var"],
  ] as const)("%s", (_name, call, code, argument) => {
    expect(caughtError(call)).toMatchObject({ code, argument });
  });

  it("listNormLayers ignores odd values and foreign groups instead of throwing", () => {
    const listed = listNormLayers({
      "a.running_mean": "x", "a.running_var": [1], "b.weight": { shape: [2, 2], data: [1, 2, 3, 4] }, "b.bias": { shape: [2], data: [0, 0] },
      "c.weight": { shape: [3], data: [1, 1, 1] }, "c.proj": { shape: [3], data: [1, 1, 1] }, "d.running_mean": [0, 0], "d.running_var": [1, 1],
    });
    expect(listed.map((e) => e.prefix)).toEqual(["d."]);
  });

  it("loadBatchNorms disposes what it made when a later layer fails", () => {
    const live = liveTensorCount();
    const error = caughtError(() => loadBatchNorms({ "a.running_mean": [0], "a.running_var": [1], "a.num_batches_tracked": 0, "b.running_mean": [0], "b.running_var": [1], "b.num_batches_tracked": -2 }));
    expect(liveTensorCount()).toBe(live);
    expect(error).toMatchObject({ code: "ERR_ARGUMENT", argument: "state.b.num_batches_tracked" });
  });
});
