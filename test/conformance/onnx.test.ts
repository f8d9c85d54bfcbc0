// ONNX's own backend test cases (Debian's libonnx-testdata, read by
// test/fixtures/generate-onnx.py into onnx-cases.json) replayed through the
// public functional API, one ONNX node per case:
//   LayerNormalization(axis, epsilon) -> layerNorm(X, X.shape.slice(axis), { weight: Scale, bias: B, eps }),
//     Mean / InvStdDev (reduced dims kept as 1) <-> saved.mean / saved.invStd;
//   InstanceNormalization(epsilon)    -> instanceNorm(x, { weight: scale, bias: B, eps });
//   GroupNormalization(num_groups, epsilon) -> groupNorm(x, num_groups, { weight, bias, eps }),
//     opset 18's per-group scale and bias expanded to per-channel (no such case in the data today);
//   BatchNormalization inference      -> batchNormEval(x, mean, var, { weight: scale, bias: B, eps });
//   BatchNormalization training_mode=1 -> batchNormTrain(x, { ..., runningMean, runningVar (copies),
//     momentum: 1 - momentum, runningVariance: "biased" }) (ONNX stores the biased batch variance).
// Per case and output, two bars:
//   1. ours vs ONNX's expected output <= ULPS[output] float32 ulps of that output's scale
//      (ulp of max |expected|), the ulps set at about 2x the largest measured over both builds;
//   2. ours vs the exact float64 result (computed here from the case's inputs) <=
//      max(ONNX's own error, max |float32(exact) - exact|): at least as accurate as ONNX's reference.
// The last tests replay cases with a wrong convention (torch's unbiased running variance, Keras's
// momentum sense, the default epsilon) and require bar 1 to reject them.
import { beforeAll, describe, expect, it } from "vitest";
import { Tensor, batchNormEval, batchNormTrain, groupNorm, init, instanceNorm, layerNorm } from "../../src/index.ts";
import fixtures from "../fixtures/onnx-cases.json";
import { decodeFloat32 } from "../fixtures/decode.ts";
import { measure, show } from "../support/accuracy-bar.ts";
import { testBuild } from "../support/build.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

interface Stored { name: string; shape: number[]; data: string }
interface DataSet { inputs: Stored[]; outputs: Stored[]; initializers: string[] }
interface Case {
  name: string; source: string; op: string; opset: number;
  attributes: Record<string, number | string | number[]>; sets: DataSet[]; aliases: string[];
}
const data = fixtures as unknown as { source: string; absent: Record<string, string>; skipped: string[]; cases: Case[] };
const cases = data.cases;

/** Outputs in ONNX's order for each op; BatchNormalization training adds the running statistics. */
type Output = "Y" | "Mean" | "InvStdDev" | "running_mean" | "running_var";

// Bar 1 in float32 ulps of the output's scale, about 2x the max measured (same in both builds):
// LayerNormalization Y 2.00, Mean 0.93, InvStdDev 1.21; InstanceNormalization Y 1.00;
// BatchNormalization Y 1.00 (inference and training), running_mean 1.00, running_var 1.00.
// Most of it is ONNX's own float32 error (its reference is numpy in float32).
const ULPS: Record<Output, number> = { Y: 4, Mean: 2, InvStdDev: 2.5, running_mean: 2, running_var: 2 };

/** Knobs the control tests turn to a wrong convention. */
interface Overrides { eps?: number; momentum?: (onnxMomentum: number) => number; runningVariance?: "biased" | "unbiased" }

interface Replayed {
  output: Output; ours: ArrayLike<number>; onnx: Float32Array; exact: Float64Array;
  /** Inference only: the library's stated per-element bound for its float32 form (replaces bar 2). */
  bound?: Float64Array;
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
const attribute = (c: Case, name: string, fallback: number): number => (c.attributes[name] as number | undefined) ?? fallback;

/** ulp of float32 values of magnitude up to `scale`. */
function ulpOf(scale: number): number {
  return scale > 0 ? 2 ** (Math.floor(Math.log2(scale)) - 23) : 2 ** -149;
}

/**
 * The exact float64 normalization: statistics (mean, biased variance) per
 * group `statOf(i)`, affine per coefficient `coefOf(i)`.
 */
function exactNorm(x: Float32Array, groups: number, statOf: (i: number) => number, coefOf: (i: number) => number, w: Float32Array, b: Float32Array, eps: number) {
  const count = new Float64Array(groups), mean = new Float64Array(groups), variance = new Float64Array(groups);
  for (let i = 0; i < x.length; i++) {
    count[statOf(i)]++;
    mean[statOf(i)] += x[i];
  }
  for (let g = 0; g < groups; g++) mean[g] /= count[g];
  for (let i = 0; i < x.length; i++) variance[statOf(i)] += (x[i] - mean[statOf(i)]) ** 2;
  for (let g = 0; g < groups; g++) variance[g] /= count[g];
  const invStd = variance.map((v) => 1 / Math.sqrt(v + eps));
  const y = Float64Array.from(x, (v, i) => (v - mean[statOf(i)]) * invStd[statOf(i)] * w[coefOf(i)] + b[coefOf(i)]);
  return { y, mean, variance, invStd, count };
}

/** Runs `fn` with the inputs as tensors, disposing every tensor it made. */
function withTensors<T>(arrays: Array<{ values: Float32Array; shape: number[] }>, fn: (tensors: Tensor[]) => T): T {
  const made = arrays.map((a) => Tensor.from(a.values, a.shape));
  try {
    return fn(made);
  } finally {
    for (const t of made) t.dispose();
  }
}

function replay(c: Case, set: DataSet, overrides: Overrides = {}): Replayed[] {
  const inputs = set.inputs.map((t) => ({ values: decodeFloat32(t.data), shape: t.shape }));
  const expected = set.outputs.map((t) => decodeFloat32(t.data));
  const [x, ...rest] = inputs;
  const shape = x.shape;
  const rank = shape.length;
  const eps = overrides.eps ?? attribute(c, "epsilon", 1e-5); // every op's default
  switch (c.op) {
    case "LayerNormalization": {
      const axis = attribute(c, "axis", -1);
      const a = axis < 0 ? axis + rank : axis;
      const normalizedShape = shape.slice(a);
      const D = product(normalizedShape), R = product(shape.slice(0, a));
      const [scale, bias] = rest;
      expect(scale.values.length, `${c.name}: Scale has prod(X.shape[axis:]) values`).toBe(D);
      expect(set.outputs[1].shape, `${c.name}: Mean keeps the reduced dims as 1`).toEqual([...shape.slice(0, a), ...normalizedShape.map(() => 1)]);
      const exact = exactNorm(x.values, R, (i) => Math.floor(i / D), (i) => i % D, scale.values, bias.values, eps);
      // Scale and B are given with X.shape[axis:] here; reshaped to normalizedShape in case a model stores them flat.
      return withTensors([x, { values: scale.values, shape: normalizedShape }, { values: bias.values, shape: normalizedShape }], ([xt, wt, bt]) => {
        const { y, saved } = layerNorm(xt, normalizedShape, { weight: wt, bias: bt, eps });
        try {
          return [
            { output: "Y", ours: y.toFloat32Array(), onnx: expected[0], exact: exact.y },
            { output: "Mean", ours: saved.mean!, onnx: expected[1], exact: exact.mean },
            { output: "InvStdDev", ours: saved.invStd, onnx: expected[2], exact: exact.invStd },
          ] satisfies Replayed[];
        } finally {
          y.dispose();
          saved.dispose();
        }
      });
    }
    case "InstanceNormalization":
    case "GroupNormalization": {
      const C = shape[1], S = product(shape.slice(2)), N = shape[0];
      const G = c.op === "InstanceNormalization" ? C : attribute(c, "num_groups", Number.NaN);
      let [scale, bias] = rest;
      if (c.op === "GroupNormalization" && scale.values.length === G && G !== C) {
        // Opset 18: scale and bias per group; each channel takes its group's value.
        const expand = (v: Float32Array) => ({ values: Float32Array.from({ length: C }, (_, ch) => v[Math.floor(ch / (C / G))]), shape: [C] });
        scale = expand(scale.values);
        bias = expand(bias.values);
      }
      expect(scale.values.length, `${c.name}: scale per channel`).toBe(C);
      const exact = exactNorm(x.values, N * G, (i) => Math.floor(i / ((S * C) / G)), (i) => Math.floor(i / S) % C, scale.values, bias.values, eps);
      return withTensors([x, scale, bias], ([xt, wt, bt]) => {
        const { y, saved } = c.op === "InstanceNormalization" ? instanceNorm(xt, { weight: wt, bias: bt, eps }) : groupNorm(xt, G, { weight: wt, bias: bt, eps });
        try {
          return [{ output: "Y", ours: y.toFloat32Array(), onnx: expected[0], exact: exact.y }] satisfies Replayed[];
        } finally {
          y.dispose();
          saved?.dispose();
        }
      });
    }
    case "BatchNormalization": {
      const C = shape[1], S = product(shape.slice(2));
      const [scale, bias, mean, variance] = rest;
      const training = attribute(c, "training_mode", 0) === 1;
      if (c.opset < 7) expect(attribute(c, "is_test", 0), `${c.name}: opset ${c.opset} inference`).toBe(1);
      expect(set.outputs.length, `${c.name}: outputs`).toBe(training ? 3 : 1);
      const channelOf = (i: number) => Math.floor(i / S) % C;
      if (!training) {
        const exactY = Float64Array.from(x.values, (v, i) => {
          const ch = channelOf(i);
          return ((v - mean.values[ch]) / Math.sqrt(variance.values[ch] + eps)) * scale.values[ch] + bias.values[ch];
        });
        // Inference keeps float32 coefficients, (x - mean) * scale + bias: three float32 roundings,
        // bounded by 2^-22 (|y| + 2 |bias|) (README, Accuracy; fuzz.test.ts's "eval y" bound).
        const bound = Float64Array.from(exactY, (v, i) => 2 ** -22 * (Math.abs(v) + 2 * Math.abs(bias.values[channelOf(i)])));
        return withTensors([x, scale, bias, mean, variance], ([xt, wt, bt, mt, vt]) => {
          const y = batchNormEval(xt, mt, vt, { weight: wt, bias: bt, eps });
          try {
            return [{ output: "Y", ours: y.toFloat32Array(), onnx: expected[0], exact: exactY, bound }] satisfies Replayed[];
          } finally {
            y.dispose();
          }
        });
      }
      const onnxMomentum = attribute(c, "momentum", 0.9);
      const exact = exactNorm(x.values, C, channelOf, channelOf, scale.values, bias.values, eps);
      // ONNX: running = running * momentum + batch * (1 - momentum), with the biased batch variance.
      const runningMean = Float64Array.from(mean.values, (m, ch) => m * onnxMomentum + exact.mean[ch] * (1 - onnxMomentum));
      const runningVar = Float64Array.from(variance.values, (v, ch) => v * onnxMomentum + exact.variance[ch] * (1 - onnxMomentum));
      return withTensors([x, scale, bias, mean, variance], ([xt, wt, bt, rm, rv]) => {
        const { y, saved } = batchNormTrain(xt, {
          weight: wt, bias: bt, eps, runningMean: rm, runningVar: rv,
          momentum: (overrides.momentum ?? ((m: number) => 1 - m))(onnxMomentum), runningVariance: overrides.runningVariance ?? "biased",
        });
        try {
          return [
            { output: "Y", ours: y.toFloat32Array(), onnx: expected[0], exact: exact.y },
            { output: "running_mean", ours: rm.toFloat32Array(), onnx: expected[1], exact: runningMean },
            { output: "running_var", ours: rv.toFloat32Array(), onnx: expected[2], exact: runningVar },
          ] satisfies Replayed[];
        } finally {
          y.dispose();
          saved.dispose();
        }
      });
    }
    default:
      throw new Error(`${c.name}: no replay for ${c.op}`);
  }
}

interface Row { op: string; output: Output; name: string; oursOnnx: number; ulps: number; onnxExact: number; oursExact: number; rounding: number; ratio: number }
const rows: Row[] = [];

/** Bar 1 for one output: ours vs ONNX in ulps of the output's scale. */
function ulpsFromOnnx(r: Replayed): { error: number; ulps: number; detail: string } {
  const m = measure(r.ours, Float64Array.from(r.onnx), `${r.output} vs ONNX`);
  const scale = r.onnx.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  return { error: m.error, ulps: m.error / ulpOf(scale), detail: m.detail };
}

describe("ONNX backend test data", () => {
  it("cover every BatchNormalization, LayerNormalization and InstanceNormalization node test; GroupNormalization absent is recorded", () => {
    const byOp = (op: string) => cases.filter((c) => c.op === op);
    expect(byOp("LayerNormalization").length).toBe(19);
    expect(byOp("LayerNormalization").every((c) => c.aliases.length === 1)).toBe(true);
    expect(byOp("InstanceNormalization").length).toBe(2);
    expect(byOp("BatchNormalization").filter((c) => c.attributes.training_mode === 1).length).toBe(2);
    expect(byOp("BatchNormalization").length).toBe(9);
    expect(byOp("GroupNormalization").length > 0 || data.absent.GroupNormalization !== undefined).toBe(true);
    expect(data.skipped).toEqual([]);
    expect(new Set(byOp("LayerNormalization").map((c) => c.attributes.axis ?? -1))).toEqual(new Set([0, 1, 2, 3, -1, -2, -3, -4]));
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    c.sets.forEach((set, index) => {
      for (const r of replay(c, set)) {
        const label = `${c.name} set ${index} ${r.output}`;
        const bar1 = ulpsFromOnnx(r);
        const ours = measure(r.ours, r.exact, `${label} vs exact`);
        const onnx = measure(r.onnx, r.exact, `${label} ONNX vs exact`);
        const rounding = measure(Float64Array.from(r.exact, Math.fround), r.exact, "rounding").error;
        const op = r.bound ? `${c.op} (inference)` : c.op;
        const bar2 = Math.max(onnx.error, rounding);
        const ratio = r.bound
          ? Math.max(...Array.from(r.exact, (e, i) => Math.abs(r.ours[i] - e) / r.bound![i]))
          : Number.isNaN(ours.error) ? Number.POSITIVE_INFINITY : ours.error === 0 ? 0 : ours.error / bar2;
        rows.push({ op, output: r.output, name: c.name, oursOnnx: bar1.error, ulps: bar1.ulps, onnxExact: onnx.error, oursExact: ours.error, rounding, ratio });
        expect(bar1.ulps, `${label}: ${show(bar1.error)} = ${bar1.ulps.toFixed(2)} ulps from ONNX (${bar1.detail})`).toBeLessThanOrEqual(ULPS[r.output]);
        const against = r.bound ? "the inference bound 2^-22 (|y| + 2|bias|)" : `max(ONNX ${show(onnx.error)}, rounding ${show(rounding)})`;
        expect(ratio, `${label}: ours vs exact ${show(ours.error)} is ${ratio.toFixed(2)} of ${against} (${ours.detail})`).toBeLessThanOrEqual(1);
      }
    });
  });

  it("reject the wrong conventions (the bars can fail)", () => {
    const worstUlps = (c: Case, overrides: Overrides, output: Output) =>
      Math.max(...replay(c, c.sets[0], overrides).filter((r) => r.output === output).map((r) => ulpsFromOnnx(r).ulps));
    const training = cases.filter((c) => c.attributes.training_mode === 1);
    for (const c of training) {
      // torch's rule (unbiased variance) and Keras's sense of momentum (the weight of the old value) both miss ONNX.
      expect(worstUlps(c, { runningVariance: "unbiased" }, "running_var"), `${c.name} unbiased`).toBeGreaterThan(ULPS.running_var * 100);
      expect(worstUlps(c, { momentum: (m) => m }, "running_mean"), `${c.name} momentum sense`).toBeGreaterThan(ULPS.running_mean * 100);
    }
    const withEpsilon = cases.filter((c) => (c.attributes.epsilon as number | undefined) !== undefined && c.op !== "BatchNormalization");
    expect(withEpsilon.length).toBeGreaterThan(5);
    const missed: string[] = [];
    for (const c of training) {
      const unbiased = worstUlps(c, { runningVariance: "unbiased" }, "running_var"), sense = worstUlps(c, { momentum: (m) => m }, "running_mean");
      missed.push(`${c.name}: unbiased running_var ${unbiased.toFixed(0)} ulps, momentum as the old value's weight: running_mean ${sense.toFixed(0)} ulps`);
    }
    for (const c of withEpsilon) {
      const ulps = worstUlps(c, { eps: 1e-5 }, "Y");
      expect(ulps, `${c.name} default eps`).toBeGreaterThan(ULPS.Y * 10);
      missed.push(`${c.name}: eps 1e-5 instead of ${c.attributes.epsilon}: Y ${ulps.toFixed(0)} ulps`);
    }
    console.log(`ONNX cases with a wrong convention (${testBuild()} build), distance from ONNX's outputs:\n${missed.join("\n")}`);
  });

  it("measured errors per op and output", () => {
    expect(rows.length).toBeGreaterThan(0);
    const keys = [...new Set(rows.map((r) => `${r.op} ${r.output}`))];
    const lines = [`ONNX backend cases (${testBuild()} build; ${data.source}): max over cases`];
    lines.push("op output | cases | ours vs ONNX (ulps of scale) | ONNX vs exact | ours vs exact | float32 rounding | ours / bar 2");
    for (const key of keys) {
      const group = rows.filter((r) => `${r.op} ${r.output}` === key);
      const max = (f: (r: Row) => number) => Math.max(...group.map(f));
      lines.push(`${key} | ${group.length} | ${show(max((r) => r.oursOnnx))} (${max((r) => r.ulps).toFixed(2)}) | ${show(max((r) => r.onnxExact))} | ${show(max((r) => r.oursExact))} | ${show(max((r) => r.rounding))} | ${max((r) => r.ratio).toFixed(2)}`);
    }
    console.log(lines.join("\n"));
  });
});
