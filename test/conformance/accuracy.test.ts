// The accuracy bar, per output: on every case of test/fixtures/accuracy-cases.json
// (ordinary and hard data, both layouts; written by generate-accuracy.py),
//   our max abs error <= max(torch float32's max abs error, max |float32(exact) - exact|)
// against the exact (float64) result, for y, the batch mean and biased variance,
// the running mean and variance after one training step (momentum 0.1), dx,
// dweight and dbias. Ours is the worse of the BatchNorm layer and the functional
// batchNormTrain / batchNormBackward where both give an output; the batch
// statistics come from the functional forward's saved statistics. NaN anywhere,
// or Inf where float32(exact) is finite, fails whatever torch did.
import { beforeAll, describe, expect, it } from "vitest";
import { BatchNorm, Tensor, batchNormBackward, batchNormTrain, init, type Layout } from "../../src/index.ts";
import fixtures from "../fixtures/accuracy-cases.json";
import { decodeFloat32, decodeFloat64 } from "../fixtures/decode.ts";
import { barRatio, maxError, measure, orInfinity, show, worse, type Measured } from "../support/accuracy-bar.ts";
import { testBuild } from "../support/build.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

const OUTPUTS = ["y", "mean", "variance", "runningMean", "runningVar", "dx", "dweight", "dbias"] as const;
type Output = (typeof OUTPUTS)[number];
type Family = "ordinary" | "hard";

interface Case {
  name: string;
  family: Family;
  layout: Layout;
  /** In the memory order of the layout. */
  shape: number[];
  torchPath: string;
  eps: number;
  momentum: number;
  weight: string;
  bias: string;
  x: string;
  dy: string;
  /** Base64 float64, same order as x (y, dx) or per channel. */
  exact: Record<Output, string>;
  /** null: torch's output was NaN or Inf where the exact result is finite. */
  torchError: Record<Output, number | null>;
  /** null: float32(exact) overflows. */
  roundingError: Record<Output, number | null>;
}

const cases = (fixtures as unknown as { cases: Case[] }).cases;

/** One training step through the layer and through the functional API; our value of every output. */
function runOurs(fixture: Case): Record<Output, Measured> {
  const { shape, layout, eps } = fixture;
  const C = layout === "channels-last" ? shape[shape.length - 1] : shape[1];
  const x = decodeFloat32(fixture.x), dy = decodeFloat32(fixture.dy);
  const weightValues = decodeFloat32(fixture.weight), biasValues = decodeFloat32(fixture.bias);
  const exact = Object.fromEntries(OUTPUTS.map((k) => [k, decodeFloat64(fixture.exact[k])])) as Record<Output, Float64Array>;
  const xt = Tensor.from(x, shape), dyt = Tensor.from(dy, shape);
  const weight = Tensor.from(weightValues, [C]), bias = Tensor.from(biasValues, [C]);

  const bn = new BatchNorm(C, { eps, momentum: fixture.momentum, layout });
  bn.weight!.set(weightValues);
  bn.bias!.set(biasValues);
  const layerY = bn.forward(xt);
  const layerDx = bn.backward(dyt);
  const layer = {
    y: layerY.toFloat32Array(), dx: layerDx.toFloat32Array(),
    runningMean: bn.runningMean!.toFloat32Array(), runningVar: bn.runningVar!.toFloat32Array(),
    dweight: bn.weightGrad!.toFloat32Array(), dbias: bn.biasGrad!.toFloat32Array(),
  };

  const { y: fnY, saved } = batchNormTrain(xt, { weight, bias, eps, layout });
  const mean = saved.mean, variance = saved.variance;
  const { dx: fnDx, weightGrad, biasGrad } = batchNormBackward(dyt, saved);
  const functional = {
    y: fnY.toFloat32Array(), dx: fnDx.toFloat32Array(), mean, variance,
    dweight: weightGrad!.toFloat32Array(), dbias: biasGrad!.toFloat32Array(),
  };
  for (const t of [xt, dyt, weight, bias, layerY, layerDx, fnY, fnDx, weightGrad!, biasGrad!]) t.dispose();
  saved.dispose();
  bn.dispose();

  const result = {} as Record<Output, Measured>;
  for (const k of OUTPUTS) {
    const fromLayer = k in layer ? measure(layer[k as keyof typeof layer], exact[k], "layer") : null;
    const fromFunctional = k in functional ? measure(functional[k as keyof typeof functional], exact[k], "functional") : null;
    result[k] = fromLayer && fromFunctional ? worse(fromLayer, fromFunctional) : (fromLayer ?? fromFunctional)!;
  }
  return result;
}


interface Row { name: string; family: Family; output: Output; ours: number; torch: number; bound: number }
const rows: Row[] = [];

describe("accuracy bar: ours <= max(torch float32, float32 rounding of the exact result), per output", () => {
  it("cases cover ranks 2 to 5 in both layouts, ordinary and hard data, eps 0", () => {
    for (const layout of ["channels-first", "channels-last"] as const) {
      const ranks = new Set(cases.filter((c) => c.layout === layout).map((c) => c.shape.length));
      expect([...ranks].sort(), layout).toEqual([2, 3, 4, 5]);
      for (const family of ["ordinary", "hard"] as const) {
        expect(cases.some((c) => c.layout === layout && c.family === family), `${layout} ${family}`).toBe(true);
      }
    }
    expect(cases.some((c) => c.eps === 0)).toBe(true);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, fixture) => {
    const ours = runOurs(fixture);
    const failures: string[] = [];
    for (const output of OUTPUTS) {
      const torch = orInfinity(fixture.torchError[output]);
      const rounding = orInfinity(fixture.roundingError[output]);
      const bound = Math.max(torch, rounding);
      const measured = ours[output];
      rows.push({ name: fixture.name, family: fixture.family, output, ours: measured.error, torch, bound });
      if (!(measured.error <= bound)) {
        failures.push(`${fixture.name}, ${output}: ours ${show(measured.error)} > bound ${show(bound)} (torch float32 ${fixture.torchError[output] === null ? "non-finite" : show(torch)}, float32 rounding ${fixture.roundingError[output] === null ? "overflows" : show(rounding)}); ${measured.detail}`);
      }
    }
    expect(failures.length, failures.join("\n")).toBe(0);
  });

  it("prints ours vs torch float32 per output", () => {
    // Max abs errors over the cases of each family where torch's output is finite
    // (hard data mixes scales from 1e-20 to 3e38, so the ratio columns say more).
    // NaN ours (non-finite output) is infinitely over; an infinite error against an infinite bound is at the bar.
    const ratio = barRatio, max = maxError;
    const lines = [
      `accuracy vs float64 (${testBuild()} build). ours, torch: max abs error over the cases where torch float32 is finite;`,
      "ratio: worst ours / max(torch, float32 rounding) over all cases (> 1 misses the bar); failing: cases above the bar",
      "| output | ordinary ours | torch | ratio | hard ours | torch | ratio | hard cases torch non-finite | failing (ordinary, hard) |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ];
    for (const output of OUTPUTS) {
      const cells: string[] = [];
      const failing: number[] = [];
      for (const family of ["ordinary", "hard"] as const) {
        const all = rows.filter((r) => r.output === output && r.family === family);
        const finite = all.filter((r) => Number.isFinite(r.torch));
        const worstRatio = max(all.map(ratio));
        cells.push(show(max(finite.map((r) => r.ours))), show(max(finite.map((r) => r.torch))), Number.isFinite(worstRatio) ? worstRatio.toFixed(2) : "inf");
        if (family === "hard") cells.push(String(all.length - finite.length));
        failing.push(all.filter((r) => !(r.ours <= r.bound)).length);
      }
      lines.push(`| ${output} | ${cells.join(" | ")} | ${failing.join(", ")} |`);
    }
    console.log(lines.join("\n"));
  });
});
