// Float64 reference for BatchNorm: plain two-pass loops, no wasm. The yardstick.
export type Layout = "channels-first" | "channels-last";

export interface Geometry {
  N: number;
  C: number;
  S: number;
  /** Flat index of element (n, c, s). */
  index(n: number, c: number, s: number): number;
}

export function geometry(shape: readonly number[], layout: Layout): Geometry {
  const N = shape[0];
  const C = layout === "channels-last" ? shape[shape.length - 1] : shape[1];
  const S = shape.reduce((a, b) => a * b, 1) / (N * C);
  const last = layout === "channels-last";
  return { N, C, S, index: last ? (n, c, s) => (n * S + s) * C + c : (n, c, s) => (n * C + c) * S + s };
}

/** Per-channel mean and biased variance, two-pass in float64. */
export function channelStatistics(x: ArrayLike<number>, g: Geometry): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(g.C), variance = new Float64Array(g.C);
  const m = g.N * g.S;
  for (let c = 0; c < g.C; c++) {
    let sum = 0;
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) sum += x[g.index(n, c, s)];
    mean[c] = sum / m;
    let m2 = 0;
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) m2 += (x[g.index(n, c, s)] - mean[c]) ** 2;
    variance[c] = m2 / m;
  }
  return { mean, variance };
}

export interface Affine {
  weight?: ArrayLike<number> | null;
  bias?: ArrayLike<number> | null;
  eps: number;
}

/** y = (x - mean) / sqrt(var + eps) * weight + bias with the given per-channel statistics. */
export function normalize(x: ArrayLike<number>, g: Geometry, mean: ArrayLike<number>, variance: ArrayLike<number>, p: Affine): Float64Array {
  const y = new Float64Array(x.length);
  for (let c = 0; c < g.C; c++) {
    const inv = 1 / Math.sqrt(variance[c] + p.eps);
    const w = p.weight ? p.weight[c] : 1, b = p.bias ? p.bias[c] : 0;
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) {
      const i = g.index(n, c, s);
      y[i] = (x[i] - mean[c]) * inv * w + b;
    }
  }
  return y;
}

/** Training-mode backward: dx through the batch statistics, dweight, dbias. */
export function trainingBackward(x: ArrayLike<number>, dy: ArrayLike<number>, g: Geometry, p: Affine) {
  const { mean, variance } = channelStatistics(x, g);
  const m = g.N * g.S;
  const dx = new Float64Array(x.length), dweight = new Float64Array(g.C), dbias = new Float64Array(g.C);
  for (let c = 0; c < g.C; c++) {
    const inv = 1 / Math.sqrt(variance[c] + p.eps);
    const w = p.weight ? p.weight[c] : 1;
    let sumDy = 0, sumDyXhat = 0;
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) {
      const i = g.index(n, c, s);
      sumDy += dy[i];
      sumDyXhat += dy[i] * (x[i] - mean[c]) * inv;
    }
    dbias[c] = sumDy;
    dweight[c] = sumDyXhat;
    for (let n = 0; n < g.N; n++) for (let s = 0; s < g.S; s++) {
      const i = g.index(n, c, s);
      const xhat = (x[i] - mean[c]) * inv;
      dx[i] = ((w * inv) / m) * (m * dy[i] - sumDy - xhat * sumDyXhat);
    }
  }
  return { dx, dweight, dbias };
}

/** PyTorch's running update with factor f: running = (1 - f) running + f batch (unbiased variance). */
export function runningUpdate(runningMean: Float64Array, runningVar: Float64Array, x: ArrayLike<number>, g: Geometry, factor: number): void {
  const { mean, variance } = channelStatistics(x, g);
  const m = g.N * g.S;
  for (let c = 0; c < g.C; c++) {
    runningMean[c] = (1 - factor) * runningMean[c] + factor * mean[c];
    runningVar[c] = (1 - factor) * runningVar[c] + factor * variance[c] * (m / (m - 1));
  }
}

export interface Worst {
  error: number;
  index: number;
  /** "(n, c, s)" of the worst element, for messages. */
  where: string;
}

/** Largest |a - b| (NaN in only one of them counts as infinite), with its position. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, g?: Geometry): Worst {
  let error = 0, index = -1;
  for (let i = 0; i < a.length; i++) {
    const bothNaN = Number.isNaN(a[i]) && Number.isNaN(b[i]);
    const e = bothNaN ? 0 : Math.abs(a[i] - b[i]);
    const worse = Number.isNaN(e) ? Number.POSITIVE_INFINITY : e;
    if (worse > error || index < 0) {
      error = worse;
      index = i;
    }
  }
  let where = `index ${index}`;
  if (g && index >= 0) {
    for (let n = 0; n < g.N; n++) for (let c = 0; c < g.C; c++) for (let s = 0; s < g.S; s++) {
      if (g.index(n, c, s) === index) where = `(n=${n}, c=${c}, s=${s})`;
    }
  }
  return { error, index, where };
}
