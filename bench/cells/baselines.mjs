// Baseline cells: the least work over the same bytes (wasm memory.copy, f32x4
// stream and its shifted (x - k) * s + t form, f32x4 sum, their two-tensor forms;
// for channels-last shapes the library's paired-row loop with its coefficients
// loaded per pair and held in registers;
// for the family also the float64 forms of the shifted stream and of the sum
// and sum of squares) and, for BatchNorm, a plain JS inference loop.
import { referenceEval } from "../reference.mjs";

/**
 * `k`: exports of bench/out/baselines.wasm (its own memory). For the family:
 * `jsLoop: false` (the JS loop is BatchNorm's inference), `float64: true`.
 */
export function baselineCells(k, shape, data, { jsLoop = true, float64 = false } = {}) {
  const n = data.x.length, padded = Math.ceil(n / 16) * 16, bytes = padded * 4;
  const x = k.alloc(bytes), dy = k.alloc(bytes), y = k.alloc(bytes), dx = k.alloc(bytes);
  new Float32Array(k.memory.buffer, x, n).set(data.x);
  new Float32Array(k.memory.buffer, dy, n).set(data.dy);
  const cells = [
    { name: "memory.copy", kind: "copy", run: () => k.copy(x, y, n * 4) },
    { name: "f32x4 stream", kind: "stream", run: () => k.stream(x, y, padded, 1.5, 0.25) },
    { name: "f32x4 shifted stream", kind: "stream", run: () => k.shiftedStream(x, y, padded, 0.5, 1.5, 0.25) },
    { name: "f32x4 sum", kind: "sum", run: () => k.sum(x, padded) },
    { name: "f32x4 sum and sum of squares", kind: "sumsq", run: () => k.sumSquares(x, padded) },
    { name: "f32x4 stream (2 in)", kind: "stream2", run: () => k.stream2(x, dy, dx, padded, 1.5, 0.25) },
    { name: "f32x4 sum (2 in)", kind: "sum2", run: () => k.sum2(x, dy, padded) },
  ];
  if (float64) {
    cells.push(
      { name: "f64x2 shifted stream", kind: "stream64", run: () => k.f64ShiftedStream(x, y, padded, 0.5, 1.5, 0.25) },
      { name: "f64x2 sum and sum of squares", kind: "sumsq64", run: () => k.f64SumSquares(x, padded, 0.5) },
    );
  }
  const { N, C, S, channelsLast } = shape.geometry;
  if (channelsLast && C % 8 === 0 && (N * S) % 2 === 0 && N * S >= 2) {
    const tables = k.alloc(C * 12);
    new Float32Array(k.memory.buffer, tables, 3 * C).fill(0.5);
    cells.push(
      { name: "f32x4 paired rows, coefficients loaded", kind: "stream", run: () => k.pairedRowsLoaded(x, y, N * S, C, tables, tables + C * 4, tables + C * 8) },
      { name: "f32x4 paired rows, coefficients held", kind: "stream", run: () => k.pairedRowsHeld(x, y, N * S, C, 0.5, 1.5, 0.25) },
    );
  }
  if (jsLoop) cells.push(jsLoopCell(shape, data));
  return { cells, dispose: () => {} };
}

/** Inference as a user would write it in plain JavaScript over Float32Arrays. */
function jsLoopCell(shape, data) {
  const { N, C, S, channelsLast } = shape.geometry;
  const { weight, bias, runningMean, runningVar, eps } = data.params;
  const scale = Float32Array.from(weight, (w, c) => w / Math.sqrt(runningVar[c] + eps));
  const shift = Float32Array.from(bias, (b, c) => b - runningMean[c] * scale[c]);
  const out = new Float32Array(data.x.length), x = data.x;
  const run = channelsLast
    ? () => {
      for (let r = 0; r < N * S; r++) for (let c = 0; c < C; c++) out[r * C + c] = x[r * C + c] * scale[c] + shift[c];
    }
    : () => {
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
        const a = scale[c], b = shift[c], base = (n * C + c) * S;
        for (let s = 0; s < S; s++) out[base + s] = x[base + s] * a + b;
      }
    };
  return { name: "JS loop eval", kind: "eval", run, output: () => out, expected: () => referenceEval(data.x, shape.geometry, data.params) };
}
