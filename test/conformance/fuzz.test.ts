// A seeded fuzzer over the public API against a float64 reference, with guard
// bytes around every allocation checked after every call. Each case draws a
// shape (ranks 2 to 5, sizes around the vector widths), a layout, a data family
// (ordinary, offset, outliers, constant, tiny or huge spread, mixed scales,
// NaN), eps (including 0) and options, then runs a training forward and
// backward through the layer, an eval forward and backward, and the functional
// API with in-place outputs. Bounds (per element, in float32 ulps of the exact
// value) come from the kernels' design: training outputs are float64 values
// rounded once, so 1 ulp leaves room only for float64 error; eval uses float32
// coefficients and three float32 operations.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, Tensor, batchNormBackward, batchNormTrain, batchStatistics, checkGuardBytes, enableGuardBytes, init,
  liveTensorCount, type Layout,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { seededRandom } from "../support/random.ts";
import { ulp32 } from "../support/ulp.ts";
import { geometry, type Geometry } from "../support/reference.ts";

const CASES = 500;
const EPSILON32 = 2 ** -23;

beforeAll(async () => {
  await init({ build: testBuild() });
  enableGuardBytes(true);
});

afterAll(() => {
  enableGuardBytes(false);
});

type Family = "ordinary" | "offset" | "outlier" | "constant" | "tiny" | "huge" | "mixed" | "nan";
const FAMILIES: Family[] = ["ordinary", "ordinary", "offset", "outlier", "constant", "tiny", "huge", "mixed", "nan"];
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17];

interface Draw {
  shape: number[]; layout: Layout; family: Family; eps: number; affine: boolean; momentum: number | null;
  x: Float32Array; dy: Float32Array; weight: Float32Array; bias: Float32Array;
}

function drawCase(random: () => number): Draw {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const rank = 2 + Math.floor(random() * 4);
  const layout: Layout = random() < 0.5 ? "channels-first" : "channels-last";
  let logical: number[];
  for (;;) {
    logical = [pick(SIZES), pick([1, 2, 3, 5, 8, 13])];
    for (let d = 2; d < rank; d++) logical.push(pick(SIZES));
    const size = logical.reduce((a, b) => a * b, 1);
    if (size / logical[1] >= 2 && size <= 6000) break; // batch statistics need 2 values per channel
  }
  const shape = layout === "channels-first" ? logical : [logical[0], ...logical.slice(2), logical[1]];
  const family = pick(FAMILIES);
  const size = shape.reduce((a, b) => a * b, 1);
  const g = geometry(shape, layout);
  const x = new Float32Array(size), dy = new Float32Array(size);
  const gauss = () => {
    const u = 1 - random(), v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  for (let c = 0; c < g.C; c++) {
    const scale = family === "mixed" ? 10 ** (8 * random() - 4) : family === "tiny" ? 1e-20 : family === "huge" ? 1e37 : 1;
    const offset = family === "offset" ? (random() < 0.5 ? 1e4 : -3e5) : family === "huge" ? 2e38 * (random() - 0.5) : random() - 0.5;
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) {
      const i = g.index(n, c, s);
      x[i] = family === "constant" ? offset : offset + scale * gauss();
      dy[i] = gauss();
    }
    if (family === "outlier") x[g.index(0, c, 0)] = offset + 1e3 * (random() < 0.5 ? 1 : -1);
    if (family === "nan" && c % 2 === 0) x[g.index(g.N - 1, c, g.S - 1)] = Number.NaN;
  }
  const weight = new Float32Array(g.C), bias = new Float32Array(g.C);
  for (let c = 0; c < g.C; c++) {
    weight[c] = 0.5 + random();
    bias[c] = gauss();
  }
  return {
    shape, layout, family, x, dy, weight, bias,
    eps: pick([1e-5, 1e-5, 0, 1e-3]),
    affine: random() < 0.8,
    momentum: pick([0.1, 0.1, 0.5, null]),
  };
}

interface Exact {
  mean: Float64Array; variance: Float64Array; inv: Float64Array;
  y: Float64Array; dx: Float64Array; dweight: Float64Array; dbias: Float64Array;
  sumAbsDy: Float64Array; sumAbsDyXhat: Float64Array;
}

/** Float64 two-pass reference with PyTorch's invstd = 0 where variance + eps = 0. */
function exact(d: Draw, g: Geometry): Exact {
  const m = g.N * g.S;
  const out: Exact = {
    mean: new Float64Array(g.C), variance: new Float64Array(g.C), inv: new Float64Array(g.C),
    y: new Float64Array(d.x.length), dx: new Float64Array(d.x.length), dweight: new Float64Array(g.C), dbias: new Float64Array(g.C),
    sumAbsDy: new Float64Array(g.C), sumAbsDyXhat: new Float64Array(g.C),
  };
  for (let c = 0; c < g.C; c++) {
    let sum = 0;
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) sum += d.x[g.index(n, c, s)];
    const mean = sum / m;
    let m2 = 0;
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) m2 += (d.x[g.index(n, c, s)] - mean) ** 2;
    const variance = m2 / m;
    const inv = variance + d.eps === 0 ? 0 : 1 / Math.sqrt(variance + d.eps);
    const w = d.affine ? d.weight[c] : 1, b = d.affine ? d.bias[c] : 0;
    let dbias = 0, dweight = 0, absDy = 0, absDyXhat = 0;
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) {
      const i = g.index(n, c, s);
      const xhat = (d.x[i] - mean) * inv;
      out.y[i] = xhat * w + b;
      dbias += d.dy[i];
      dweight += d.dy[i] * xhat;
      absDy += Math.abs(d.dy[i]);
      absDyXhat += Math.abs(d.dy[i] * xhat);
    }
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) {
      const i = g.index(n, c, s);
      out.dx[i] = ((w * inv) / m) * (m * d.dy[i] - dbias - (d.x[i] - mean) * inv * dweight);
    }
    out.mean[c] = mean; out.variance[c] = variance; out.inv[c] = inv;
    out.dweight[c] = dweight; out.dbias[c] = dbias; out.sumAbsDy[c] = absDy; out.sumAbsDyXhat[c] = absDyXhat;
  }
  return out;
}

const CANONICAL_NAN_BITS = 0x7fc00000;

/** Worst element of `ours` against `reference` in units of `bound(i)`; NaN where the reference is finite fails. */
class Tally {
  readonly worst = new Map<string, number>();
  readonly failures: string[] = [];

  /** `bits`: the float32 output's bits, for the NaN check; float64 outputs (statistics) pass none and are not rounded to float32. */
  check(label: string, ours: ArrayLike<number>, reference: ArrayLike<number>, bound: (i: number) => number, bits?: Uint32Array, float64 = false): void {
    let worst = 0;
    for (let i = 0; i < reference.length; i++) {
      const r = reference[i], o = ours[i];
      if (Number.isNaN(r)) {
        if (!Number.isNaN(o)) this.failures.push(`${label}[${i}]: ${o}, expected NaN`);
        else if (bits && bits[i] !== CANONICAL_NAN_BITS) this.failures.push(`${label}[${i}]: NaN bits 0x${bits[i].toString(16)}, not canonical`);
        continue;
      }
      if (!Number.isFinite(float64 ? r : Math.fround(r))) {
        // Beyond float32: the correctly rounded output is the infinity of r's sign.
        if (o !== Math.fround(r)) this.failures.push(`${label}[${i}]: ${o}, expected ${Math.fround(r)} (exact ${r})`);
        continue;
      }
      const ratio = Math.abs(o - r) / bound(i);
      if (!(ratio <= 1)) this.failures.push(`${label}[${i}]: ${o} vs exact ${r} (${ratio.toFixed(2)}x the bound)`);
      if (ratio > worst || Number.isNaN(ratio)) worst = Number.isNaN(ratio) ? Infinity : ratio;
    }
    const key = label.split(" ")[0];
    this.worst.set(key, Math.max(this.worst.get(key) ?? 0, worst));
  }
}

function channelOf(g: Geometry): Int32Array {
  const out = new Int32Array(g.N * g.C * g.S);
  for (let n = 0; n < g.N; n++) for (let c = 0; c < g.C; c++) for (let s = 0; s < g.S; s++) out[g.index(n, c, s)] = c;
  return out;
}

const tally = new Tally();
let guardChecks = 0;

function expectGuardsIntact(where: string): void {
  guardChecks++;
  const damaged = checkGuardBytes();
  if (damaged.length > 0) tally.failures.push(`${where}: ${damaged.join("; ")}`);
}

function runCase(index: number): void {
  const random = seededRandom(0x5eed0000 + index);
  const d = drawCase(random);
  const g = geometry(d.shape, d.layout);
  const e = exact(d, g);
  const channel = channelOf(g);
  const m = g.N * g.S;
  const name = `case ${index} (${d.family}, ${d.layout} [${d.shape.join("x")}], eps ${d.eps}, affine ${d.affine})`;
  const liveBefore = liveTensorCount();

  // Training forward and backward through the layer.
  const bn = new BatchNorm(g.C, { layout: d.layout, eps: d.eps, affine: d.affine, momentum: d.momentum });
  if (d.affine) {
    bn.weight!.set(d.weight);
    bn.bias!.set(d.bias);
  }
  const x = Tensor.from(d.x, d.shape), dy = Tensor.from(d.dy, d.shape);
  const y = bn.forward(x);
  expectGuardsIntact(`${name} forward`);
  const yOut = y.toFloat32Array();
  const yBits = new Uint32Array(yOut.buffer);
  const w = (c: number) => (d.affine ? d.weight[c] : 1);
  tally.check(`y ${name}`, yOut, e.y, (i) => ulp32(e.y[i]) + 1e-12 * (Math.abs(w(channel[i])) + Math.abs(e.y[i])), yBits);
  const stats = bn.lastBatchStatistics!;
  tally.check(`mean ${name}`, stats.mean, e.mean, (c) => 1e-12 * (Math.abs(e.mean[c]) + Math.sqrt(e.variance[c])) + 1e-300, undefined, true);
  tally.check(`variance ${name}`, stats.variance, e.variance, (c) => 1e-9 * e.variance[c] + 1e-12 * e.mean[c] ** 2 + 1e-300, undefined, true);
  const runningMean = bn.runningMean!.toFloat32Array(), runningVar = bn.runningVar!.toFloat32Array();
  const factor = d.momentum ?? 1;
  const expectedRunningMean = e.mean.map((mu) => factor * mu);
  const expectedRunningVar = e.variance.map((v) => (1 - factor) + factor * v * (m / (m - 1)));
  tally.check(`runningMean ${name}`, runningMean, expectedRunningMean, (c) => ulp32(expectedRunningMean[c]) + 1e-12 * Math.abs(e.mean[c]));
  tally.check(`runningVar ${name}`, runningVar, expectedRunningVar, (c) => ulp32(expectedRunningVar[c]) + 1e-9 * expectedRunningVar[c]);

  const dx = bn.backward(dy);
  expectGuardsIntact(`${name} backward`);
  const dxOut = dx.toFloat32Array();
  const scaleOfDx = (i: number) => Math.abs(w(channel[i]) * e.inv[channel[i]]) * (Math.abs(d.dy[i]) + e.sumAbsDy[channel[i]] / m + e.sumAbsDyXhat[channel[i]] / m * 8);
  tally.check(`dx ${name}`, dxOut, e.dx, (i) => ulp32(e.dx[i]) + 1e-11 * scaleOfDx(i), new Uint32Array(dxOut.buffer));
  if (d.affine) {
    tally.check(`dweight ${name}`, bn.weightGrad!.toFloat32Array(), e.dweight, (c) => ulp32(e.dweight[c]) + 1e-11 * e.sumAbsDyXhat[c]);
    tally.check(`dbias ${name}`, bn.biasGrad!.toFloat32Array(), e.dbias, (c) => ulp32(e.dbias[c]) + 1e-11 * e.sumAbsDy[c]);
  }

  // Eval forward and backward with the running statistics (float32 coefficients).
  bn.eval();
  const yEval = bn.forward(x, y); // into y: no allocation, y's old values are no longer needed
  expectGuardsIntact(`${name} eval forward`);
  const evalInv = Float64Array.from(runningVar, (v) => 1 / Math.sqrt(v + d.eps));
  const yEvalExact = new Float64Array(d.x.length), dxEvalExact = new Float64Array(d.x.length);
  for (let i = 0; i < d.x.length; i++) {
    const c = channel[i];
    yEvalExact[i] = (d.x[i] - runningMean[c]) * evalInv[c] * w(c) + (d.affine ? d.bias[c] : 0);
    dxEvalExact[i] = d.dy[i] * w(c) * evalInv[c];
  }
  // Three float32 operations on float32 coefficients: a few ulps of the terms.
  tally.check(`yEval ${name}`, yEval.toFloat32Array(), yEvalExact,
    (i) => 4 * EPSILON32 * (Math.abs((d.x[i] - runningMean[channel[i]]) * evalInv[channel[i]] * w(channel[i])) + Math.abs(d.affine ? d.bias[channel[i]] : 0)) + ulp32(yEvalExact[i]));
  const dxEval = bn.backward(dy, dx);
  expectGuardsIntact(`${name} eval backward`);
  tally.check(`dxEval ${name}`, dxEval.toFloat32Array(), dxEvalExact, (i) => 2 * EPSILON32 * Math.abs(dxEvalExact[i]) + 2 ** -149);

  // Functional API: forward in place into a copy of x, backward into dy itself.
  const xCopy = Tensor.from(d.x, d.shape);
  const weight = d.affine ? Tensor.from(d.weight) : null, bias = d.affine ? Tensor.from(d.bias) : null;
  const trained = batchNormTrain(xCopy, { weight, bias, eps: d.eps, layout: d.layout, out: xCopy });
  expectGuardsIntact(`${name} batchNormTrain`);
  tally.check(`y ${name} (functional, in place)`, trained.y.toFloat32Array(), e.y, (i) => ulp32(e.y[i]) + 1e-12 * (Math.abs(w(channel[i])) + Math.abs(e.y[i])));
  trained.saved.dispose();
  const { y: yFunctional, saved } = batchNormTrain(x, { weight, bias, eps: d.eps, layout: d.layout });
  const dyCopy = Tensor.from(d.dy, d.shape);
  const grads = batchNormBackward(dyCopy, saved, { out: dyCopy });
  expectGuardsIntact(`${name} batchNormBackward`);
  tally.check(`dx ${name} (functional, in place)`, grads.dx.toFloat32Array(), e.dx, (i) => ulp32(e.dx[i]) + 1e-11 * scaleOfDx(i));
  const statistics = batchStatistics(x, { layout: d.layout });
  expectGuardsIntact(`${name} batchStatistics`);
  tally.check(`mean ${name} (batchStatistics)`, statistics.mean, e.mean, (c) => 1e-12 * (Math.abs(e.mean[c]) + Math.sqrt(e.variance[c])) + 1e-300, undefined, true);

  for (const t of [x, dy, y, dx, yFunctional, xCopy, dyCopy, weight, bias, grads.weightGrad, grads.biasGrad]) t?.dispose();
  saved.dispose();
  bn.dispose();
  expectGuardsIntact(`${name} after dispose`);
  if (liveTensorCount() !== liveBefore) tally.failures.push(`${name}: ${liveTensorCount() - liveBefore} tensors leaked`);
}

describe(`seeded fuzzer (${CASES} cases) against float64, guard bytes checked after every call`, () => {
  it("every output within its bound, no NaN where float64 is finite, canonical NaN, no guard byte touched, nothing leaked", () => {
    for (let i = 0; i < CASES; i++) runCase(i);
    const summary = [...tally.worst].map(([output, ratio]) => `${output} ${ratio.toFixed(3)}`).join(", ");
    console.log(`fuzz (${testBuild()} build): ${CASES} cases, ${guardChecks} guard checks; worst error / bound per output: ${summary}`);
    expect(tally.failures.slice(0, 20).join("\n"), `${tally.failures.length} failures`).toBe("");
    expect(guardChecks).toBe(CASES * 8);
  });
});
