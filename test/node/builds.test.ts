// The scalar build must contain no SIMD instruction (it is the fallback for
// engines without SIMD); the SIMD build must use them.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const text = (build: string) => readFileSync(new URL(`../../build/batchnorm.${build}.wat`, import.meta.url), "utf8");

describe("build outputs", () => {
  it("scalar build has no v128 type or SIMD instruction", () => {
    const scalar = text("scalar");
    expect(scalar).not.toMatch(/v128|f32x4|f64x2|i32x4|i8x16|i16x8|i64x2/);
    expect(scalar).toMatch(/f32\.add/);
  });

  it("SIMD build uses f32x4 and f64x2 and no relaxed-SIMD instruction", () => {
    const simd = text("simd");
    expect(simd).toMatch(/f32x4\.add/);
    expect(simd).toMatch(/f64x2\.promote_low_f32x4/);
    expect(simd).not.toMatch(/relaxed/);
  });
});
