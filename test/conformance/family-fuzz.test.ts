// A seeded fuzzer for LayerNorm, RMSNorm, GroupNorm and InstanceNorm against a
// generic float64 reference (every norm is "statistics per group, affine per
// coefficient"), with guard bytes around every allocation checked after every
// call. Training outputs are float64 values rounded once, so the bound per
// element is one float32 ulp of the exact value plus float64-level error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GroupNorm, InstanceNorm, LayerNorm, RMSNorm, Tensor, checkGuardBytes, enableGuardBytes, init, liveTensorCount, type Layout,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { seededRandom } from "../support/random.ts";
import { ulp32 } from "../support/ulp.ts";

const CASES = 300;

beforeAll(async () => {
  await init({ build: testBuild() });
  enableGuardBytes(true);
});

afterAll(() => {
  enableGuardBytes(false);
});

type Norm = "LayerNorm" | "RMSNorm" | "GroupNorm" | "InstanceNorm";

interface Space {
  /** Statistics group and coefficient (weight/bias) index of every element. */
  group: Int32Array;
  coef: Int32Array;
  groups: number;
  coefs: number;
}

/** The index space of a case: LayerNorm/RMSNorm rows x D; GroupNorm/InstanceNorm (n, group) x channel. */
function spaceOf(norm: Norm, shape: number[], layout: Layout, trailing: number, G: number): Space {
  const size = shape.reduce((a, b) => a * b, 1);
  const group = new Int32Array(size), coef = new Int32Array(size);
  if (norm === "LayerNorm" || norm === "RMSNorm") {
    const D = shape.slice(shape.length - trailing).reduce((a, b) => a * b, 1);
    for (let i = 0; i < size; i++) { group[i] = Math.floor(i / D); coef[i] = i % D; }
    return { group, coef, groups: size / D, coefs: D };
  }
  const N = shape[0], C = layout === "channels-last" ? shape[shape.length - 1] : shape[1], S = size / (N * C);
  for (let i = 0; i < size; i++) {
    const n = Math.floor(i / (C * S));
    const c = layout === "channels-last" ? i % C : Math.floor(i / S) % C;
    group[i] = n * G + Math.floor(c / (C / G));
    coef[i] = c;
  }
  return { group, coef, groups: N * G, coefs: C };
}

interface Exact { y: Float64Array; dx: Float64Array; dweight: Float64Array; dbias: Float64Array; scale: Float64Array }

function reference(norm: Norm, x: Float32Array, dy: Float32Array, w: Float32Array, b: Float32Array, eps: number, sp: Space): Exact {
  const { group, coef, groups } = sp, size = x.length;
  const count = new Float64Array(groups), mean = new Float64Array(groups), m2 = new Float64Array(groups);
  for (let i = 0; i < size; i++) { count[group[i]]++; mean[group[i]] += x[i]; }
  for (let g = 0; g < groups; g++) mean[g] = norm === "RMSNorm" ? 0 : mean[g] / count[g];
  for (let i = 0; i < size; i++) m2[group[i]] += (x[i] - mean[group[i]]) ** 2;
  const inv = Float64Array.from(m2, (v, g) => (v / count[g] + eps === 0 ? 0 : 1 / Math.sqrt(v / count[g] + eps)));
  const y = new Float64Array(size), dx = new Float64Array(size);
  const dweight = new Float64Array(sp.coefs), dbias = new Float64Array(sp.coefs);
  const s1 = new Float64Array(groups), s2 = new Float64Array(groups), scale = new Float64Array(groups);
  for (let i = 0; i < size; i++) {
    const g = group[i], xhat = (x[i] - mean[g]) * inv[g], gw = dy[i] * w[coef[i]];
    y[i] = xhat * w[coef[i]] + b[coef[i]];
    dweight[coef[i]] += dy[i] * xhat;
    dbias[coef[i]] += dy[i];
    s1[g] += gw;
    s2[g] += gw * xhat;
    scale[g] += Math.abs(gw) + Math.abs(gw * xhat);
  }
  for (let i = 0; i < size; i++) {
    const g = group[i], xhat = (x[i] - mean[g]) * inv[g], gw = dy[i] * w[coef[i]];
    dx[i] = inv[g] * (gw - (norm === "RMSNorm" ? 0 : s1[g] / count[g]) - xhat * s2[g] / count[g]);
  }
  return { y, dx, dweight, dbias, scale: Float64Array.from(scale, (v, g) => (v / count[g]) * inv[g]) };
}

describe(`family fuzzer (${CASES} cases) against float64, guard bytes checked after every call`, () => {
  it("y, dx, dweight and dbias within one float32 ulp plus float64 error; no guard byte touched; nothing leaked", () => {
    const failures: string[] = [];
    const worst = new Map<string, number>();
    let guardChecks = 0;
    const guards = (where: string) => {
      guardChecks++;
      const damaged = checkGuardBytes();
      if (damaged.length > 0) failures.push(`${where}: ${damaged.join("; ")}`);
    };
    const check = (label: string, name: string, ours: ArrayLike<number>, exact: ArrayLike<number>, bound: (i: number) => number) => {
      let w = 0;
      for (let i = 0; i < exact.length; i++) {
        if (!Number.isFinite(Math.fround(exact[i]))) continue;
        const ratio = Math.abs(ours[i] - exact[i]) / bound(i);
        if (!(ratio <= 1)) { failures.push(`${label} ${name}[${i}]: ${ours[i]} vs ${exact[i]} (${ratio.toFixed(2)}x)`); break; }
        w = Math.max(w, ratio);
      }
      worst.set(name, Math.max(worst.get(name) ?? 0, w));
    };
    for (let index = 0; index < CASES; index++) {
      const random = seededRandom(0xfa000000 + index);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
      const norm = pick(["LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm"] as const);
      const layout: Layout = norm === "GroupNorm" || norm === "InstanceNorm" ? pick(["channels-first", "channels-last"] as const) : "channels-first";
      const rank = norm === "InstanceNorm" ? pick([3, 4, 5]) : pick([2, 3, 4]);
      const sizes = [1, 2, 3, 4, 5, 7, 9, 13];
      let shape: number[] = [];
      let C = 1, G = 1;
      for (let attempt = 0; attempt < 50; attempt++) {
        shape = Array.from({ length: rank }, () => pick(sizes));
        if (norm === "GroupNorm" || norm === "InstanceNorm") {
          G = norm === "GroupNorm" ? pick([1, 2, 3]) : 1;
          C = G * pick([1, 2, 3]);
          if (layout === "channels-last") shape[rank - 1] = C; else shape[1] = C;
          if (norm === "InstanceNorm") G = C;
        }
        const size = shape.reduce((a, b) => a * b, 1);
        const spatial = size / (shape[0] * (norm === "GroupNorm" || norm === "InstanceNorm" ? C : 1));
        if (size <= 4000 && (norm !== "InstanceNorm" || spatial >= 2)) break;
      }
      const trailing = norm === "LayerNorm" || norm === "RMSNorm" ? 1 + Math.floor(random() * (rank - 1)) : 0;
      const normalized = shape.slice(shape.length - trailing);
      const eps = pick([1e-5, 1e-5, 0, 1e-3]);
      const family = pick(["ordinary", "offset", "constant", "tiny", "mixed"] as const);
      const size = shape.reduce((a, b) => a * b, 1);
      const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const x = new Float32Array(size), dy = new Float32Array(size);
      const offset = family === "offset" ? 1e4 * (random() - 0.5) : 0.3;
      for (let i = 0; i < size; i++) {
        const spread = family === "tiny" ? 1e-20 : family === "mixed" ? 10 ** (6 * random() - 3) : 1;
        x[i] = family === "constant" ? offset : offset + spread * gauss();
        dy[i] = gauss();
      }
      const label = `case ${index} (${norm} ${layout} [${shape.join("x")}] ${family}, eps ${eps})`;
      const live = liveTensorCount();
      const layer = norm === "LayerNorm" ? new LayerNorm(normalized, { eps })
        : norm === "RMSNorm" ? new RMSNorm(normalized, { eps })
        : norm === "GroupNorm" ? new GroupNorm(G, C, { eps, layout })
        : new InstanceNorm(C, { eps, layout, affine: true });
      const coefs = layer.weight!.size;
      const w = Float32Array.from({ length: coefs }, () => 0.5 + random());
      const b = norm === "RMSNorm" ? new Float32Array(coefs) : Float32Array.from({ length: coefs }, () => random() - 0.5);
      layer.weight!.set(w);
      layer.bias?.set(b);
      const sp = spaceOf(norm, shape, layout, trailing, G);
      const e = reference(norm, x, dy, w, b, eps, sp);
      const xt = Tensor.from(x, shape), dyt = Tensor.from(dy, shape);
      const y = layer.forward(xt);
      guards(`${label} forward`);
      const dx = layer.backward(dyt, dyt); // in place over dy
      guards(`${label} backward`);
      const yOut = y.toFloat32Array(), dxOut = dx.toFloat32Array();
      check(label, "y", yOut, e.y, (i) => ulp32(e.y[i]) + 1e-12 * (Math.abs(w[sp.coef[i]]) + Math.abs(e.y[i])));
      check(label, "dx", dxOut, e.dx, (i) => ulp32(e.dx[i]) + 1e-11 * (Math.abs(w[sp.coef[i]] * dy[i]) + e.scale[sp.group[i]]));
      const absSum = new Float64Array(coefs);
      for (let i = 0; i < size; i++) absSum[sp.coef[i]] += Math.abs(dy[i]) * (1 + Math.abs(e.y[i] - b[sp.coef[i]]) / Math.abs(w[sp.coef[i]]));
      check(label, "dweight", layer.weightGrad!.toFloat32Array(), e.dweight, (c) => ulp32(e.dweight[c]) + 1e-11 * absSum[c]);
      if (layer.biasGrad) check(label, "dbias", layer.biasGrad.toFloat32Array(), e.dbias, (c) => ulp32(e.dbias[c]) + 1e-11 * absSum[c]);
      for (const t of [xt, dyt, y]) t.dispose();
      layer.dispose();
      guards(`${label} after dispose`);
      if (liveTensorCount() !== live) failures.push(`${label}: ${liveTensorCount() - live} tensors leaked`);
    }
    console.log(`family fuzz (${testBuild()} build): ${CASES} cases, ${guardChecks} guard checks; worst error / bound: ${[...worst].map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ")}`);
    expect(failures.slice(0, 20).join("\n"), `${failures.length} failures`).toBe("");
    expect(guardChecks).toBe(CASES * 3);
  });
});
