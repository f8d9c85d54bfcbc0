// Optimizers against torch.optim (test/fixtures/generate-optim.py, torch 1.13):
// SGD, Adam and AdamW replay fixed sequences of gradients and must give
// torch's parameters after every step; layers train with them without copying
// a tensor to JS; state dicts round trip; bad options are typed errors.
import { beforeAll, describe, expect, it } from "vitest";
import {
  Adam, AdamW, BatchNorm, BatchNorm2d, BatchNormError, GroupNorm, InstanceNorm2d, LayerNorm, RMSNorm, SGD, Tensor, init, liveTensorCount,
  type ParameterPair,
} from "../../src/index.ts";
import { loadBuild } from "../../src/wasm.ts";
import fixtures from "../fixtures/optim-cases.json";
import { decodeFloat32, decodeFloat64 } from "../fixtures/decode.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

// Tolerances, from the measured errors (both builds give the same bits):
// the kernels follow torch's float32 operations one by one (FMA where torch's
// CPU kernels contract to one), and every optimizer case gives torch's bits
// exactly, at every step, on every element: the bar is 0. The training cases
// go through each library's own backward, whose float32 gradients differ from
// torch's by a few ulp; measured max |error| in weight and bias over 8 steps:
// BatchNorm2d + SGD momentum 9.5e-7, BatchNorm2d + Adam 1.5e-8, LayerNorm +
// AdamW 6.0e-8 (both builds); the bar is 3e-6.
const OPTIMIZER_TOLERANCE = 0;
const TRAINING_TOLERANCE = 3e-6;

type Options = Record<string, unknown>;
interface Case {
  name: string; optimizer: "SGD" | "Adam" | "AdamW"; options: Options;
  steps: { torch: string[]; float64: string[] }[];
  state: Record<string, string | number | null>[];
  paramGroup: Record<string, unknown>;
}
interface Training {
  name: string; layer: "BatchNorm2d" | "LayerNorm"; shape: number[]; optimizer: "SGD" | "Adam" | "AdamW"; options: Options;
  x: string; dy: string; steps: { weight: string; bias: string }[];
}
const data = fixtures as unknown as { sizes: number[]; late: number; params: string[]; grads: string[][]; cases: Case[]; training: Training[] };

const CONSTRUCTORS = { SGD, Adam, AdamW } as const;
const camel = (options: Options): Options =>
  Object.fromEntries(Object.entries(options).map(([key, value]) => [key === "weight_decay" ? "weightDecay" : key, value]));
const make = (kind: keyof typeof CONSTRUCTORS, params: unknown, options: Options) =>
  new (CONSTRUCTORS[kind] as unknown as new (p: unknown, o: Options) => SGD | Adam | AdamW)(params, options);

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) worst = d; // NaN shows as NaN
  }
  return worst;
}

/** Pairs over copies of the fixture's parameters, and gradient tensors the replay refills each step. */
function pairsFor(): { pairs: ParameterPair[]; grads: Tensor[]; dispose: () => void } {
  const pairs = data.params.map((p) => ({ param: Tensor.from(decodeFloat32(p)), grad: null as Tensor | null }));
  const grads = data.sizes.map((n) => Tensor.zeros([n]));
  return { pairs, grads, dispose: () => [...pairs.map((p) => p.param), ...grads].forEach((t) => t.dispose()) };
}

/** Sets step s's gradients (the last parameter has none before step `late`, as in the fixtures). */
function feed(pairs: ParameterPair[], grads: Tensor[], s: number): void {
  pairs.forEach((pair, i) => {
    const none = i === pairs.length - 1 && s < data.late;
    pair.grad = none ? null : grads[i].set(decodeFloat32(data.grads[s][i]));
  });
}

const measured: string[] = [];

describe("optimizers against torch.optim", () => {
  it("cover SGD (plain, momentum, dampening, nesterov, weight decay, maximize), Adam and AdamW (defaults, betas, eps, weight decay, amsgrad, maximize)", () => {
    const names = data.cases.map((c) => c.name);
    for (const word of ["sgd plain", "momentum", "dampening", "nesterov", "sgd weight_decay", "sgd maximize", "adam defaults", "adam amsgrad", "adam maximize", "adamw defaults", "adamw weight_decay amsgrad"]) {
      expect(names.some((n) => n.includes(word)), word).toBe(true);
    }
  });

  it.each(data.cases.map((c) => [c.name, c] as const))("%s: torch's parameters after every step", (_name, fixture) => {
    const before = liveTensorCount();
    const { pairs, grads, dispose } = pairsFor();
    const optimizer = make(fixture.optimizer, pairs, camel(fixture.options));
    let worst = 0, worstTorch64 = 0, worstOurs64 = 0;
    fixture.steps.forEach((step, s) => {
      feed(pairs, grads, s);
      optimizer.step();
      pairs.forEach((pair, i) => {
        const ours = pair.param.toFloat32Array(), torch = decodeFloat32(step.torch[i]), exact = decodeFloat64(step.float64[i]);
        const error = maxAbs(ours, torch);
        expect(error, `${fixture.name}: step ${s + 1}, parameter ${i}: max |ours - torch| ${error}`).toBeLessThanOrEqual(OPTIMIZER_TOLERANCE);
        worst = Math.max(worst, error);
        worstTorch64 = Math.max(worstTorch64, maxAbs(torch, exact));
        worstOurs64 = Math.max(worstOurs64, maxAbs(ours, exact));
      });
    });
    // The state after the last step: torch's keys, values and step counts.
    const state = optimizer.stateDict();
    fixture.state.forEach((expected, i) => {
      const ours = state.state[i];
      expect(Object.keys(ours).sort(), `state[${i}] keys`).toEqual(Object.keys(expected).sort());
      for (const [key, value] of Object.entries(expected)) {
        if (typeof value === "string") expect(maxAbs(ours[key] as Float32Array, decodeFloat32(value)), `state[${i}].${key}`).toBeLessThanOrEqual(OPTIMIZER_TOLERANCE);
        else expect(ours[key], `state[${i}].${key}`).toEqual(value);
      }
    });
    // param_groups: torch's keys and values, less torch's options this library does not have.
    const group = { ...fixture.paramGroup };
    for (const key of ["foreach", "differentiable", "capturable", "fused"]) delete group[key];
    expect(state.param_groups).toEqual([group]);
    measured.push(`${fixture.name}: ours vs torch ${worst}, torch float32 vs float64 ${worstTorch64.toExponential(1)}, ours vs float64 ${worstOurs64.toExponential(1)}`);
    optimizer.dispose();
    dispose();
    expect(liveTensorCount()).toBe(before);
  });

  it("the SIMD and the scalar build give identical bits", async () => {
    const builds = [await loadBuild("simd"), await loadBuild("scalar")];
    const results = builds.map((k) => {
      const n = 37, bytes = n * 4;
      const ptrs = Array.from({ length: 5 }, () => k.alloc(bytes));
      const f32 = (p: number) => new Float32Array(k.memory.buffer, p, n);
      const out: number[][] = [];
      for (const [decoupled, amsgrad] of [[false, false], [true, true]]) {
        f32(ptrs[0]).set(Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 10));
        for (const p of ptrs.slice(2)) f32(p).fill(0);
        for (let step = 1; step <= 4; step++) {
          f32(ptrs[1]).set(Float32Array.from({ length: n }, (_, i) => Math.cos(i * step) * 10 ** (step - 2)));
          k.adamStep(ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], n, 0.01, 0.9, 0.999, 1e-8, 0.1, step, decoupled, amsgrad, false);
          k.sgdStep(ptrs[0], ptrs[1], ptrs[4], n, 0.1, 0.9, 0.1, 0.01, false, step === 3, step === 1);
        }
        out.push(...ptrs.map((p) => Array.from(new Uint32Array(k.memory.buffer, p, n))));
      }
      for (const p of ptrs) k.free(p);
      return out;
    });
    expect(results[1]).toEqual(results[0]);
  });

  it("agreement with torch (printed)", () => {
    console.log(`optimizers, max |error| over all steps and parameters:\n  ${measured.join("\n  ")}`);
    expect(measured.length).toBe(data.cases.length);
  });
});

describe("training layers with an optimizer", () => {
  it.each(data.training.map((t) => [t.name, t] as const))("%s: torch's weight and bias after every step, no tensor copied to JS", (_name, fixture) => {
    const before = liveTensorCount();
    const layer = fixture.layer === "BatchNorm2d" ? new BatchNorm2d(fixture.shape[1]) : new LayerNorm(fixture.shape.slice(1));
    const x = Tensor.from(decodeFloat32(fixture.x), fixture.shape), dy = Tensor.from(decodeFloat32(fixture.dy), fixture.shape);
    const y = Tensor.zeros(fixture.shape), dx = Tensor.zeros(fixture.shape);
    const optimizer = make(fixture.optimizer, layer.parameters(), camel(fixture.options));
    const weights: Float32Array[] = [], biases: Float32Array[] = [];
    const prototype = Tensor.prototype as unknown as Record<string, unknown>;
    const copies = ["view", "toFloat32Array", "toArray", "set"];
    let counted = 0;
    for (let s = 0; s < fixture.steps.length; s++) {
      // Every method that copies between a tensor and JS throws while the step runs.
      const saved = copies.map((name) => prototype[name]);
      for (const name of copies) prototype[name] = () => { throw new Error(`${name} called during training`); };
      try {
        optimizer.zeroGrad();
        layer.forward(x, y);
        layer.backward(dy, dx);
        optimizer.step();
      } finally {
        copies.forEach((name, i) => { prototype[name] = saved[i]; });
      }
      if (s === 0) counted = liveTensorCount();
      else expect(liveTensorCount(), "no tensor made after the first step").toBe(counted);
      weights.push(layer.weight!.toFloat32Array());
      biases.push(layer.bias!.toFloat32Array());
    }
    let worst = 0;
    fixture.steps.forEach((step, s) => {
      worst = Math.max(worst, maxAbs(weights[s], decodeFloat32(step.weight)), maxAbs(biases[s], decodeFloat32(step.bias)));
    });
    console.log(`${fixture.name}: max |weight, bias - torch| over ${fixture.steps.length} steps ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TRAINING_TOLERANCE);
    for (const t of [x, dy, y, dx]) t.dispose();
    optimizer.dispose();
    layer.dispose();
    expect(liveTensorCount()).toBe(before);
  });

  it("every layer has parameters() and namedParameters() with torch's names", () => {
    const layers = [new BatchNorm(3), new BatchNorm(3, { affine: false }), new LayerNorm([2, 3]), new LayerNorm(4, { bias: false }), new RMSNorm(4),
      new GroupNorm(2, 4), new InstanceNorm2d(3), new InstanceNorm2d(3, { affine: true })];
    expect(layers.map((l) => l.namedParameters().map(([name]) => name))).toEqual([
      ["weight", "bias"], [], ["weight", "bias"], ["weight"], ["weight"], ["weight", "bias"], [], ["weight", "bias"],
    ]);
    for (const layer of layers) {
      expect(layer.parameters()).toEqual(layer.namedParameters().map(([, t]) => t));
      const named = Object.fromEntries(layer.namedParameters());
      if (named.weight) expect(named.weight).toBe(layer.weight);
      if (named.bias) expect(named.bias).toBe(layer.bias);
      layer.dispose();
    }
  });

  it("skips parameters without a gradient, as torch skips grad None", () => {
    const bn = new BatchNorm(2), ln = new LayerNorm(2);
    const optimizer = new Adam([...bn.parameters(), ...ln.parameters()], { lr: 0.1 });
    const x = Tensor.from([[1, 2], [3, 5]]), dy = Tensor.from([[1, 0], [0, 1]]);
    bn.forward(x).dispose();
    bn.backward(dy).dispose();
    optimizer.step(); // ln has no gradients yet
    expect(Object.keys(optimizer.stateDict().state)).toEqual(["0", "1"]);
    expect(Array.from(ln.weight!.toFloat32Array())).toEqual([1, 1]);
    expect(bn.weight!.toFloat32Array()[0]).not.toBe(1);
    for (const t of [x, dy, bn, ln, optimizer]) t.dispose();
  });

  it("a step invalidates what the layer cached from the old parameters (eval coefficients)", () => {
    const bn = new BatchNorm(2);
    const x = Tensor.from([[1, 2], [3, 5]]);
    bn.eval();
    const before = bn.forward(x).toFloat32Array();
    bn.train();
    bn.forward(x).dispose();
    bn.backward(Tensor.from([[1, 0], [0, 1]])).dispose();
    const optimizer = new SGD(bn.parameters(), { lr: 1 });
    optimizer.step();
    bn.eval();
    const after = bn.forward(x).toFloat32Array();
    expect(Array.from(after)).not.toEqual(Array.from(before));
    for (const t of [x, bn, optimizer]) t.dispose();
  });
});

describe("optimizer state and groups", () => {
  function trained(kind: "SGD" | "Adam" | "AdamW", options: Options, steps: number) {
    const { pairs, grads, dispose } = pairsFor();
    const optimizer = make(kind, pairs, options);
    for (let s = 0; s < steps; s++) {
      feed(pairs, grads, s);
      optimizer.step();
    }
    return { pairs, grads, optimizer, dispose };
  }

  it.each([
    ["SGD", { lr: 0.05, momentum: 0.9, nesterov: true }],
    ["Adam", { lr: 0.01, amsgrad: true }],
    ["AdamW", { lr: 0.01, betas: [0.8, 0.99] }],
  ] as const)("%s: stateDict then loadStateDict into a fresh optimizer continues with the same bits", (kind, options) => {
    const a = trained(kind, options, 3);
    // A copy of the parameters, and an optimizer with other options: loading brings back the saved ones.
    const b = pairsFor();
    b.pairs.forEach((pair, i) => pair.param.set(a.pairs[i].param.toFloat32Array()));
    const other = make(kind, b.pairs, { lr: 0.5 });
    const saved = a.optimizer.stateDict();
    other.loadStateDict(JSON.parse(JSON.stringify(saved, (_k, v) => (v instanceof Float32Array ? Array.from(v) : v))));
    expect(other.stateDict()).toEqual(saved);
    for (let s = 3; s < 8; s++) {
      feed(a.pairs, a.grads, s);
      feed(b.pairs, b.grads, s);
      a.optimizer.step();
      other.step();
    }
    a.pairs.forEach((pair, i) => expect(Array.from(b.pairs[i].param.toFloat32Array())).toEqual(Array.from(pair.param.toFloat32Array())));
    for (const o of [a.optimizer, other]) o.dispose();
    a.dispose();
    b.dispose();
  });

  it("accepts torch's own extra group keys at their defaults, refuses anything else", () => {
    const a = trained("Adam", {}, 2);
    const saved = a.optimizer.stateDict();
    a.optimizer.loadStateDict({ ...saved, param_groups: [{ ...saved.param_groups[0], foreach: null, capturable: false, differentiable: false, fused: false } as never] });
    expect(caughtError(() => a.optimizer.loadStateDict({ ...saved, param_groups: [{ ...saved.param_groups[0], capturable: true } as never] }))).toMatchObject({ code: "ERR_STATE_DICT", argument: "state.param_groups[0].capturable" });
    expect(caughtError(() => a.optimizer.loadStateDict({ ...saved, param_groups: [] }))).toMatchObject({ code: "ERR_STATE_DICT", argument: "state.param_groups" });
    expect(caughtError(() => a.optimizer.loadStateDict({ ...saved, state: { 7: saved.state[0] } }))).toMatchObject({ code: "ERR_STATE_DICT", argument: "state.state[7]" });
    expect(caughtError(() => a.optimizer.loadStateDict({ ...saved, state: { 0: { ...saved.state[0], exp_avg: new Float32Array(3) } } }))).toMatchObject({ code: "ERR_SHAPE", argument: "state.state[0].exp_avg" });
    expect(caughtError(() => a.optimizer.loadStateDict({ ...saved, state: { 0: { step: 1, exp_avg: saved.state[0].exp_avg } } }))).toMatchObject({ code: "ERR_STATE_DICT", argument: "state.state[0].exp_avg_sq" });
    expect(caughtError(() => a.optimizer.loadStateDict({ ...saved, param_groups: [{ ...saved.param_groups[0], lr: -1 }] }))).toMatchObject({ code: "ERR_ARGUMENT", argument: "state.param_groups[0].lr" });
    expect(a.optimizer.stateDict()).toEqual(saved); // nothing changed by the rejected loads
    a.optimizer.dispose();
    a.dispose();
  });

  it("parameter groups take their own options; changing paramGroups[i].lr changes the next step", () => {
    const bn = new BatchNorm(2), ln = new LayerNorm(2);
    const x = Tensor.from([[1, 2], [3, 5]]), dy = Tensor.from([[1, 0], [0, 1]]);
    for (const layer of [bn, ln]) {
      layer.forward(x).dispose();
      layer.backward(dy).dispose();
    }
    const optimizer = new SGD([{ params: bn.parameters() }, { params: ln.parameters(), lr: 0 }], { lr: 0.1, momentum: 0.5 });
    expect(optimizer.paramGroups.map((g) => [g.lr, g.momentum, g.params.length])).toEqual([[0.1, 0.5, 2], [0, 0.5, 2]]);
    const lnBefore = ln.weight!.toFloat32Array();
    optimizer.step();
    expect(ln.weight!.toFloat32Array()).toEqual(lnBefore);
    optimizer.paramGroups[1].lr = 1;
    optimizer.step();
    expect(ln.weight!.toFloat32Array()).not.toEqual(lnBefore);
    // A bad value set on a group is refused at the next step, with nothing changed.
    const bnBefore = bn.weight!.toFloat32Array(), state = optimizer.stateDict();
    optimizer.paramGroups[0].lr = -1;
    expect(caughtError(() => optimizer.step())).toMatchObject({ code: "ERR_ARGUMENT", argument: "paramGroups[0].lr" });
    expect(bn.weight!.toFloat32Array()).toEqual(bnBefore);
    optimizer.paramGroups[0].lr = 0.1;
    expect(optimizer.stateDict()).toEqual(state);
    for (const t of [x, dy, bn, ln, optimizer]) t.dispose();
  });

  it("zeroGrad sets every gradient to zero and keeps the buffers", () => {
    const bn = new BatchNorm(2);
    const x = Tensor.from([[1, 2], [3, 5]]), dy = Tensor.from([[1, 0], [0, 1]]);
    bn.forward(x).dispose();
    bn.backward(dy).dispose();
    const grad = bn.weightGrad!;
    const optimizer = new AdamW(bn.parameters());
    optimizer.zeroGrad();
    expect(bn.weightGrad).toBe(grad);
    expect(Array.from(grad.toFloat32Array())).toEqual([0, 0]);
    expect(Array.from(bn.biasGrad!.toFloat32Array())).toEqual([0, 0]);
    for (const t of [x, dy, bn, optimizer]) t.dispose();
  });
});

describe("optimizer errors", () => {
  const layer = () => new BatchNorm(2);

  it.each([
    ["SGD without lr", () => new SGD(layer().parameters()), "ERR_ARGUMENT", "options.lr", /required/],
    ["negative lr", () => new SGD(layer().parameters(), { lr: -0.1 }), "ERR_ARGUMENT", "options.lr", />= 0/],
    ["NaN momentum", () => new SGD(layer().parameters(), { lr: 0.1, momentum: NaN }), "ERR_ARGUMENT", "options.momentum", /finite/],
    ["a torch name", () => new SGD(layer().parameters(), { lr: 0.1, weight_decay: 0.1 } as never), "ERR_ARGUMENT", "options.weight_decay", /did you mean "weightDecay"/],
    ["nesterov without momentum", () => new SGD(layer().parameters(), { lr: 0.1, nesterov: true }), "ERR_ARGUMENT", "options.nesterov", /momentum > 0/],
    ["nesterov with dampening", () => new SGD(layer().parameters(), { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), "ERR_ARGUMENT", "options.nesterov", /dampening 0/],
    ["string flag", () => new Adam(layer().parameters(), { amsgrad: "true" as never }), "ERR_ARGUMENT", "options.amsgrad", /true or false/],
    ["beta of 1", () => new Adam(layer().parameters(), { betas: [0.9, 1] }), "ERR_ARGUMENT", "options.betas[1]", /\[0, 1\)/],
    ["betas not a pair", () => new AdamW(layer().parameters(), { betas: [0.9] as never }), "ERR_ARGUMENT", "options.betas", /two numbers/],
    ["negative eps", () => new Adam(layer().parameters(), { eps: -1 }), "ERR_ARGUMENT", "options.eps", />= 0/],
    ["torch's foreach", () => new Adam(layer().parameters(), { foreach: false } as never), "ERR_ARGUMENT", "options.foreach", /unknown option/],
    ["no parameters", () => new Adam([]), "ERR_ARGUMENT", "params", /no parameters/],
    ["not iterable", () => new Adam(3 as never), "ERR_ARGUMENT", "params", /iterable/],
    ["a plain tensor", () => new Adam([Tensor.zeros([2])]), "ERR_ARGUMENT", "params[0]", /\{ param, grad \}/],
    ["a parameter twice", () => { const p = layer().parameters(); return new Adam([...p, p[0]]); }, "ERR_ARGUMENT", "params[2]", /more than once/],
    ["mixed groups", () => { const p = layer().parameters(); return new Adam([p[0], { params: [p[1]] }] as never); }, "ERR_ARGUMENT", "params", /mixes/],
    ["unknown group option", () => new Adam([{ params: layer().parameters(), lr2: 1 } as never]), "ERR_ARGUMENT", "params[0].lr2", /unknown option/],
  ] as const)("%s", (_name, action, code, argument, message) => {
    const error = caughtError(action);
    expect(error).toBeInstanceOf(BatchNormError);
    expect(error.code).toBe(code);
    expect(error.argument).toBe(argument);
    expect(error.message).toMatch(message);
  });

  it("a gradient of the wrong size, a disposed parameter or optimizer: typed errors, nothing changed", () => {
    const param = Tensor.from([1, 2, 3]);
    const pair: ParameterPair = { param, grad: Tensor.zeros([2]) };
    const optimizer = new SGD([pair], { lr: 0.1 });
    expect(caughtError(() => optimizer.step())).toMatchObject({ code: "ERR_SHAPE", argument: "params[0].grad" });
    expect(caughtError(() => optimizer.zeroGrad())).toMatchObject({ code: "ERR_SHAPE", argument: "params[0].grad" });
    pair.grad = 3 as never;
    expect(caughtError(() => optimizer.step())).toMatchObject({ code: "ERR_ARGUMENT", argument: "params[0].grad" });
    pair.grad = Tensor.from([1, 1, 1]);
    optimizer.step();
    expect(Array.from(param.toFloat32Array())).toEqual([0.9, 1.9, 2.9].map(Math.fround));
    param.dispose();
    expect(caughtError(() => optimizer.step())).toMatchObject({ code: "ERR_DISPOSED", argument: "params[0]" });
    optimizer.dispose();
    expect(caughtError(() => optimizer.step())).toMatchObject({ code: "ERR_DISPOSED", argument: "this" });
    expect(caughtError(() => optimizer.stateDict())).toMatchObject({ code: "ERR_DISPOSED" });
  });
});
