// Hard data: large offsets, tiny variance on a large offset, constant channels,
// mixed per-channel scales, variance beyond float32 range. Training-mode y and
// dx must be at least as accurate as PyTorch 1.13 float32 on the same input
// (errors recorded by test/fixtures/generate.py against torch float64), in
// both layouts, and finite wherever the float64 result is.
import { beforeAll, describe, expect, it } from "vitest";
import { BatchNorm, Tensor, init, type Layout } from "../../src/index.ts";
import hard from "../fixtures/hard-data.json";
import { decodeFloat32 } from "../fixtures/decode.ts";
import { testBuild } from "../support/build.ts";
import { channelStatistics, geometry, maxAbsDiff, normalize, trainingBackward } from "../support/reference.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

interface Family {
  name: string;
  x: string;
  torch: Record<Layout, { yMaxError: number; dxMaxError: number }>;
}

const [N, C, H, W] = hard.shape;
const weight = decodeFloat32(hard.weight), bias = decodeFloat32(hard.bias);
// Errors below this are float32 rounding of the outputs themselves (|y| reaches
// about 8 here, half an ulp of 8 is 4.8e-7), whoever computes them.
const FLOOR = { y: 2e-6, dx: 2e-6 };

/** NCHW data in the memory order of `layout`. */
function inLayout(nchw: Float32Array, layout: Layout): Float32Array {
  if (layout === "channels-first") return nchw;
  const out = new Float32Array(nchw.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < H * W; s++) {
    out[(n * H * W + s) * C + c] = nchw[(n * C + c) * H * W + s];
  }
  return out;
}

const measured: string[] = [];

describe("hard data, training mode", () => {
  const families = hard.families as Family[];

  for (const layout of ["channels-first", "channels-last"] as const) {
    it.each(families.map((f) => [f.name, f] as const))(`%s (${layout})`, (_name, family) => {
      const shape = layout === "channels-first" ? [N, C, H, W] : [N, H, W, C];
      const g = geometry(shape, layout);
      const x = inLayout(decodeFloat32(family.x), layout);
      const dy = inLayout(decodeFloat32(hard.dy), layout);
      const bn = new BatchNorm(C, { layout });
      bn.weight!.set(weight);
      bn.bias!.set(bias);
      const xt = Tensor.from(x, shape), dyt = Tensor.from(dy, shape);
      const y = bn.forward(xt).toFloat32Array();
      const dx = bn.backward(dyt).toFloat32Array();

      const stats = channelStatistics(x, g);
      const affine = { weight, bias, eps: 1e-5 };
      const y64 = normalize(x, g, stats.mean, stats.variance, affine);
      const dx64 = trainingBackward(x, dy, g, affine).dx;
      const yErr = maxAbsDiff(y, y64, g), dxErr = maxAbsDiff(dx, dx64, g);
      const torchErr = family.torch["channels-first"];
      measured.push(`${family.name} | ${layout} | y ${yErr.error.toExponential(2)} (torch NCHW ${torchErr.yMaxError.toExponential(2)}, torch ${layout} ${family.torch[layout].yMaxError.toExponential(2)}) | dx ${dxErr.error.toExponential(2)} (torch NCHW ${torchErr.dxMaxError.toExponential(2)})`);

      // No NaN or Inf where the float64 result is finite.
      for (let i = 0; i < y.length; i++) {
        if (Number.isFinite(y64[i])) expect(Number.isFinite(y[i]), `y not finite at ${i}`).toBe(true);
        if (Number.isFinite(dx64[i])) expect(Number.isFinite(dx[i]), `dx not finite at ${i}`).toBe(true);
      }
      // At least as accurate as torch float32 in NCHW (its better layout), in both of ours.
      expect(yErr.error, `y error at ${yErr.where}`).toBeLessThanOrEqual(Math.max(torchErr.yMaxError, FLOOR.y));
      expect(dxErr.error, `dx error at ${dxErr.where}`).toBeLessThanOrEqual(Math.max(torchErr.dxMaxError, FLOOR.dx));
      xt.dispose();
      dyt.dispose();
      bn.dispose();
    });
  }

  it("channels-last is as accurate as channels-first", () => {
    // Both layouts were measured above; compare family by family.
    const byFamily = new Map<string, number[]>();
    for (const line of measured) {
      const [name, , yPart] = line.split(" | ");
      const value = Number(yPart.split(" ")[1]);
      byFamily.set(name, [...(byFamily.get(name) ?? []), value]);
    }
    for (const [name, [first, last]] of byFamily) {
      expect(last, `${name}: channels-last y error ${last} vs channels-first ${first}`).toBeLessThanOrEqual(Math.max(4 * first, FLOOR.y));
    }
    console.log(`hard-data accuracy (${testBuild()} build):\n${measured.join("\n")}`);
  });
});
