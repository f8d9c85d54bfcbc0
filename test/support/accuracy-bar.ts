// Measuring against the accuracy bar of the conformance suite (accuracy.test.ts,
// family.test.ts): our max abs error per output against the exact float64 result,
// compared with max(torch float32's error, float32 rounding of the exact result).

export interface Measured {
  /** Max |ours - exact|; NaN marks a non-finite output (or a missing or mis-sized one). */
  error: number;
  /** Where the worst element is and what it holds, for messages. */
  detail: string;
}

/** Max |ours - exact|; NaN when ours is missing, NaN, or infinite where float32(exact) is finite. */
export function measure(ours: ArrayLike<number> | null | undefined, exact: Float64Array, path: string): Measured {
  if (ours == null) return { error: Number.NaN, detail: `${path}: no value` };
  if (ours.length !== exact.length) return { error: Number.NaN, detail: `${path}: ${ours.length} values, expected ${exact.length}` };
  let error = 0, index = 0;
  for (let i = 0; i < exact.length; i++) {
    const o = ours[i], e = exact[i];
    if (Number.isNaN(o) || (!Number.isFinite(o) && Number.isFinite(Math.fround(e)))) {
      return { error: Number.NaN, detail: `${path}: ${o} at index ${i} where the exact result is ${e}` };
    }
    const d = Math.abs(o - e);
    if (d > error) {
      error = d;
      index = i;
    }
  }
  return { error, detail: `${path}: worst at index ${index}, ours ${ours[index]}, exact ${exact[index]}` };
}

/** The worse of two measurements (NaN counts as worst). */
export function worse(a: Measured, b: Measured): Measured {
  if (Number.isNaN(a.error)) return a;
  if (Number.isNaN(b.error)) return b;
  return b.error > a.error ? b : a;
}

/** A fixture's null error (no bound) as an infinite one. */
export const orInfinity = (v: number | null | undefined): number => (v === null || v === undefined ? Number.POSITIVE_INFINITY : v);

/** An error for tables and messages; NaN is our marker for a non-finite output (see measure). */
export const show = (v: number): string => (Number.isNaN(v) ? "non-finite output" : Number.isFinite(v) ? v.toExponential(2) : "inf");

/** ours / bound for the tables: NaN ours is infinitely over; an infinite error against an infinite bound is at the bar. */
export const barRatio = (r: { ours: number; bound: number }): number =>
  Number.isNaN(r.ours) ? Number.POSITIVE_INFINITY : r.ours === r.bound ? (r.ours === 0 ? 0 : 1) : r.ours / r.bound;

/** Max of errors, NaN if any is NaN (0 for none). */
export const maxError = (values: number[]): number =>
  values.reduce((a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.max(a, b)), 0);
