// The fuzzers' unit of error.

/** One float32 ulp at |v| (the spacing of float32 values there; the least denormal below 2^-126). */
export function ulp32(v: number): number {
  const a = Math.abs(v);
  if (!(a >= 2 ** -126)) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}
