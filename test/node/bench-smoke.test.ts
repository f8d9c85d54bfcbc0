// The benchmark harness keeps working: one round over the small shapes, every
// implementation present and checked against the float64 reference, for
// BatchNorm and for each family norm. No
// timing is asserted (speed is measured by npm run bench, never in tests).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

describe("bench smoke", () => {
  it("measures and checks every implementation on the small shapes", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-smoke-"));
    try {
      const json = join(dir, "smoke.json");
      execFileSync(process.execPath, ["bench/run.mjs", "--smoke", "--json", json], { cwd: root, stdio: "pipe", timeout: 180_000 });
      const output = JSON.parse(readFileSync(json, "utf8"));
      expect(output.results.map((r: { shape: string }) => r.shape)).toEqual(["1x32x8x8", "64x1024"]);
      for (const result of output.results) {
        const names = result.rows.map((r: { name: string }) => r.name);
        expect(names).toEqual(expect.arrayContaining([
          "memory.copy", "f32x4 stream", "f32x4 sum", "JS loop eval", "api eval", "api train forward", "api train step",
          "raw eval", "raw backward", "scalar eval", "tfjs-wasm eval", "tfjs-wasm train step",
          "onnxruntime-web eval", "onnxruntime-web train forward", "onnxruntime-node eval", "onnxruntime-node 32-node chain",
        ]));
        for (const row of result.rows) {
          expect(row.medianMs, row.name).toBeGreaterThan(0);
          if (row.check) expect(row.check.passed, `${result.shape} ${row.name} error ${row.check.error}`).toBe(true);
        }
        expect(result.rows.filter((r: { check: unknown }) => r.check).length).toBeGreaterThanOrEqual(15);
        expect(result.targets.length).toBeGreaterThanOrEqual(10);
        expect(result.peakWasmBytes).toBeGreaterThan(0);
      }
      // The family: one smoke shape per norm, every cell checked, the targets evaluated.
      expect(output.family.map((r: { norm: string }) => r.norm)).toEqual(["LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm2d"]);
      for (const result of output.family) {
        const names = result.rows.map((r: { name: string }) => r.name);
        expect(names).toEqual(expect.arrayContaining([
          "memory.copy", "f32x4 stream", "f64x2 shifted stream", "api eval", "api train step", "onnxruntime-node 32-node chain",
        ]));
        expect(names.filter((n: string) => /^onnxruntime-(web|node) [A-Z]/.test(n)).length).toBe(2);
        if (result.norm === "LayerNorm") expect(names).toContain("tfjs-wasm LN composed (moments + elementwise)");
        if (result.norm === "InstanceNorm2d") expect(names).toContain("api forward (instance statistics)");
        for (const row of result.rows) {
          expect(row.medianMs, row.name).toBeGreaterThan(0);
          if (row.check) expect(row.check.passed, `${result.shape} ${row.name} error ${row.check.error}`).toBe(true);
        }
        expect(result.targets.length).toBeGreaterThanOrEqual(2);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
