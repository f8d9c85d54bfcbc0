// Whole-model state: the torch checkpoint's layers listed and loaded by prefix
// (eval outputs against torch's on captured activations), strict: false with
// torch's missingKeys / unexpectedKeys, rejected loads that change nothing,
// JSON and safetensors round trips of stateDict() for BatchNorm and the
// family, conventions presets and converters, and misspelt option names.
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, RMSNorm, Tensor, conventions, fromKerasConfig, fromKerasWeights, fromOnnxAttributes,
  fromOnnxInitializers, init, listNormLayers, loadBatchNorms, readSafetensors, stateToJSON, toKerasConfig, toKerasWeights, toOnnxAttributes,
  toOnnxInitializers, writeSafetensors,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";
import { checkpointBytes, checkpointCases, decodeFloat32, decodeFloat64 } from "../support/checkpoint.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

const BN_PREFIXES = ["features.1.", "features.4.", "features.7.", "classifier.2."];

describe("a torch checkpoint's normalization layers", () => {
  it("lists the BatchNorm layers with their channels, and the LayerNorm when shapes are known", () => {
    const file = readSafetensors(checkpointBytes());
    const listed = listNormLayers(file.tensors);
    expect(listed.map((e) => [e.prefix, e.kind, e.channels])).toEqual([
      ["features.1.", "BatchNorm", 8], ["features.4.", "BatchNorm", 8], ["features.7.", "BatchNorm", 12], ["classifier.2.", "BatchNorm", 32], ["norm.", "Norm", 10],
    ]);
    expect(listed[0]).toMatchObject({ naming: "torch", affine: true, trackRunningStats: true, keys: ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"] });
    expect(listed[0].alsoMatches).toContain("InstanceNorm (track_running_stats=True)");
    expect(listed[4].alsoMatches).toContain("LayerNorm");
    // Plain arrays carry no shapes: conv and linear weights cannot be told from a norm's, so only BatchNorms are listed.
    expect(listNormLayers(file.state).map((e) => e.prefix)).toEqual(BN_PREFIXES);
  });

  it("lists Keras-named and affine-less layers", () => {
    const listed = listNormLayers({
      "bn/gamma:0": [1, 2], "bn/beta:0": [0, 0], "bn/moving_mean:0": [0, 0], "bn/moving_variance:0": [1, 1],
      "plain.running_mean": [0, 0, 0], "plain.running_var": [1, 1, 1], "plain.num_batches_tracked": 3,
    });
    expect(listed).toMatchObject([
      { prefix: "bn/", kind: "BatchNorm", naming: "keras", channels: 2, affine: true },
      { prefix: "plain.", kind: "BatchNorm", naming: "torch", channels: 3, affine: false },
    ]);
  });

  it.each(checkpointCases.activations.map((a) => [a.prefix, a] as const))("%s loaded by prefix gives torch's eval outputs", (prefix, capture) => {
    const file = readSafetensors(checkpointBytes());
    const C = capture.shape[1];
    const bn = new BatchNorm(C);
    expect(bn.loadStateDict(file.state, { prefix })).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(bn.numBatchesTracked).toBe(file.state[`${prefix}num_batches_tracked`]);
    bn.eval();
    const x = Tensor.from(decodeFloat32(capture.x), capture.shape);
    const y = bn.forward(x).toFloat32Array();
    const torchY = decodeFloat32(capture.y), exact = decodeFloat64(capture.exact);
    let vsTorch = 0, vsExact = 0;
    for (let i = 0; i < y.length; i++) {
      vsTorch = Math.max(vsTorch, Math.abs(y[i] - torchY[i]));
      vsExact = Math.max(vsExact, Math.abs(y[i] - exact[i]));
    }
    // Measured (max |error| over the 16 captured images; torch's own vs float64 in brackets): features.1 3.5e-7 [4.0e-7],
    // features.4 4.9e-7 [6.4e-7], features.7 3.6e-7 [4.1e-7], classifier.2 3.9e-7 [3.2e-7]; ours vs torch at most 9.5e-7.
    // Eval is one float32 multiply-add per element (x * s + t) in both, so the bar is about torch's error, not below it.
    expect(vsExact, `vs float64 ${vsExact} (torch's ${capture.torchError})`).toBeLessThanOrEqual(Math.max(capture.torchError, 1e-7) * 1.5);
    expect(vsTorch).toBeLessThan(2e-6);
    x.dispose();
    bn.dispose();
  });

  it("loadBatchNorms makes every BatchNorm of the checkpoint in eval mode, and the family loads by prefix too", () => {
    const file = readSafetensors(checkpointBytes());
    const layers = loadBatchNorms(file.tensors);
    expect([...layers.keys()]).toEqual(BN_PREFIXES);
    const bn = layers.get("features.7.")!;
    expect(bn.training).toBe(false);
    expect([...bn.runningVar!.toFloat32Array()]).toEqual([...(file.state["features.7.running_var"] as Float32Array)]);
    for (const layer of layers.values()) layer.dispose();
    const norm = new LayerNorm([10]);
    norm.loadStateDict(file.state, { prefix: "norm." });
    expect([...norm.weight!.toFloat32Array()]).toEqual([...(file.state["norm.weight"] as Float32Array)]);
    norm.dispose();
  });

  it("refuses a whole-model dict without a prefix, with a hint naming the prefixes", () => {
    const file = readSafetensors(checkpointBytes());
    const bn = new BatchNorm(8);
    const error = caughtError(() => bn.loadStateDict(file.state));
    expect(error).toMatchObject({ code: "ERR_STATE_DICT", argument: "state.features.0.weight" });
    expect(error.message).toContain('"features.1."');
    bn.dispose();
  });
});

describe("strict: false", () => {
  it("reports torch's missingKeys and unexpectedKeys (full keys) and loads what is there", () => {
    const bn = new BatchNorm(2);
    const result = bn.loadStateDict({ "m.0.weight": [2, 3], "m.0.running_mean": [1, 1], "m.0.extra": [0], "other.weight": [9, 9] }, { prefix: "m.0.", strict: false });
    expect(result).toEqual({ missingKeys: ["m.0.bias", "m.0.running_var", "m.0.num_batches_tracked"], unexpectedKeys: ["m.0.extra"] });
    expect([...bn.weight!.toFloat32Array()]).toEqual([2, 3]);
    expect([...bn.bias!.toFloat32Array()]).toEqual([0, 0]);
    expect([...bn.runningMean!.toFloat32Array()]).toEqual([1, 1]);
    expect([...bn.runningVar!.toFloat32Array()]).toEqual([1, 1]);
    expect(bn.numBatchesTracked).toBe(0);
    bn.dispose();
  });

  it("still refuses a wrong size or value, and then changes nothing (as torch's size mismatch)", () => {
    const bn = new BatchNorm(2);
    bn.loadStateDict({ weight: [5, 6], bias: [1, 2], running_mean: [3, 4], running_var: [7, 8], num_batches_tracked: 9 });
    const before = bn.stateDict();
    expect(caughtError(() => bn.loadStateDict({ weight: [1, 1], bias: [1, 2, 3] }, { strict: false }))).toMatchObject({ code: "ERR_CHANNELS", argument: "state.bias" });
    expect(caughtError(() => bn.loadStateDict({ "p.weight": [1, 1], "p.num_batches_tracked": -1 }, { prefix: "p.", strict: false }))).toMatchObject({ code: "ERR_ARGUMENT", argument: "state.p.num_batches_tracked" });
    expect(stateToJSON(bn.stateDict() as Record<string, unknown>)).toEqual(stateToJSON(before as Record<string, unknown>));
    bn.dispose();
  });

  it("works on the family (NormLayer) the same way", () => {
    const norm = new InstanceNorm2d(3, { affine: true, trackRunningStats: true });
    const result = norm.loadStateDict({ "in.weight": [1, 2, 3], "in.running_var": [4, 5, 6], "in.bogus": 1 }, { prefix: "in.", strict: false });
    expect(result).toEqual({ missingKeys: ["in.bias", "in.running_mean", "in.num_batches_tracked"], unexpectedKeys: ["in.bogus"] });
    expect([...norm.stateDict().running_var as Float32Array]).toEqual([4, 5, 6]);
    expect(caughtError(() => norm.loadStateDict({ "in.weight": [1, 2, 3] }, { prefix: "in." }))).toMatchObject({ code: "ERR_STATE_DICT", argument: "state.in.bias" });
    norm.dispose();
  });

  it("refuses bad options with suggestions", () => {
    const bn = new BatchNorm(2);
    const error = caughtError(() => bn.loadStateDict({}, { prefx: "a." } as never));
    expect(error).toMatchObject({ code: "ERR_ARGUMENT", argument: "options.prefx" });
    expect(error.message).toContain('did you mean "prefix"');
    expect(caughtError(() => bn.loadStateDict({}, { strict: "no" } as never))).toMatchObject({ code: "ERR_ARGUMENT", argument: "options.strict" });
    expect(caughtError(() => bn.loadStateDict({}, { prefix: 1 } as never))).toMatchObject({ code: "ERR_ARGUMENT", argument: "options.prefix" });
    bn.dispose();
  });
});

describe("stateDict round trips", () => {
  const layers = () => [
    ["BatchNorm2d", () => new BatchNorm2d(3), [2, 3, 2, 2]],
    ["BatchNorm2d without affine", () => new BatchNorm2d(3, { affine: false }), [2, 3, 2, 2]],
    ["LayerNorm", () => new LayerNorm([4]), [3, 4]],
    ["RMSNorm", () => new RMSNorm([4]), [3, 4]],
    ["GroupNorm", () => new GroupNorm(2, 4), [2, 4, 3]],
    ["InstanceNorm2d with running stats", () => new InstanceNorm2d(3, { affine: true, trackRunningStats: true }), [2, 3, 2, 2]],
  ] as const;

  it.each(layers().map(([name, make, shape]) => [name, make, shape] as const))("%s: JSON and safetensors", (_name, make, shape) => {
    const a = make() as BatchNorm | LayerNorm;
    const size = shape.reduce((p, q) => p * q, 1);
    const x = Tensor.from(Float32Array.from({ length: size }, (_, i) => Math.sin(i * 1.7) * 3 + i * 0.1), [...shape]);
    for (const t of (a as LayerNorm).parameters?.() ?? []) t.set(Float32Array.from({ length: t.size }, (_, i) => 0.5 + i * 0.25));
    a.forward(x).dispose(); // training forward: running statistics move
    const state = a.stateDict() as Record<string, unknown>;
    const text = JSON.stringify(state);
    expect(text).not.toContain('"0":');
    const fromJSON = make() as BatchNorm | LayerNorm;
    fromJSON.loadStateDict(JSON.parse(text));
    expect(stateToJSON(fromJSON.stateDict() as Record<string, unknown>)).toEqual(stateToJSON(state));
    const fromFile = make() as BatchNorm | LayerNorm;
    fromFile.loadStateDict(readSafetensors(writeSafetensors(state as never)).state);
    expect(stateToJSON(fromFile.stateDict() as Record<string, unknown>)).toEqual(stateToJSON(state));
    expect(Object.keys(state)).not.toContain("toJSON");
    for (const layer of [a, fromJSON, fromFile]) layer.dispose();
    x.dispose();
  });

  it("a whole model: prefixed states merged into one safetensors file and loaded back per layer", () => {
    const first = new BatchNorm(2), second = new LayerNorm([3]);
    first.loadStateDict({ weight: [1, 2], bias: [3, 4], running_mean: [5, 6], running_var: [7, 8], num_batches_tracked: 10 });
    second.loadStateDict({ weight: [1, 2, 3], bias: [4, 5, 6] });
    const merged: Record<string, unknown> = {};
    for (const [prefix, layer] of [["bn.", first], ["ln.", second]] as const) {
      for (const [key, value] of Object.entries(layer.stateDict())) merged[prefix + key] = value;
    }
    const file = readSafetensors(writeSafetensors(merged as never, { format: "pt" }));
    const again = new BatchNorm(2), ln = new LayerNorm([3]);
    again.loadStateDict(file.state, { prefix: "bn." });
    ln.loadStateDict(file.state, { prefix: "ln." });
    expect(again.numBatchesTracked).toBe(10);
    expect([...again.runningVar!.toFloat32Array()]).toEqual([7, 8]);
    expect([...ln.bias!.toFloat32Array()]).toEqual([4, 5, 6]);
    for (const layer of [first, second, again, ln]) layer.dispose();
  });
});

describe("conventions", () => {
  it("presets are layer options with each framework's momentum, eps and stored variance", () => {
    expect(conventions.pytorch).toEqual({ momentum: 0.1, eps: 1e-5, runningVariance: "unbiased" });
    expect(conventions.keras).toEqual({ momentum: 1 - 0.99, eps: 1e-3, runningVariance: "biased", layout: "channels-last" });
    expect(conventions.tensorflow).toEqual(conventions.keras);
    expect(conventions.onnx).toEqual({ momentum: 1 - 0.9, eps: 1e-5, runningVariance: "biased" });
    expect(Object.isFrozen(conventions.keras)).toBe(true);
  });

  it.each([
    ["keras", (old: number, batch: number) => old * 0.99 + batch * (1 - 0.99)],
    ["onnx", (old: number, batch: number) => old * 0.9 + batch * (1 - 0.9)],
  ] as const)("%s: one training batch updates the running variance with the biased batch variance", (name, update) => {
    const bn = new BatchNorm(1, { ...conventions[name] });
    const data = [1, 2, 4, 7];
    const x = Tensor.from(data, [4, 1]);
    bn.forward(x).dispose();
    const mean = 3.5, biased = data.reduce((s, v) => s + (v - mean) ** 2, 0) / 4;
    expect(bn.runningMean!.toFloat32Array()[0]).toBeCloseTo(update(0, mean), 6);
    expect(bn.runningVar!.toFloat32Array()[0]).toBeCloseTo(update(1, biased), 6);
    bn.dispose();
    x.dispose();
  });

  it("converts a Keras config, with center and scale separately", () => {
    expect(fromKerasConfig({ axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true, name: "bn", trainable: true })).toEqual({
      options: { momentum: 1 - 0.99, eps: 0.001, runningVariance: "biased", layout: "channels-last", affine: true }, center: true, scale: true, frozen: [],
    });
    expect(fromKerasConfig({ axis: 1, center: false })).toMatchObject({ options: { layout: "channels-first", affine: true }, frozen: ["bias"] });
    expect(fromKerasConfig({ axis: [3], scale: false }, 4)).toMatchObject({ options: { layout: "channels-last" }, frozen: ["weight"] });
    expect(fromKerasConfig({ center: false, scale: false })).toMatchObject({ options: { affine: false }, frozen: [] });
    expect(caughtError(() => fromKerasConfig({ axis: 2 }))).toMatchObject({ code: "ERR_LAYOUT", argument: "config.axis" });
    expect(caughtError(() => fromKerasConfig({ momentum: 1.5 }))).toMatchObject({ code: "ERR_MOMENTUM", argument: "config.momentum" });
    expect(caughtError(() => fromKerasConfig({ renorm: true }))).toMatchObject({ code: "ERR_ARGUMENT", argument: "config.renorm" });
    expect(caughtError(() => fromKerasConfig({ epsilion: 1e-3 }))).toMatchObject({ code: "ERR_ARGUMENT", argument: "config.epsilion" });
    const bn = new BatchNorm(2, fromKerasConfig({ momentum: 0.9, epsilon: 1e-4 }).options);
    expect(toKerasConfig(bn)).toEqual({ axis: -1, momentum: 0.9, epsilon: 1e-4, center: true, scale: true });
    bn.dispose();
  });

  it("converts Keras weights (names and get_weights() lists) and back", () => {
    const named = fromKerasWeights({ "bn/gamma:0": [2, 3], "bn/beta:0": [1, 0], "bn/moving_mean:0": [0.5, -1], "bn/moving_variance:0": [4, 9] });
    expect(Object.fromEntries(Object.entries(named).map(([k, v]) => [k, typeof v === "number" ? v : [...v]]))).toEqual({
      weight: [2, 3], bias: [1, 0], running_mean: [0.5, -1], running_var: [4, 9], num_batches_tracked: 0,
    });
    const noCenter = fromKerasWeights([[2, 3], [0.5, -1], [4, 9]], { center: false });
    expect([...noCenter.bias]).toEqual([0, 0]);
    expect([...noCenter.weight]).toEqual([2, 3]);
    const bn = new BatchNorm(2);
    bn.loadStateDict(noCenter);
    expect(Object.keys(toKerasWeights(bn.stateDict(), { center: false }))).toEqual(["gamma", "moving_mean", "moving_variance"]);
    expect(caughtError(() => fromKerasWeights([[1], [2]]))).toMatchObject({ code: "ERR_STATE_DICT", argument: "weights" });
    expect(caughtError(() => fromKerasWeights({ running_mean: [1] }))).toMatchObject({ code: "ERR_STATE_DICT", argument: "weights.running_mean" });
    bn.dispose();
  });

  it("converts ONNX attributes and initializers and back", () => {
    expect(fromOnnxAttributes({ epsilon: 1e-3, momentum: 0.8 })).toEqual({ eps: 1e-3, momentum: 1 - 0.8, runningVariance: "biased", layout: "channels-first" });
    expect(fromOnnxAttributes()).toMatchObject({ eps: 1e-5, momentum: 1 - 0.9 });
    const state = fromOnnxInitializers({ scale: [1, 2], B: [0, 1], input_mean: [3, 4], input_var: [5, 6] });
    expect([...state.running_var]).toEqual([5, 6]);
    const bn = new BatchNorm(2, fromOnnxAttributes({ epsilon: 1e-3 }));
    bn.loadStateDict(state);
    expect(toOnnxAttributes(bn)).toEqual({ epsilon: 1e-3, momentum: 0.9 });
    expect(Object.fromEntries(Object.entries(toOnnxInitializers(bn.stateDict())).map(([k, v]) => [k, [...v]]))).toEqual({ scale: [1, 2], B: [0, 1], input_mean: [3, 4], input_var: [5, 6] });
    expect(caughtError(() => fromOnnxInitializers({ scale: [1], B: [0], mean: [0], var: [1] } as never))).toMatchObject({ code: "ERR_STATE_DICT", argument: "inputs.mean" });
    expect(caughtError(() => fromOnnxAttributes({ spatial: 0 }))).toMatchObject({ code: "ERR_ARGUMENT", argument: "attributes.spatial" });
    bn.dispose();
  });

  it.each([
    ["epsilon", "eps"], ["center", "affine"], ["scale", "affine"], ["moving_variance", undefined], ["axis", "layout"], ["decay", "momentum"], ["momentun", "momentum"], ["track_running_stats", "trackRunningStats"],
  ])("refuses the misspelt or foreign option %s, suggesting %s", (key, suggested) => {
    const error = caughtError(() => new BatchNorm(2, { [key]: 1 } as never));
    expect(error).toMatchObject({ code: "ERR_ARGUMENT", argument: `options.${key}` });
    if (suggested) expect(error.message).toContain(`did you mean "${suggested}"`);
    if (["epsilon", "center", "axis", "decay"].includes(key)) expect(error.message).toContain("conventions.keras");
  });
});
