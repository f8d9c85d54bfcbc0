// The float64 operations of the per-channel math for one lane (T = f64) or two
// (T = v128), so each formula is written once: the SIMD build runs it on pairs
// of channels, both builds on single ones, with the same correctly rounded
// operation per lane (the bits agree). Only the branch for T is compiled.
import { canonicalF32, canonicalF64 } from "./numbers";

@inline export function splat<T>(v: f64): T {
  if (isVector<T>()) return <T>f64x2.splat(v);
  else return <T>v;
}

@inline export function add<T>(a: T, b: T): T {
  if (isVector<T>()) return <T>f64x2.add(<v128>a, <v128>b);
  else return <T>(<f64>a + <f64>b);
}

@inline export function sub<T>(a: T, b: T): T {
  if (isVector<T>()) return <T>f64x2.sub(<v128>a, <v128>b);
  else return <T>(<f64>a - <f64>b);
}

@inline export function mul<T>(a: T, b: T): T {
  if (isVector<T>()) return <T>f64x2.mul(<v128>a, <v128>b);
  else return <T>(<f64>a * <f64>b);
}

@inline export function neg<T>(a: T): T {
  if (isVector<T>()) return <T>f64x2.neg(<v128>a);
  else return <T>(-<f64>a);
}

/** 1 / sqrt(v), and 0 where v is 0 (PyTorch's invstd for a constant channel with eps 0). */
@inline export function inverseSqrtOrZero<T>(v: T): T {
  if (isVector<T>()) {
    const x = <v128>v;
    return <T>v128.bitselect(f64x2.splat(0), f64x2.div(f64x2.splat(1), f64x2.sqrt(x)), f64x2.eq(x, f64x2.splat(0)));
  } else {
    const x = <f64>v;
    return <T>(x == 0 ? 0 : 1.0 / Math.sqrt(x));
  }
}

/** The float64 value of float32(v), lane by lane. */
@inline export function roundedToF32<T>(v: T): T {
  if (isVector<T>()) return <T>f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(<v128>v));
  else return <T><f64><f32><f64>v;
}

/** Float64 values at channel c of a float64 array. */
@inline export function loadF64<T>(base: usize, c: i32): T {
  if (isVector<T>()) return <T>v128.load(base + (<usize>c << 3));
  else return <T>load<f64>(base + (<usize>c << 3));
}

/** Float32 values at channel c widened to float64, or `fallback` for a null pointer. */
@inline export function loadF32Or<T>(base: usize, c: i32, fallback: f64): T {
  if (isVector<T>()) return <T>(base ? f64x2.promote_low_f32x4(v128.load64_zero(base + (<usize>c << 2))) : f64x2.splat(fallback));
  else return <T>(base ? <f64>load<f32>(base + (<usize>c << 2)) : fallback);
}

/** Stores float64 values at channel c, NaN canonicalized. */
@inline export function storeF64<T>(base: usize, c: i32, v: T): void {
  const p = base + (<usize>c << 3);
  if (isVector<T>()) {
    const x = <v128>v;
    v128.store(p, v128.bitselect(i64x2.splat(0x7ff8000000000000), x, f64x2.ne(x, x)));
  } else {
    store<f64>(p, canonicalF64(<f64>v));
  }
}

/** Stores float32(v) at channel c of a float32 array, NaN canonicalized. */
@inline export function storeAsF32<T>(base: usize, c: i32, v: T): void {
  const p = base + (<usize>c << 2);
  if (isVector<T>()) {
    const x = f32x4.demote_f64x2_zero(<v128>v);
    v128.store64_lane(p, v128.bitselect(i32x4.splat(0x7fc00000), x, f32x4.ne(x, x)), 0);
  } else {
    store<f32>(p, canonicalF32(<f32><f64>v));
  }
}
