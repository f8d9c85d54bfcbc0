// Replays sequences of train and eval steps recorded from torch.nn.BatchNorm*d
// (test/fixtures/generate.py) through the BatchNorm layer, and checks every
// step against PyTorch and against the float64 reference.
import { beforeAll, describe, expect, it } from "vitest";
import { BatchNorm, Tensor, init, type Layout } from "../../src/index.ts";
import fixtures from "../fixtures/torch-cases.json";
import { decodeFloat32 } from "../fixtures/decode.ts";
import { testBuild } from "../support/build.ts";
import { channelStatistics, geometry, maxAbsDiff, normalize, runningUpdate, trainingBackward, type Geometry } from "../support/reference.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

// Tolerances, about 3x the largest error measured over all cases and both
// builds: y vs torch 3.5e-6, vs float64 1.4e-6; dx vs torch 3.9e-6, vs float64
// 1.7e-6; parameter gradients (sums over the batch) vs torch 2.3e-5, vs float64
// 1.8e-5; running statistics vs torch 4.8e-7.
const TOLERANCE = {
  yTorch: 1e-5, yReference: 5e-6,
  dxTorch: 1.2e-5, dxReference: 5e-6,
  gradTorch: 7e-5, gradReference: 4e-5,
  running: 1.5e-6,
};

interface Step {
  mode: "train" | "eval";
  x: string; dy: string; y: string; dx: string;
  weightGrad: string | null; biasGrad: string | null;
  runningMean: string | null; runningVar: string | null; numBatchesTracked: number | null;
}

interface Case {
  name: string; shape: number[]; layout: Layout; affine: boolean; momentum: number | null;
  trackRunningStats: boolean; eps: number; weight: string | null; bias: string | null; steps: Step[];
}

const cases = (fixtures as { cases: Case[] }).cases;

function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, g?: Geometry): number {
  const worst = maxAbsDiff(actual, expected, g);
  expect(worst.error, `${label}: max |error| ${worst.error.toExponential(2)} at ${worst.where} (actual ${actual[worst.index]}, expected ${expected[worst.index]})`).toBeLessThanOrEqual(tolerance);
  return worst.error;
}

describe("PyTorch fixtures", () => {
  it("cover ranks 2 to 5, both layouts, sizes not multiple of 4, affine off, momentum null, no running stats", () => {
    const ranks = new Set(cases.map((c) => c.shape.length));
    expect([...ranks].sort()).toEqual([2, 3, 4, 5]);
    expect(cases.some((c) => c.layout === "channels-last")).toBe(true);
    expect(cases.some((c) => !c.affine)).toBe(true);
    expect(cases.some((c) => c.momentum === null)).toBe(true);
    expect(cases.some((c) => !c.trackRunningStats)).toBe(true);
    expect(cases.some((c) => c.shape[0] === 2)).toBe(true);
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, fixture) => {
    const g = geometry(fixture.shape, fixture.layout);
    const bn = new BatchNorm(g.C, {
      eps: fixture.eps, momentum: fixture.momentum, affine: fixture.affine,
      trackRunningStats: fixture.trackRunningStats, layout: fixture.layout,
    });
    const weight = fixture.weight ? decodeFloat32(fixture.weight) : null;
    const bias = fixture.bias ? decodeFloat32(fixture.bias) : null;
    if (weight && bias) {
      bn.weight!.set(weight);
      bn.bias!.set(bias);
    }
    const running = { mean: new Float64Array(g.C), variance: new Float64Array(g.C).fill(1), batches: 0 };
    fixture.steps.forEach((step, index) => {
      const label = `${fixture.name}, step ${index} (${step.mode})`;
      const x = decodeFloat32(step.x), dy = decodeFloat32(step.dy);
      bn.train(step.mode === "train");
      const xt = Tensor.from(x, fixture.shape), dyt = Tensor.from(dy, fixture.shape);
      const y = bn.forward(xt);
      bn.zeroGrad();
      const dx = bn.backward(dyt);
      const ours = { y: y.toFloat32Array(), dx: dx.toFloat32Array() };
      expectClose(`${label} y vs torch`, ours.y, decodeFloat32(step.y), TOLERANCE.yTorch, g);
      expectClose(`${label} dx vs torch`, ours.dx, decodeFloat32(step.dx), TOLERANCE.dxTorch, g);
      if (step.weightGrad && step.biasGrad) {
        expectClose(`${label} weight grad vs torch`, bn.weightGrad!.toFloat32Array(), decodeFloat32(step.weightGrad), TOLERANCE.gradTorch);
        expectClose(`${label} bias grad vs torch`, bn.biasGrad!.toFloat32Array(), decodeFloat32(step.biasGrad), TOLERANCE.gradTorch);
      }
      // Float64 reference of the same step.
      const useBatch = step.mode === "train" || !fixture.trackRunningStats;
      const affine = { weight, bias, eps: fixture.eps };
      if (useBatch) {
        const stats = channelStatistics(x, g);
        expectClose(`${label} y vs float64`, ours.y, normalize(x, g, stats.mean, stats.variance, affine), TOLERANCE.yReference, g);
        const reference = trainingBackward(x, dy, g, affine);
        expectClose(`${label} dx vs float64`, ours.dx, reference.dx, TOLERANCE.dxReference, g);
        if (fixture.affine) {
          expectClose(`${label} weight grad vs float64`, bn.weightGrad!.toFloat32Array(), reference.dweight, TOLERANCE.gradReference);
          expectClose(`${label} bias grad vs float64`, bn.biasGrad!.toFloat32Array(), reference.dbias, TOLERANCE.gradReference);
        }
      } else {
        expectClose(`${label} y vs float64`, ours.y, normalize(x, g, running.mean, running.variance, affine), TOLERANCE.yReference, g);
      }
      if (step.mode === "train" && fixture.trackRunningStats) {
        running.batches += 1;
        runningUpdate(running.mean, running.variance, x, g, fixture.momentum ?? 1 / running.batches);
      }
      if (step.runningMean && step.runningVar) {
        expectClose(`${label} running_mean vs torch`, bn.runningMean!.toFloat32Array(), decodeFloat32(step.runningMean), TOLERANCE.running);
        expectClose(`${label} running_var vs torch`, bn.runningVar!.toFloat32Array(), decodeFloat32(step.runningVar), TOLERANCE.running);
        expect(bn.numBatchesTracked, `${label} num_batches_tracked`).toBe(step.numBatchesTracked);
      }
      for (const t of [xt, dyt, y, dx]) t.dispose();
    });
    bn.dispose();
  });
});
