// One synchronized-BN worker's training steps, shared by the Node worker_threads
// test and the Chromium Web Workers test: the library (`lib`) and the exchange
// (an all-gather over postMessage: payload in, every rank's payload out, in
// rank order) are given. Data: the whole K*B batch from a seeded generator,
// this rank's slice of it.
import { seededRandom } from "../../../shared/random.mjs";

export const SETUP = { K: 4, B: 6, C: 5, S: 9, steps: 3 };

export function batchData(step, size) {
  const random = seededRandom(1000 + step);
  const x = new Float32Array(size), dy = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    x[i] = 2 + 3 * Math.sin(i * 0.37 + step) + (random() - 0.5);
    dy[i] = random() - 0.5;
  }
  return { x, dy };
}

export const WEIGHT = [1.5, 0.5, -1, 2, 0.25], BIAS = [0.1, -0.2, 0.3, 0, 1];

export async function runWorker(lib, rank, setup, exchange) {
  const { K, B, C, S, steps } = setup;
  await lib.init({ build: "simd" });
  const layer = new lib.BatchNorm(C);
  layer.weight.set(WEIGHT);
  layer.bias.set(BIAS);
  const sync = new lib.SyncBatchNorm(layer, (payload) => exchange(payload));
  const part = B * C * S;
  const out = { y: [], dx: [] };
  for (let step = 0; step < steps; step++) {
    const { x, dy } = batchData(step, K * part);
    const xt = lib.Tensor.from(x.subarray(rank * part, (rank + 1) * part), [B, C, S]);
    const dyt = lib.Tensor.from(dy.subarray(rank * part, (rank + 1) * part), [B, C, S]);
    const y = await sync.forward(xt);
    const dx = await sync.backward(dyt);
    out.y = Array.from(y.toFloat32Array());
    out.dx = Array.from(dx.toFloat32Array());
    for (const t of [xt, dyt, y, dx]) t.dispose();
  }
  const result = {
    ...out,
    weightGrad: Array.from(layer.weightGrad.toFloat32Array()), biasGrad: Array.from(layer.biasGrad.toFloat32Array()),
    runningMean: Array.from(layer.runningMean.toFloat32Array()), runningVar: Array.from(layer.runningVar.toFloat32Array()),
    numBatchesTracked: layer.numBatchesTracked,
  };
  layer.dispose();
  return result;
}

/** The single-process run on the K*B batch, for comparison. */
export async function runSingle(lib, setup) {
  const { K, B, C, S, steps } = setup;
  const layer = new lib.BatchNorm(C);
  layer.weight.set(WEIGHT);
  layer.bias.set(BIAS);
  const out = { y: [], dx: [] };
  for (let step = 0; step < steps; step++) {
    const { x, dy } = batchData(step, K * B * C * S);
    const xt = lib.Tensor.from(x, [K * B, C, S]), dyt = lib.Tensor.from(dy, [K * B, C, S]);
    const y = layer.forward(xt), dx = layer.backward(dyt);
    out.y = Array.from(y.toFloat32Array());
    out.dx = Array.from(dx.toFloat32Array());
    for (const t of [xt, dyt, y, dx]) t.dispose();
  }
  const result = {
    ...out,
    weightGrad: Array.from(layer.weightGrad.toFloat32Array()), biasGrad: Array.from(layer.biasGrad.toFloat32Array()),
    runningMean: Array.from(layer.runningMean.toFloat32Array()), runningVar: Array.from(layer.runningVar.toFloat32Array()),
    numBatchesTracked: layer.numBatchesTracked,
  };
  layer.dispose();
  return result;
}

/** Max |a - b| in units of float32 rounding at b (|b| * 2^-24, floored at `floor`). */
export function maxUlps(a, b, floor = 1e-6) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(floor * 2 ** -24, Math.abs(b[i]) * 2 ** -24));
  return worst;
}

/** Compares the workers' results (y and dx concatenated in rank order) with the single run. */
export function agreement(workers, single) {
  const y = workers.flatMap((w) => w.y), dx = workers.flatMap((w) => w.dx);
  const maxAbs = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  const per = (key) => Math.max(...workers.map((w) => maxAbs(w[key], single[key])));
  return {
    maxAbs: { y: maxAbs(y, single.y), dx: maxAbs(dx, single.dx), weightGrad: per("weightGrad"), biasGrad: per("biasGrad"), runningMean: per("runningMean"), runningVar: per("runningVar") },
    halfUlps: {
      y: maxUlps(y, single.y), dx: maxUlps(dx, single.dx),
      weightGrad: Math.max(...workers.map((w) => maxUlps(w.weightGrad, single.weightGrad))), biasGrad: Math.max(...workers.map((w) => maxUlps(w.biasGrad, single.biasGrad))),
      runningMean: Math.max(...workers.map((w) => maxUlps(w.runningMean, single.runningMean))), runningVar: Math.max(...workers.map((w) => maxUlps(w.runningVar, single.runningVar))),
    },
  };
}
