// Float helpers shared by every kernel file.

const CANONICAL_NAN_F32: f32 = reinterpret<f32>(0x7fc00000);
const CANONICAL_NAN_F64: f64 = reinterpret<f64>(0x7ff8000000000000);

/** The canonical NaN for any NaN (WebAssembly leaves a created NaN's sign and payload to the engine). */
@inline export function canonicalF32(v: f32): f32 { return v != v ? CANONICAL_NAN_F32 : v; }
@inline export function canonicalF64(v: f64): f64 { return v != v ? CANONICAL_NAN_F64 : v; }

@inline export function f64At(base: usize, i: i32): f64 { return load<f64>(base + (<usize>i << 3)); }
@inline export function f64Put(base: usize, i: i32, v: f64): void { store<f64>(base + (<usize>i << 3), canonicalF64(v)); }
@inline export function f32At(base: usize, i: i32): f32 { return load<f32>(base + (<usize>i << 2)); }
@inline export function f32Put(base: usize, i: i32, v: f32): void { store<f32>(base + (<usize>i << 2), canonicalF32(v)); }

/** 1 / sqrt(variance + eps), and 0 where both are 0 (PyTorch's rule: y = bias on a constant group with eps 0). */
@inline export function inverseStd(variance: f64, eps: f64): f64 {
  const v = variance + eps;
  return v == 0 ? 0 : 1.0 / Math.sqrt(v);
}
