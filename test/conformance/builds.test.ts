// The SIMD and scalar builds export the same names and give the same bits:
// the scalar build keeps the SIMD build's lane order in every reduction.
import { describe, expect, it } from "vitest";
import { KERNEL_PARAMETERS } from "../../src/kernels.ts";
import { loadBuild, simdSupported, type Kernels } from "../../src/wasm.ts";
import { seededRandom, normalArray } from "../support/random.ts";

/** Runs the whole pipeline on raw exports and returns every output's bytes. */
function runPipeline(k: Kernels, x: Float32Array, dy: Float32Array, weight: Float32Array, bias: Float32Array, N: number, C: number, S: number, channelsLast: boolean): Uint8Array[] {
  const bytes = x.length * 4;
  const ptrs = {
    x: k.alloc(bytes), dy: k.alloc(bytes), y: k.alloc(bytes), dx: k.alloc(bytes), dxEval: k.alloc(bytes), yEval: k.alloc(bytes),
    weight: k.alloc(C * 4), bias: k.alloc(C * 4), gw: k.alloc(C * 4), gb: k.alloc(C * 4), rm: k.alloc(C * 4), rv: k.alloc(C * 4),
    ws: k.alloc(k.workspaceBytes(C)),
  };
  const f32 = (ptr: number, n: number) => new Float32Array(k.memory.buffer, ptr, n);
  f32(ptrs.x, x.length).set(x);
  f32(ptrs.dy, x.length).set(dy);
  f32(ptrs.weight, C).set(weight);
  f32(ptrs.bias, C).set(bias);
  f32(ptrs.gw, C).fill(0);
  f32(ptrs.gb, C).fill(0);
  f32(ptrs.rm, C).fill(0);
  f32(ptrs.rv, C).fill(1);
  k.workspaceInit(C, ptrs.ws);
  k.trainForward(ptrs.x, ptrs.y, N, C, S, channelsLast, ptrs.weight, ptrs.bias, 1e-5, ptrs.ws);
  k.runningUpdate(C, N * S, 0.1, true, ptrs.rm, ptrs.rv, ptrs.ws);
  k.trainBackward(ptrs.x, ptrs.dy, ptrs.dx, N, C, S, channelsLast, ptrs.weight, ptrs.gw, ptrs.gb, ptrs.ws);
  const statistics = new Uint8Array(k.memory.buffer, ptrs.ws, C * 8 * 4).slice(); // mean, offset, variance, invStd
  k.evalPrepare(C, ptrs.rm, ptrs.rv, ptrs.weight, ptrs.bias, 1e-5, ptrs.ws);
  k.evalForward(ptrs.x, ptrs.yEval, N, C, S, channelsLast, ptrs.ws);
  k.evalBackward(ptrs.x, ptrs.dy, ptrs.dxEval, N, C, S, channelsLast, true, ptrs.gw, ptrs.gb, ptrs.ws);
  const out = [ptrs.y, ptrs.dx, ptrs.yEval, ptrs.dxEval].map((p) => new Uint8Array(k.memory.buffer, p, bytes).slice());
  out.push(...[ptrs.gw, ptrs.gb, ptrs.rm, ptrs.rv].map((p) => new Uint8Array(k.memory.buffer, p, C * 4).slice()), statistics);
  for (const p of Object.values(ptrs)) k.free(p);
  return out;
}

const OUTPUT_NAMES = ["y", "dx", "y (eval)", "dx (eval)", "weightGrad", "biasGrad", "running_mean", "running_var", "batch statistics"];

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe("SIMD and scalar builds", () => {
  it("WebAssembly.validate accepts the SIMD bytes here", () => {
    expect(simdSupported()).toBe(true);
  });

  it("export the same names and report which build they are", async () => {
    const simd = await loadBuild("simd"), scalar = await loadBuild("scalar");
    const names = (k: Kernels) => Object.keys(k).filter((n) => n !== "build").sort();
    expect(names(scalar)).toEqual(names(simd));
    expect(simd.isSimdBuild()).toBe(1);
    expect(scalar.isSimdBuild()).toBe(0);
  });

  it("export exactly the kernels src/kernels.ts declares, with its parameter counts", async () => {
    for (const k of [await loadBuild("simd"), await loadBuild("scalar")]) {
      const functions = Object.keys(k).filter((n) => typeof (k as unknown as Record<string, unknown>)[n] === "function").sort();
      expect(functions, `${k.build} exports`).toEqual(Object.keys(KERNEL_PARAMETERS).sort());
      for (const [name, count] of Object.entries(KERNEL_PARAMETERS)) {
        expect((k as unknown as Record<string, (...args: number[]) => unknown>)[name].length, `${k.build} ${name} parameters`).toBe(count);
      }
    }
  });

  // Sizes around the vector width and the reduction block sizes, odd channel counts, both layouts.
  const cases: [number, number, number][] = [];
  for (const S of [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 600]) cases.push([2, 3, S]);
  for (const C of [1, 3, 4, 5, 7, 15, 16, 17, 33]) cases.push([70, C, 2]);
  cases.push([3, 5, 1000], [130, 19, 1]);

  it.each(cases)("give identical bytes for N=%i C=%i S=%i in both layouts", async (N, C, S) => {
    const simd = await loadBuild("simd"), scalar = await loadBuild("scalar");
    const random = seededRandom(N * 1000 + C * 10 + S);
    const size = N * C * S;
    const x = normalArray(random, size, 3, 2);
    const dy = normalArray(random, size);
    const weight = normalArray(random, C, 1, 0.3), bias = normalArray(random, C);
    for (const channelsLast of [false, true]) {
      const a = runPipeline(simd, x, dy, weight, bias, N, C, S, channelsLast);
      const b = runPipeline(scalar, x, dy, weight, bias, N, C, S, channelsLast);
      a.forEach((bytes, i) => {
        const at = firstDifference(bytes, b[i]);
        expect(at, `${OUTPUT_NAMES[i]} differs at byte ${at} (channelsLast=${channelsLast})`).toBe(-1);
      });
    }
  });
});
