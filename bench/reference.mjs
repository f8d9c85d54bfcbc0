// Float64 reference for checking every implementation before it is timed.
// Geometry: N, C, S and channelsLast (x[n][s][c] instead of x[n][c][s]).

const indexer = ({ C, S, channelsLast }) => (channelsLast ? (n, c, s) => (n * S + s) * C + c : (n, c, s) => (n * C + c) * S + s);

function statistics(x, g) {
  const { N, C, S } = g, at = indexer(g), count = N * S;
  const mean = new Float64Array(C), variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) sum += x[at(n, c, s)];
    mean[c] = sum / count;
    let squares = 0;
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) squares += (x[at(n, c, s)] - mean[c]) ** 2;
    variance[c] = squares / count;
  }
  return { mean, variance };
}

function normalize(x, g, mean, variance, weight, bias, eps) {
  const { N, C, S } = g, at = indexer(g), y = new Float64Array(x.length);
  for (let c = 0; c < C; c++) {
    const scale = weight[c] / Math.sqrt(variance[c] + eps);
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) y[at(n, c, s)] = (x[at(n, c, s)] - mean[c]) * scale + bias[c];
  }
  return y;
}

export const referenceEval = (x, g, p) => normalize(x, g, p.runningMean, p.runningVar, p.weight, p.bias, p.eps);

export function referenceTrain(x, g, p) {
  const { mean, variance } = statistics(x, g);
  return normalize(x, g, mean, variance, p.weight, p.bias, p.eps);
}

/** dx of training mode (through the batch statistics). */
export function referenceBackward(x, dy, g, p) {
  const { N, C, S } = g, at = indexer(g), count = N * S;
  const { mean, variance } = statistics(x, g);
  const dx = new Float64Array(x.length);
  for (let c = 0; c < C; c++) {
    const invStd = 1 / Math.sqrt(variance[c] + p.eps);
    let sumDy = 0, sumDyXhat = 0;
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) {
      const i = at(n, c, s);
      sumDy += dy[i];
      sumDyXhat += dy[i] * (x[i] - mean[c]) * invStd;
    }
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) {
      const i = at(n, c, s);
      const xHat = (x[i] - mean[c]) * invStd;
      dx[i] = (p.weight[c] * invStd * (dy[i] - sumDy / count - (xHat * sumDyXhat) / count));
    }
  }
  return dx;
}

/** Max |a - b| relative to max(1, max |b|). */
export function maxError(actual, expected) {
  let worst = 0, scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst / scale;
}

/** NCHW-ordered data to NHWC-ordered (or back, with `toChannelsFirst`). */
export function transpose(data, { N, C, S }, toChannelsFirst = false) {
  const out = new Float32Array(data.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) {
    const first = (n * C + c) * S + s, last = (n * S + s) * C + c;
    if (toChannelsFirst) out[first] = data[last];
    else out[last] = data[first];
  }
  return out;
}
