// Issue 14: stats / updateRunningStats decoupled from the mode, exact population
// statistics, synchronized BN (simulated workers in one process; real workers
// are test/node/sync-workers.test.ts), batch renormalization, ghost batch norm
// and the single-sample policy, against a float64 reference.
import { beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, BatchRenorm, GhostBatchNorm, SyncBatchNorm, Tensor, init, localStatistics, mergeStatistics, recomputeStatistics,
  PopulationStatistics, liveTensorCount, type StatisticsPayload, type GradientPayload,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { caughtError } from "../support/errors.ts";
import { normalArray, seededRandom } from "../support/random.ts";

beforeAll(async () => {
  await init({ build: testBuild() });
});

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
};
/** Max over elements of |a - b| / (ulp of float32 at b), b the reference. */
const maxUlps = (a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-30) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(floor, Math.abs(b[i]) * 2 ** -23));
  return worst;
};

/** Float64 reference of one BN normalization of channels-first x [N, C, S] with r, d corrections. */
function reference(x: Float32Array, dy: Float32Array, N: number, C: number, S: number, w: number[], b: number[], eps: number,
  corrections?: { rm: number[]; rv: number[]; rmax: number; dmax: number }) {
  const m = N * S, y = new Float64Array(x.length), dx = new Float64Array(x.length);
  const dw = new Float64Array(C), db = new Float64Array(C), mean = new Float64Array(C), variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const idx: number[] = [];
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) idx.push((n * C + c) * S + s);
    const mu = idx.reduce((a, i) => a + x[i], 0) / m;
    const v = idx.reduce((a, i) => a + (x[i] - mu) ** 2, 0) / m;
    const sigmaB = Math.sqrt(v + eps);
    let r = 1, d = 0;
    if (corrections) {
      const sigma = Math.sqrt(corrections.rv[c] + eps);
      r = Math.min(corrections.rmax, Math.max(1 / corrections.rmax, sigmaB / sigma));
      d = Math.min(corrections.dmax, Math.max(-corrections.dmax, (mu - corrections.rm[c]) / sigma));
    }
    mean[c] = mu;
    variance[c] = v;
    let sumDy = 0, sumDyU = 0;
    for (const i of idx) {
      const u = (x[i] - mu) / sigmaB;
      y[i] = w[c] * (u * r + d) + b[c];
      sumDy += dy[i];
      sumDyU += dy[i] * u;
    }
    db[c] = sumDy;
    dw[c] = r * sumDyU + d * sumDy;
    // r and d constants: dx = w r / sigmaB / m (m dy - sum dy - u sum dy u)
    for (const i of idx) dx[i] = ((w[c] * r) / sigmaB / m) * (m * dy[i] - sumDy - ((x[i] - mu) / sigmaB) * sumDyU);
  }
  return { y, dx, dw, db, mean, variance };
}

function data(seed: number, size: number, mean = 0.5, std = 2) {
  return normalArray(seededRandom(seed), size, mean, std);
}

describe("stats and updateRunningStats", () => {
  it("torch's behaviour is the default; each choice is orthogonal to train()/eval(), per layer and per call", () => {
    const shape = [6, 3, 4];
    const xs = data(1, 72, 1, 3);
    const x = Tensor.from(xs, shape);
    const plain = new BatchNorm(3), layer = new BatchNorm(3);
    const same = (a: Tensor, b: Tensor) => expect(Array.from(a.toFloat32Array())).toEqual(Array.from(b.toFloat32Array()));
    // Default = torch: training updates, eval does not.
    same(plain.forward(x), layer.forward(x));
    same(plain.runningMean!, layer.runningMean!);
    expect(layer.stats).toBeNull();
    expect(layer.updateRunningStats).toBeNull();
    // Eval mode with batch statistics, no update (TENT's forward).
    layer.eval();
    const before = layer.runningMean!.toFloat32Array();
    const yb = layer.forward(x, { stats: "batch" });
    const fresh = new BatchNorm(3);
    same(yb, fresh.forward(x));
    expect(Array.from(layer.runningMean!.toFloat32Array())).toEqual(Array.from(before));
    expect(layer.numBatchesTracked).toBe(1);
    // Per call: eval, batch statistics, update: the running statistics move as in training.
    layer.forward(x, { stats: "batch", updateRunningStats: true });
    plain.forward(x);
    same(layer.runningMean!, plain.runningMean!);
    same(layer.runningVar!, plain.runningVar!);
    expect(layer.numBatchesTracked).toBe(2);
    // Training mode, running statistics, no update: equals eval output.
    layer.train();
    layer.stats = "running";
    layer.updateRunningStats = false;
    plain.eval();
    same(layer.forward(x), plain.forward(x));
    expect(layer.numBatchesTracked).toBe(2);
    // Running statistics normalize and this batch updates them afterwards (BN adaptation's streaming form).
    const adapt = new BatchNorm(3, { stats: "running", updateRunningStats: true });
    const ref = new BatchNorm(3);
    ref.eval();
    same(adapt.forward(x), ref.forward(x)); // normalized with the statistics before the update
    ref.train();
    ref.forward(x);
    same(adapt.runningMean!, ref.runningMean!);
    same(adapt.runningVar!, ref.runningVar!);
    expect(adapt.lastBatchStatistics!.count).toBe(24);
    // Backward follows the statistics used: batch statistics in eval mode backprop through them.
    const e = new BatchNorm(3);
    e.eval();
    const t = new BatchNorm(3);
    const dy = Tensor.from(data(2, 72), shape);
    e.forward(x, { stats: "batch" });
    t.forward(x);
    same(e.backward(dy), t.backward(dy));
    same(e.weightGrad!, t.weightGrad!);
    for (const l of [plain, layer, fresh, adapt, ref, e, t]) l.dispose();
  });

  it("refuses bad choices with typed errors and changes nothing", () => {
    const noStats = new BatchNorm(2, { trackRunningStats: false });
    const x = Tensor.from(data(3, 8), [4, 2]);
    expect(caughtError(() => noStats.forward(x, { stats: "running" }))).toMatchObject({ code: "ERR_ARGUMENT", argument: "options.stats" });
    expect(caughtError(() => noStats.forward(x, { updateRunningStats: true }))).toMatchObject({ code: "ERR_ARGUMENT", argument: "options.updateRunningStats" });
    expect(caughtError(() => { noStats.stats = "running"; })).toMatchObject({ code: "ERR_ARGUMENT", argument: "stats" });
    expect(caughtError(() => new BatchNorm(2, { stats: "both" as never }))).toMatchObject({ code: "ERR_ARGUMENT", argument: "options.stats" });
    expect(caughtError(() => new BatchNorm(2, { singleSample: "running", trackRunningStats: false }))).toMatchObject({ argument: "options.singleSample" });
    const layer = new BatchNorm(2);
    const live = liveTensorCount();
    expect(caughtError(() => layer.forward(x, { stats: "batch", updateRunningStats: "yes" as never }))).toMatchObject({ argument: "options.updateRunningStats" });
    expect(caughtError(() => layer.forward(x, { sats: "batch" } as never))).toMatchObject({ argument: "options.sats" });
    expect(liveTensorCount()).toBe(live);
    expect(layer.numBatchesTracked).toBe(0);
    expect(noStats.stats).toBeNull();
    noStats.dispose();
    layer.dispose();
    x.dispose();
  });
});

describe("single-sample policy", () => {
  it("throw (default), running, and ONNX's variance 0", () => {
    const one = Tensor.from([[1, -2, 3]]);
    const thrower = new BatchNorm(3);
    expect(caughtError(() => thrower.forward(one))).toMatchObject({ code: "ERR_SINGLE_VALUE", argument: "x" });
    expect(thrower.numBatchesTracked).toBe(0);
    const running = new BatchNorm(3, { singleSample: "running" });
    running.weight!.set([2, 2, 2]);
    const y = running.forward(one).toFloat32Array();
    const expected = [1, -2, 3].map((v) => Math.fround(2 * Math.fround(1 / Math.sqrt(1 + 1e-5)) * v));
    expect(maxAbs(y, expected)).toBeLessThan(1e-6);
    expect(running.numBatchesTracked).toBe(0);
    const onnx = new BatchNorm(3, { singleSample: "zero-variance", momentum: 0.5 });
    onnx.bias!.set([0.5, -1, 7]);
    expect(Array.from(onnx.forward(one).toFloat32Array())).toEqual([0.5, -1, 7]);
    expect(Array.from(onnx.backward(Tensor.from([[1, 2, 3]])).toFloat32Array())).toEqual([0, 0, 0]);
    expect(Array.from(onnx.runningMean!.toFloat32Array())).toEqual([0.5, -1, 1.5]);
    expect(Array.from(onnx.runningVar!.toFloat32Array())).toEqual([0.5, 0.5, 0.5]); // variance 0 folded in
    for (const l of [thrower, running, onnx]) l.dispose();
    one.dispose();
  });
});

describe("population statistics", () => {
  it("recomputeStatistics gives the exact statistics of the whole set, independent of the split", () => {
    const C = 4, S = 6, total = 60;
    const xs = data(7, total * C * S, 1e3, 5); // offset data: the merge must not cancel
    const splits = [[60], [1, 59], [7, 13, 40], Array(30).fill(2), [17, 17, 17, 9]];
    const results: { mean: Float32Array; variance: Float32Array; pop: PopulationStatistics }[] = [];
    for (const sizes of splits) {
      const layer = new BatchNorm(C);
      layer.runningMean!.set([9, 9, 9, 9]);
      let start = 0;
      const tensors = sizes.map((n) => {
        const t = Tensor.from(xs.subarray(start * C * S, (start + n) * C * S), [n, C, S]);
        start += n;
        return t;
      });
      const pop = recomputeStatistics(layer, tensors);
      results.push({ mean: layer.runningMean!.toFloat32Array(), variance: layer.runningVar!.toFloat32Array(), pop });
      tensors.forEach((t) => t.dispose());
      layer.dispose();
    }
    // float64 reference
    const ref = reference(xs, new Float32Array(xs.length), total, C, S, [1, 1, 1, 1], [0, 0, 0, 0], 1e-5);
    const m = total * S;
    let worstMean = 0, worstVar = 0;
    for (const r of results) {
      worstMean = Math.max(worstMean, maxAbs(r.pop.mean, ref.mean) / 1e3);
      worstVar = Math.max(worstVar, maxAbs(r.pop.variance(true), Array.from(ref.variance, (v) => (v * m) / (m - 1))) / 25);
      expect(Array.from(r.mean)).toEqual(Array.from(ref.mean, Math.fround));
      expect(Array.from(r.variance)).toEqual(Array.from(ref.variance, (v) => Math.fround((v * m) / (m - 1))));
    }
    console.log(`population statistics split invariance (5 splits, offset 1e3): relative float64 spread mean ${worstMean.toExponential(1)}, variance ${worstVar.toExponential(1)}`);
    expect(worstMean).toBeLessThan(1e-14);
    expect(worstVar).toBeLessThan(1e-12);
  });

  it("biased variance for runningVariance biased; a bad batch changes nothing", () => {
    const layer = new BatchNorm(2, { runningVariance: "biased" });
    const a = Tensor.from([[1, 2], [3, 6]]), b = Tensor.from([[5, 10]]);
    recomputeStatistics(layer, [a, b]);
    expect(Array.from(layer.runningMean!.toFloat32Array())).toEqual([3, 6]);
    expect(Array.from(layer.runningVar!.toFloat32Array())).toEqual([Math.fround(8 / 3), Math.fround(32 / 3)]);
    const wrong = Tensor.from([[1, 2, 3], [4, 5, 6]]);
    expect(caughtError(() => recomputeStatistics(layer, [a, wrong]))).toMatchObject({ code: "ERR_CHANNELS", argument: "batches[1]" });
    expect(Array.from(layer.runningMean!.toFloat32Array())).toEqual([3, 6]);
    expect(caughtError(() => recomputeStatistics(layer, 5 as never))).toMatchObject({ argument: "batches" });
    for (const t of [a, b, wrong]) t.dispose();
    layer.dispose();
  });
});

describe("synchronized BN (simulated workers)", () => {
  async function runSync(K: number, B: number, C: number, S: number, steps: number, order?: number[]) {
    const random = seededRandom(11);
    const w = Array.from({ length: C }, () => 0.5 + random()), b = Array.from({ length: C }, () => random() - 0.5);
    const layers = Array.from({ length: K }, () => new BatchNorm(C));
    for (const l of layers) { l.weight!.set(w); l.bias!.set(b); }
    // A barrier all-reduce: gathers every worker's payload, replies with all of them in rank order.
    let pending: { payload: unknown; resolve: (v: unknown) => void }[] = [];
    const syncs = layers.map((l, rank) => new SyncBatchNorm(l, (payload) => new Promise((resolve) => {
      pending[rank] = { payload, resolve: resolve as (v: unknown) => void };
      if (pending.filter(Boolean).length === K) {
        const all = (order ?? pending.map((_, i) => i)).map((i) => pending[i].payload);
        const done = pending;
        pending = [];
        done.forEach((p) => p.resolve(all));
      }
    }) as Promise<StatisticsPayload[] | GradientPayload[]>));
    const single = new BatchNorm(C);
    single.weight!.set(w); single.bias!.set(b);
    const out = { y: [] as number[], dx: [] as number[], single: { y: [] as number[], dx: [] as number[] } };
    for (let step = 0; step < steps; step++) {
      const xs = data(100 + step, K * B * C * S, 3, 2), dys = data(200 + step, K * B * C * S);
      const part = B * C * S;
      const results = await Promise.all(syncs.map(async (sync, k) => {
        const x = Tensor.from(xs.subarray(k * part, (k + 1) * part), [B, C, S]);
        const dy = Tensor.from(dys.subarray(k * part, (k + 1) * part), [B, C, S]);
        const y = await sync.forward(x);
        const dx = await sync.backward(dy);
        const r = { y: y.toFloat32Array(), dx: dx.toFloat32Array() };
        for (const t of [x, dy, y, dx]) t.dispose();
        return r;
      }));
      out.y = results.flatMap((r) => Array.from(r.y));
      out.dx = results.flatMap((r) => Array.from(r.dx));
      const x = Tensor.from(xs, [K * B, C, S]), dy = Tensor.from(dys, [K * B, C, S]);
      const y = single.forward(x), dx = single.backward(dy);
      out.single = { y: Array.from(y.toFloat32Array()), dx: Array.from(dx.toFloat32Array()) };
      for (const t of [x, dy, y, dx]) t.dispose();
    }
    const state = (l: BatchNorm) => ({ wg: Array.from(l.weightGrad!.toFloat32Array()), bg: Array.from(l.biasGrad!.toFloat32Array()), rm: Array.from(l.runningMean!.toFloat32Array()), rv: Array.from(l.runningVar!.toFloat32Array()), n: l.numBatchesTracked });
    const result = { ...out, workers: layers.map(state), reference: state(single) };
    for (const l of [...layers, single]) l.dispose();
    return result;
  }

  it("K workers of batch B give the K*B batch's y, dx, gradients and running statistics", async () => {
    const K = 4, B = 3, C = 5, S = 7;
    const run = await runSync(K, B, C, S, 3);
    const again = await runSync(K, B, C, S, 3);
    expect(again).toEqual(run); // bit-identical run after run
    const figures = {
      y: maxUlps(run.y, run.single.y, 1e-6), dx: maxUlps(run.dx, run.single.dx, 1e-6),
      weightGrad: Math.max(...run.workers.map((w) => maxUlps(w.wg, run.reference.wg, 1e-6))),
      biasGrad: Math.max(...run.workers.map((w) => maxUlps(w.bg, run.reference.bg, 1e-6))),
      runningMean: Math.max(...run.workers.map((w) => maxUlps(w.rm, run.reference.rm))),
      runningVar: Math.max(...run.workers.map((w) => maxUlps(w.rv, run.reference.rv))),
    };
    console.log(`sync BN (in-process, K=${K}, B=${B}, 3 steps) max float32 ulps from the single-process run: ${JSON.stringify(figures)}`);
    for (const v of Object.values(figures)) expect(v).toBeLessThanOrEqual(2);
    for (const w of run.workers) expect(w).toEqual(run.workers[0]);
    expect(run.workers[0].n).toBe(3);
    // Another merge order: equal up to float64 rounding (so float32 outputs within an ulp).
    const shuffled = await runSync(K, B, C, S, 3, [2, 0, 3, 1]);
    expect(maxUlps(shuffled.y, run.y, 1e-6)).toBeLessThanOrEqual(1);
  });

  it("mergeStatistics is Chan's rule; payloads are plain and checked", () => {
    const x = Tensor.from(data(5, 40, 10, 3), [10, 4]);
    const a = Tensor.from(x.toFloat32Array().subarray(0, 12), [3, 4]), b = Tensor.from(x.toFloat32Array().subarray(12), [7, 4]);
    const whole = localStatistics(x), merged = mergeStatistics([localStatistics(a), localStatistics(b)]);
    expect(merged.count).toBe(10);
    expect(maxAbs(merged.mean, whole.mean)).toBeLessThan(1e-13);
    expect(maxAbs(merged.m2, whole.m2)).toBeLessThan(1e-11);
    expect(JSON.parse(JSON.stringify(merged))).toEqual(merged);
    expect(caughtError(() => mergeStatistics([]))).toMatchObject({ argument: "payloads" });
    expect(caughtError(() => mergeStatistics([whole, { count: 2, mean: [1], m2: [0] }]))).toMatchObject({ code: "ERR_CHANNELS", argument: "payloads[1].mean" });
    const layer = new BatchNorm(4);
    const sync = new SyncBatchNorm(layer);
    expect(caughtError(() => sync.forwardWithStatistics(x, { count: 3, mean: whole.mean, m2: whole.m2 }))).toMatchObject({ argument: "statistics.count" });
    expect(layer.numBatchesTracked).toBe(0);
    const y = sync.forwardWithStatistics(x, whole);
    expect(maxAbs(y.toFloat32Array(), new BatchNorm(4).forward(x).toFloat32Array())).toBeLessThan(1e-6);
    for (const t of [x, a, b, y]) t.dispose();
    layer.dispose();
  });
});

describe("batch renormalization", () => {
  it("matches the float64 reference (forward, backward with r and d constants, running statistics)", () => {
    const N = 8, C = 3, S = 5;
    const layer = new BatchRenorm(C, { rmax: 1.5, dmax: 0.5, momentum: 0.2 });
    const w = [1.5, -0.5, 2], b = [0.1, 0.2, -0.3];
    layer.weight!.set(w); layer.bias!.set(b);
    let worst = { y: 0, dx: 0, dw: 0, db: 0 };
    let clipped = 0;
    let rm = [0, 0, 0], rv = [1, 1, 1];
    for (let step = 0; step < 4; step++) {
      const xs = data(300 + step, N * C * S, step - 1, 0.5 + step), dys = data(400 + step, N * C * S);
      const x = Tensor.from(xs, [N, C, S]), dy = Tensor.from(dys, [N, C, S]);
      layer.zeroGrad();
      const y = layer.forward(x), dx = layer.backward(dy);
      const ref = reference(xs, dys, N, C, S, w, b, 1e-5, { rm, rv, rmax: 1.5, dmax: 0.5 });
      ref.mean.forEach((mu, c) => {
        const sigma = Math.sqrt(rv[c] + 1e-5);
        if (Math.abs((mu - rm[c]) / sigma) > 0.5 || Math.sqrt(ref.variance[c] + 1e-5) / sigma > 1.5) clipped++;
      });
      worst = {
        y: Math.max(worst.y, maxUlps(y.toFloat32Array(), ref.y, 1e-6)), dx: Math.max(worst.dx, maxUlps(dx.toFloat32Array(), ref.dx, 1e-6)),
        dw: Math.max(worst.dw, maxUlps(layer.weightGrad!.toFloat32Array(), ref.dw, 1e-6)), db: Math.max(worst.db, maxUlps(layer.biasGrad!.toFloat32Array(), ref.db, 1e-6)),
      };
      const m = N * S;
      rm = rm.map((v, c) => Math.fround(0.2 * ref.mean[c] + 0.8 * v));
      rv = rv.map((v, c) => Math.fround(0.2 * ((ref.variance[c] * m) / (m - 1)) + 0.8 * v));
      expect(Array.from(layer.runningMean!.toFloat32Array())).toEqual(rm);
      expect(maxUlps(layer.runningVar!.toFloat32Array(), rv)).toBeLessThanOrEqual(1);
      for (const t of [x, dy, y, dx]) t.dispose();
    }
    console.log(`batch renorm vs float64 reference (4 steps, ${clipped} clipped channel-steps): max float32 ulps ${JSON.stringify(worst)}`);
    expect(clipped).toBeGreaterThan(0);
    for (const v of Object.values(worst)) expect(v).toBeLessThanOrEqual(1);
    layer.dispose();
  });

  it("rmax 1, dmax 0 is plain BN; a schedule sets the limits per step; bad limits are refused", () => {
    const x = Tensor.from(data(9, 60, 2, 3), [10, 6]), dy = Tensor.from(data(10, 60), [10, 6]);
    const renorm = new BatchRenorm(6), plain = new BatchNorm(6);
    expect(maxUlps(renorm.forward(x).toFloat32Array(), plain.forward(x).toFloat32Array(), 1e-6)).toBeLessThanOrEqual(1);
    expect(maxUlps(renorm.backward(dy).toFloat32Array(), plain.backward(dy).toFloat32Array(), 1e-6)).toBeLessThanOrEqual(1);
    const steps: number[] = [];
    const scheduled = new BatchRenorm(6, { schedule: (step) => { steps.push(step); return { rmax: 1 + step, dmax: step }; } });
    scheduled.forward(x).dispose();
    scheduled.forward(x).dispose();
    expect(steps).toEqual([0, 1]);
    expect([scheduled.rmax, scheduled.dmax]).toEqual([2, 1]);
    expect(caughtError(() => { renorm.rmax = 0.5; })).toMatchObject({ argument: "rmax" });
    expect(caughtError(() => new BatchRenorm(6, { dmax: -1 }))).toMatchObject({ argument: "options.dmax" });
    const live = liveTensorCount();
    const bad = new BatchRenorm(6, { schedule: () => ({ rmax: 0, dmax: 0 }) });
    const tracked = bad.numBatchesTracked;
    expect(caughtError(() => bad.forward(x))).toMatchObject({ argument: "schedule().rmax" });
    expect(bad.numBatchesTracked).toBe(tracked);
    bad.dispose();
    expect(liveTensorCount()).toBe(live);
    for (const l of [renorm, plain, scheduled]) l.dispose();
    x.dispose(); dy.dispose();
  });
});

describe("ghost batch norm", () => {
  it("each ghost batch is normalized and folded in on its own; inference unchanged", () => {
    const N = 10, C = 3, S = 4, G = 4; // ghosts of 4, 4, 2
    const xs = data(21, N * C * S, 1, 2), dys = data(22, N * C * S);
    const ghost = new GhostBatchNorm(C, { virtualBatchSize: G });
    const perChunk = new BatchNorm(C);
    const x = Tensor.from(xs, [N, C, S]), dy = Tensor.from(dys, [N, C, S]);
    const y = ghost.forward(x).toFloat32Array(), dx = ghost.backward(dy).toFloat32Array();
    const ys: number[] = [], dxs: number[] = [];
    const wg = new Float64Array(C);
    const part = C * S;
    for (const [n0, n] of [[0, 4], [4, 4], [8, 2]]) {
      const xc = Tensor.from(xs.subarray(n0 * part, (n0 + n) * part), [n, C, S]), dyc = Tensor.from(dys.subarray(n0 * part, (n0 + n) * part), [n, C, S]);
      const ref = reference(xc.toFloat32Array(), dyc.toFloat32Array(), n, C, S, [1, 1, 1], [0, 0, 0], 1e-5);
      ys.push(...ref.y); dxs.push(...ref.dx);
      ref.dw.forEach((v, c) => (wg[c] += v));
      perChunk.forward(xc).dispose();
      for (const t of [xc, dyc]) t.dispose();
    }
    const figures = { y: maxUlps(y, ys, 1e-6), dx: maxUlps(dx, dxs, 1e-6), weightGrad: maxUlps(ghost.weightGrad!.toFloat32Array(), wg, 1e-6) };
    console.log(`ghost BN (N=${N}, virtual batch ${G}) vs float64 reference per ghost batch: max float32 ulps ${JSON.stringify(figures)}`);
    for (const v of Object.values(figures)) expect(v).toBeLessThanOrEqual(1);
    expect(ghost.numBatchesTracked).toBe(3);
    expect(maxUlps(ghost.runningMean!.toFloat32Array(), perChunk.runningMean!.toFloat32Array(), 1e-7)).toBeLessThanOrEqual(1);
    expect(maxUlps(ghost.runningVar!.toFloat32Array(), perChunk.runningVar!.toFloat32Array())).toBeLessThanOrEqual(1);
    ghost.eval(); perChunk.eval();
    expect(Array.from(ghost.forward(x).toFloat32Array())).toEqual(Array.from(perChunk.forward(x).toFloat32Array()));
    // A last ghost batch of one value per channel follows the single-sample policy.
    const odd = new GhostBatchNorm(2, { virtualBatchSize: 2 });
    const three = Tensor.from([[1, 2], [3, 4], [5, 6]]);
    expect(caughtError(() => odd.forward(three))).toMatchObject({ code: "ERR_SINGLE_VALUE", argument: "x" });
    expect(odd.numBatchesTracked).toBe(0);
    expect(caughtError(() => new GhostBatchNorm(2, { virtualBatchSize: 0 }))).toMatchObject({ argument: "options.virtualBatchSize" });
    for (const l of [ghost, perChunk, odd]) l.dispose();
    for (const t of [x, dy, three]) t.dispose();
  });
});
