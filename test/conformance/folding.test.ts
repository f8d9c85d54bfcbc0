// Folding BatchNorm into the layer next to it (src/fold.ts) against
// torch.nn.utils.fusion on the digits CNN of generate-checkpoints.py and on
// extra layers (ConvTranspose, grouped ConvTranspose torch 1.13 cannot fuse,
// Conv1d, Conv3d), in both weight layouts; un-fused correctness: a float64
// reference convolution followed by the library's BatchNorm against the
// folded convolution; the whole folded model against torch's fused model.
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, Tensor, checkFolding, fuseBnLinearWeights, fuseConvBnWeights, fuseLinearBnWeights, init, loadBatchNorms, readSafetensors,
  type BatchNormFoldState,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";
import { seededRandom } from "../support/random.ts";
import { checkpointBytes, checkpointCases, decodeFloat32, decodeFloat64, halfUlp32 } from "../support/checkpoint.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

/** Largest |a - b| and largest |a - b| in float32 ulps of b. */
function compare(actual: ArrayLike<number>, expected: ArrayLike<number>): { abs: number; ulps: number } {
  expect(actual.length).toBe(expected.length);
  let abs = 0, ulps = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    abs = Math.max(abs, d);
    ulps = Math.max(ulps, d / (2 * halfUlp32(expected[i])));
  }
  return { abs, ulps };
}

/** Direct convolution in float64: x [N, C, ...spatial] (1 to 3 spatial axes), w [O, C/groups, ...k]. */
function conv(x: ArrayLike<number>, xShape: number[], w: ArrayLike<number>, wShape: number[], bias: ArrayLike<number> | null, { stride = 1, padding = 0, groups = 1 } = {}): { data: Float64Array; shape: number[] } {
  const [N, C, ...inSize] = xShape, [O, Cg, ...k] = wShape;
  const outSize = inSize.map((n, d) => Math.floor((n + 2 * padding - k[d]) / stride) + 1);
  const rank = inSize.length, Og = O / groups;
  const pad = (a: number[]) => [...a, ...new Array(3 - rank).fill(1)];
  const [I0, I1, I2] = pad(inSize), [K0, K1, K2] = pad(k), [Q0, Q1, Q2] = pad(outSize);
  const out = new Float64Array(N * O * Q0 * Q1 * Q2);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
    const g = Math.floor(o / Og);
    for (let q0 = 0; q0 < Q0; q0++) for (let q1 = 0; q1 < Q1; q1++) for (let q2 = 0; q2 < Q2; q2++) {
      let sum = bias ? bias[o] : 0;
      for (let c = 0; c < Cg; c++) for (let a = 0; a < K0; a++) for (let b = 0; b < K1; b++) for (let e = 0; e < K2; e++) {
        const p0 = rank >= 1 ? q0 * stride - padding + a : 0, p1 = rank >= 2 ? q1 * stride - padding + b : 0, p2 = rank >= 3 ? q2 * stride - padding + e : 0;
        if (p0 < 0 || p0 >= I0 || p1 < 0 || p1 >= I1 || p2 < 0 || p2 >= I2) continue;
        sum += x[(((n * C + g * Cg + c) * I0 + p0) * I1 + p1) * I2 + p2] * w[(((o * Cg + c) * K0 + a) * K1 + b) * K2 + e];
      }
      out[(((n * O + o) * Q0 + q0) * Q1 + q1) * Q2 + q2] = sum;
    }
  }
  return { data: out, shape: [N, O, ...outSize] };
}

/** Moves the axes of a row-major array: result axis j is input axis order[j]. */
function permute(data: ArrayLike<number>, shape: number[], order: number[]): Float32Array {
  const outShape = order.map((a) => shape[a]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((p, q) => p * q, 1));
  const out = new Float32Array(data.length);
  const index = new Array(shape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    let rest = i, source = 0;
    for (let j = outShape.length - 1; j >= 0; j--) {
      index[j] = rest % outShape[j];
      rest = Math.floor(rest / outShape[j]);
    }
    for (let j = 0; j < order.length; j++) source += index[j] * strides[order[j]];
    out[i] = data[source];
  }
  return out;
}

const file = () => readSafetensors(checkpointBytes());

describe("folding the digits CNN's BatchNorms, against torch.nn.utils.fusion", () => {
  it.each(checkpointCases.fused.map((f) => [`${f.layer} + ${f.bn}`, f] as const))("%s", (_name, pair) => {
    const { state } = file();
    const layers = loadBatchNorms(state);
    const bn = layers.get(pair.bn)!;
    const weight = state[`${pair.layer}weight`] as Float32Array;
    const bias = pair.hasBias ? (state[`${pair.layer}bias`] as Float32Array) : null;
    const folded = pair.kind === "conv"
      ? fuseConvBnWeights(weight, bias, bn, { shape: pair.shape, groups: pair.groups })
      : fuseLinearBnWeights(weight, bias, bn);
    // Correctly rounded float64 results (within half an ulp, allowing the rare double rounding); torch's float32 within 2 ulps.
    const exactW = compare(folded.weight, decodeFloat64(pair.exactWeight)), exactB = compare(folded.bias, decodeFloat64(pair.exactBias));
    expect(exactW.ulps, "weight vs float64").toBeLessThanOrEqual(0.5 + 1e-6);
    expect(exactB.ulps, "bias vs float64").toBeLessThanOrEqual(0.5 + 1e-6);
    const torchW = compare(folded.weight, decodeFloat32(pair.torchWeight)), torchB = compare(folded.bias, decodeFloat32(pair.torchBias));
    // Measured: ours within 0.50 ulp of float64 (weights and biases of all four pairs); torch's float32 weights within
    // 2 ulps of ours, its biases 1 to 3 ulps (up to 2.4e-7), as far as torch's own bias error (up to 2.1e-7 vs float64).
    const torchOwn = compare(decodeFloat32(pair.torchBias), decodeFloat64(pair.exactBias));
    expect(torchW.ulps, `weight vs torch (${torchW.abs})`).toBeLessThanOrEqual(2);
    expect(torchB.abs, `bias vs torch (${torchB.abs}; torch vs float64 ${torchOwn.abs})`).toBeLessThanOrEqual(torchOwn.abs + 2 * halfUlp32(Math.max(...decodeFloat64(pair.exactBias).map(Math.abs))));
    // The same from a plain state object.
    const plain: BatchNormFoldState = { ...(bn.stateDict() as BatchNormFoldState), eps: bn.eps };
    const again = pair.kind === "conv" ? fuseConvBnWeights(weight, bias, plain, { shape: pair.shape, groups: pair.groups }) : fuseLinearBnWeights(weight, bias, plain, { shape: pair.shape });
    expect([...again.weight]).toEqual([...folded.weight]);
    expect([...again.bias]).toEqual([...folded.bias]);
    for (const layer of layers.values()) layer.dispose();
  });

  it("the folded model (a float64 JS forward) gives torch's fused logits and the unfused model's predictions", () => {
    const { state } = file();
    const layers = loadBatchNorms(state);
    const fold = (layer: string, bn: string, groups: number) => fuseConvBnWeights(state[`${layer}weight`] as Float32Array, (state[`${layer}bias`] as Float32Array) ?? null, layers.get(bn)!, { shape: checkpointCases.shapes[`${layer}weight`], groups });
    const c0 = fold("features.0.", "features.1.", 1), c3 = fold("features.3.", "features.4.", 8), c6 = fold("features.6.", "features.7.", 2);
    const l1 = fuseLinearBnWeights(state["classifier.1.weight"] as Float32Array, state["classifier.1.bias"] as Float32Array, layers.get("classifier.2.")!);
    const relu = (a: Float64Array) => a.map((v) => Math.max(v, 0));
    const sample = checkpointCases.sample;
    let h = conv(decodeFloat32(sample.x), sample.shape, c0.weight, [8, 1, 3, 3], c0.bias, { padding: 1 });
    h = conv(relu(h.data), h.shape, c3.weight, [8, 1, 3, 3], c3.bias, { padding: 1, groups: 8 });
    h = conv(relu(h.data), h.shape, c6.weight, [12, 4, 3, 3], c6.bias, { padding: 1, stride: 2, groups: 2 });
    const flat = relu(h.data), N = sample.shape[0];
    const linear = (x: Float64Array, w: ArrayLike<number>, b: ArrayLike<number>, I: number, O: number) => {
      const y = new Float64Array(N * O);
      for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
        let s = b[o];
        for (let i = 0; i < I; i++) s += x[n * I + i] * w[o * I + i];
        y[n * O + o] = s;
      }
      return y;
    };
    const hidden = relu(linear(flat, l1.weight, l1.bias, 192, 32));
    const logits = linear(hidden, state["classifier.4.weight"] as Float32Array, state["classifier.4.bias"] as Float32Array, 32, 10);
    const g = state["norm.weight"] as Float32Array, b = state["norm.bias"] as Float32Array;
    for (let n = 0; n < N; n++) {
      const row = logits.subarray(n * 10, n * 10 + 10);
      const mean = row.reduce((s, v) => s + v, 0) / 10, variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / 10;
      row.forEach((v, i) => (row[i] = ((v - mean) / Math.sqrt(variance + 1e-5)) * g[i] + b[i]));
    }
    const torchFused = decodeFloat32(sample.fusedLogits), torchUnfused = decodeFloat32(sample.logits);
    // Measured: 1.2e-6 against torch's fused model, 1.4e-6 against torch's unfused model (torch's fused vs unfused: 1.9e-6).
    expect(compare(logits, torchFused).abs).toBeLessThan(1e-5);
    expect(compare(logits, torchUnfused).abs).toBeLessThan(1e-5);
    const argmax = (a: ArrayLike<number>, n: number) => { let best = 0; for (let i = 1; i < 10; i++) if (a[n * 10 + i] > a[n * 10 + best]) best = i; return best; };
    const ours = Array.from({ length: N }, (_, n) => argmax(logits, n)), theirs = Array.from({ length: N }, (_, n) => argmax(torchUnfused, n));
    expect(ours).toEqual(theirs);
    expect(ours.filter((p, n) => p === sample.labels[n]).length).toBeGreaterThanOrEqual(14);
    for (const layer of layers.values()) layer.dispose();
  });

  it("un-fused correctness: float64 conv then the library's BatchNorm equals the folded conv (checkFolding)", () => {
    const { state } = file();
    const layers = loadBatchNorms(state);
    const bn = layers.get("features.1.")!;
    const sample = checkpointCases.sample;
    const x = decodeFloat32(sample.x);
    const weight = state["features.0.weight"] as Float32Array, bias = state["features.0.bias"] as Float32Array;
    const folded = fuseConvBnWeights(weight, bias, bn, { shape: [8, 1, 3, 3] });
    const run = (w: Float32Array, b: Float32Array | null) => conv(x, sample.shape, w, [8, 1, 3, 3], b, { padding: 1 }).data;
    // The float64 conv matches torch's float32 conv output (the captured input of features.1).
    const captured = checkpointCases.activations.find((a) => a.prefix === "features.1.")!;
    expect(compare(run(weight, bias), decodeFloat32(captured.x)).abs).toBeLessThan(1e-6);
    const check = checkFolding(run, { weight, bias, folded, bn, outputShape: [16, 8, 8, 8] });
    expect(check.maxAbsDifference).toBeLessThan(2e-6);
    // And the layer itself (float32, eval) after the float64 conv, rounded to float32 as a conv layer would give it.
    const pre = Tensor.from(Float32Array.from(run(weight, bias)), [16, 8, 8, 8]);
    const y = bn.forward(pre).toFloat32Array();
    expect(compare(y, run(folded.weight, folded.bias)).abs).toBeLessThan(3e-6);
    pre.dispose();
    for (const layer of layers.values()) layer.dispose();
  });
});

describe("folding beyond torch's helper: ConvTranspose (grouped too), Conv1d, Conv3d, both layouts", () => {
  it.each(checkpointCases.foldCases.map((c) => [c.name, c] as const))("%s", (_name, fixture) => {
    const bnState: BatchNormFoldState = {
      running_mean: decodeFloat32(fixture.bn.running_mean), running_var: decodeFloat32(fixture.bn.running_var),
      weight: decodeFloat32(fixture.bn.weight), bias: decodeFloat32(fixture.bn.bias), eps: fixture.bn.eps,
    };
    const weight = decodeFloat32(fixture.weight), bias = fixture.bias ? decodeFloat32(fixture.bias) : null;
    const options = { shape: fixture.shape, groups: fixture.groups, transposed: fixture.transposed };
    const folded = fuseConvBnWeights(weight, bias, bnState, options);
    expect(compare(folded.weight, decodeFloat64(fixture.exactWeight)).ulps).toBeLessThanOrEqual(0.5 + 1e-6);
    expect(compare(folded.bias, decodeFloat64(fixture.exactBias)).ulps).toBeLessThanOrEqual(0.5 + 1e-6);
    if (fixture.torchWeight) {
      expect(compare(folded.weight, decodeFloat32(fixture.torchWeight)).ulps).toBeLessThanOrEqual(2);
      expect(compare(folded.bias, decodeFloat32(fixture.torchBias!)).ulps).toBeLessThanOrEqual(2);
    }
    // HWIO: TensorFlow's [k..., in/groups, out] (transposed: [k..., out/groups, in]) holds the same values moved; folding commutes with the move.
    const rank = fixture.shape.length;
    const toHWIO = [...Array.from({ length: rank - 2 }, (_, i) => i + 2), ...(fixture.transposed ? [1, 0] : [1, 0])];
    const hwio = permute(weight, fixture.shape, toHWIO);
    const hwioShape = toHWIO.map((a) => fixture.shape[a]);
    const foldedHWIO = fuseConvBnWeights(hwio, bias, bnState, { ...options, shape: hwioShape, layout: "HWIO" });
    expect([...foldedHWIO.weight]).toEqual([...permute(folded.weight, fixture.shape, toHWIO)]);
    expect([...foldedHWIO.bias]).toEqual([...folded.bias]);
  });
});

describe("linear layers: Keras [in, out] kernels and BN before the linear layer", () => {
  const random = seededRandom(5);
  const values = (n: number, scale = 1, offset = 0) => Float32Array.from({ length: n }, () => offset + (random() * 2 - 1) * scale);
  const bnState = (C: number): BatchNormFoldState => ({ running_mean: values(C, 3), running_var: values(C, 1, 2), weight: values(C), bias: values(C), eps: 1e-3 });

  it("an IO kernel folds to the transposed OI result", () => {
    const W = values(4 * 6), b = values(4), bn = bnState(4);
    const oi = fuseLinearBnWeights(W, b, bn, { shape: [4, 6] });
    const io = fuseLinearBnWeights(permute(W, [4, 6], [1, 0]), b, bn, { shape: [6, 4], layout: "IO" });
    expect([...io.weight]).toEqual([...permute(oi.weight, [4, 6], [1, 0])]);
    expect([...io.bias]).toEqual([...oi.bias]);
  });

  it("BN before a linear layer: the folded layer matches BN then linear in float64 on data", () => {
    const I = 7, O = 3, N = 20;
    const W = values(O * I), b = values(O), bn = bnState(I);
    const folded = fuseBnLinearWeights(bn, W, b);
    const x = values(N * I, 4, 1);
    let worst = 0, scale = 0;
    for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
      let plain = b[o], fused = folded.bias[o];
      for (let i = 0; i < I; i++) {
        const s = bn.weight![i] / Math.sqrt(bn.running_var[i] + 1e-3);
        plain += W[o * I + i] * ((x[n * I + i] - bn.running_mean[i]) * s + bn.bias![i]);
        fused += folded.weight[o * I + i] * x[n * I + i];
        scale = Math.max(scale, Math.abs(W[o * I + i] * x[n * I + i] * s));
      }
      worst = Math.max(worst, Math.abs(plain - fused));
    }
    expect(worst).toBeLessThan(scale * I * 2 ** -23);
  });
});

describe("folding refuses", () => {
  const W = new Float32Array(2 * 3 * 1 * 1), bn = { running_mean: [0, 0], running_var: [1, 1] };
  it.each([
    ["a missing shape", () => fuseConvBnWeights(W, null, bn, {} as never), "ERR_SHAPE", "options.shape"],
    ["a shape of the wrong size", () => fuseConvBnWeights(W, null, bn, { shape: [2, 3, 2, 1] }), "ERR_LENGTH", "options.shape"],
    ["a linear shape for a conv", () => fuseConvBnWeights(W, null, bn, { shape: [2, 3] }), "ERR_SHAPE", "options.shape"],
    ["groups that do not divide", () => fuseConvBnWeights(W, null, bn, { shape: [2, 3, 1, 1], groups: 4 }), "ERR_ARGUMENT", "options.groups"],
    ["an unknown layout", () => fuseConvBnWeights(W, null, bn, { shape: [2, 3, 1, 1], layout: "NHWC" as never }), "ERR_LAYOUT", "options.layout"],
    ["an unknown option", () => fuseConvBnWeights(W, null, bn, { shape: [2, 3, 1, 1], group: 1 } as never), "ERR_ARGUMENT", "options.group"],
    ["a channel mismatch", () => fuseConvBnWeights(W, null, { running_mean: [0, 0, 0], running_var: [1, 1, 1] }, { shape: [2, 3, 1, 1] }), "ERR_CHANNELS", "bn"],
    ["a bias of the wrong length", () => fuseConvBnWeights(W, [1, 2, 3], bn, { shape: [2, 3, 1, 1] }), "ERR_CHANNELS", "convBias"],
    ["statistics of different lengths", () => fuseConvBnWeights(W, null, { running_mean: [0, 0], running_var: [1] }, { shape: [2, 3, 1, 1] }), "ERR_CHANNELS", "bn.running_var"],
    ["a state without running_var", () => fuseConvBnWeights(W, null, { running_mean: [0, 0] } as never, { shape: [2, 3, 1, 1] }), "ERR_STATE_DICT", "bn.running_var"],
    ["a negative eps", () => fuseConvBnWeights(W, null, { ...bn, eps: -1 }, { shape: [2, 3, 1, 1] }), "ERR_EPS", "bn.eps"],
    ["an unknown state key", () => fuseConvBnWeights(W, null, { ...bn, runningMean: [0] } as never, { shape: [2, 3, 1, 1] }), "ERR_ARGUMENT", "bn.runningMean"],
    ["a string weight", () => fuseConvBnWeights("1" as never, null, bn, { shape: [1] }), "ERR_ARGUMENT", "convWeight"],
    ["a linear weight that is not a multiple of the channels", () => fuseLinearBnWeights(new Float32Array(5), null, bn), "ERR_LENGTH", "weight"],
    ["BN before a linear layer with other inputs", () => fuseBnLinearWeights(bn, new Float32Array(6), null, { shape: [2, 3] }), "ERR_CHANNELS", "bn"],
  ] as const)("%s", (_name, call, code, argument) => {
    expect(caughtError(call)).toMatchObject({ code, argument });
  });

  it("a BatchNorm without running statistics, and a disposed one", () => {
    const noStats = new BatchNorm(2, { trackRunningStats: false });
    expect(caughtError(() => fuseConvBnWeights(W, null, noStats, { shape: [2, 3, 1, 1] }))).toMatchObject({ code: "ERR_ARGUMENT", argument: "bn" });
    const gone = new BatchNorm(2);
    gone.dispose();
    expect(caughtError(() => fuseConvBnWeights(W, null, gone, { shape: [2, 3, 1, 1] }))).toMatchObject({ code: "ERR_DISPOSED" });
    noStats.dispose();
  });
});
