// The adaptation experiment, runtime-neutral (lib = batchnorm-wasm, data =
// shared/mnist.mjs's dataset): train on clean digits, then per shift and
// severity test (a) running statistics, (b) BN statistics re-estimated on the
// unlabeled shifted test set, (c) TENT (entropy minimization on BN weight and
// bias only, batch statistics, the library's backward).
import { seededRandom, } from "../../shared/random.mjs";
import { Model, softmax } from "./model.mjs";
import { SHIFTS, shiftImages } from "./shifts.mjs";

export const CONFIG = { seed: 7, trainSteps: 600, batch: 64, lr: 0.1, adaptBatch: 100, tentLr: 0.05, tentEpochs: 1 };

function accuracy(model, images, labels, count, batch, bnOptions) {
  let correct = 0;
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    const logits = model.forward(images.subarray(s * 784, (s + n) * 784), n, bnOptions);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < 10; j++) if (logits[i * 10 + j] > logits[i * 10 + best]) best = j;
      if (best === labels[s + i]) correct++;
    }
  }
  return correct / count;
}

export function train(lib, data, config = CONFIG, onProgress = () => {}) {
  const model = new Model(lib, config.seed, Math.max(config.batch, config.adaptBatch));
  const random = seededRandom(config.seed + 1);
  const images = Float32Array.from(data.train.images, (v) => v / 255);
  const { batch } = config;
  const x = new Float32Array(batch * 784), y = new Uint8Array(batch);
  for (let step = 1; step <= config.trainSteps; step++) {
    for (let i = 0; i < batch; i++) {
      const k = Math.floor(random() * data.train.count);
      x.set(images.subarray(k * 784, (k + 1) * 784), i * 784);
      y[i] = data.train.labels[k];
    }
    const logits = model.forward(x, batch);
    const p = softmax(logits, batch), d = new Float32Array(batch * 10);
    for (let i = 0; i < batch; i++) for (let j = 0; j < 10; j++) d[i * 10 + j] = (p[i * 10 + j] - (j === y[i] ? 1 : 0)) / batch;
    const grads = model.backward(d, batch, true);
    model.dense.forEach((layer, l) => {
      for (let i = 0; i < layer.w.length; i++) layer.w[i] -= config.lr * grads[l].dw[i];
      for (let i = 0; i < layer.b.length; i++) layer.b[i] -= config.lr * grads[l].db[i];
    });
    sgdBn(model, config.lr);
    if (step % 100 === 0 || step === config.trainSteps) onProgress({ step, of: config.trainSteps });
  }
  model.bns.forEach((bn) => bn.eval());
  return model;
}

function sgdBn(model, lr) {
  for (const bn of model.bns) {
    for (const [param, grad] of [[bn.weight, bn.weightGrad], [bn.bias, bn.biasGrad]]) {
      const values = param.toFloat32Array(), g = grad.toFloat32Array();
      for (let i = 0; i < values.length; i++) values[i] -= lr * g[i];
      param.set(values);
    }
    bn.zeroGrad();
  }
}

/** Per-channel BN input statistics of layer 0 on `images`: mean and variance (population). */
function layerStatistics(lib, model, images, count, batch) {
  const pops = model.bns.map((bn) => new lib.PopulationStatistics(bn.numFeatures));
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    model.forward(images.subarray(s * 784, (s + n) * 784), n, { stats: "batch", updateRunningStats: false });
    model.bns.forEach((bn, l) => pops[l].add(bn.lastBatchStatistics));
  }
  return pops;
}

/** (b): exact statistics of the unlabeled target set, merged per layer (PopulationStatistics), into the running statistics. */
function reestimate(lib, model, images, count, batch) {
  const pops = layerStatistics(lib, model, images, count, batch);
  pops.forEach((pop, l) => pop.applyTo(model.bns[l]));
  return pops;
}

/** (c) TENT, online: each target batch is predicted with batch statistics, then one entropy step on BN weight and bias. */
function tent(model, images, labels, count, config) {
  const batch = config.adaptBatch;
  let correct = 0, steps = 0, time = 0;
  for (let epoch = 0; epoch < config.tentEpochs; epoch++) {
    correct = 0;
    for (let s = 0; s < count; s += batch) {
      const n = Math.min(batch, count - s);
      const t0 = performance.now();
      const logits = model.forward(images.subarray(s * 784, (s + n) * 784), n, { stats: "batch", updateRunningStats: false });
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let j = 1; j < 10; j++) if (logits[i * 10 + j] > logits[i * 10 + best]) best = j;
        if (best === labels[s + i]) correct++;
      }
      // H = -sum p log p per row, mean over the batch; dH/dz_j = -p_j (log p_j + H).
      const p = softmax(logits, n), d = new Float32Array(n * 10);
      for (let i = 0; i < n; i++) {
        let h = 0;
        for (let j = 0; j < 10; j++) h -= p[i * 10 + j] * Math.log(p[i * 10 + j] + 1e-30);
        for (let j = 0; j < 10; j++) d[i * 10 + j] = (-p[i * 10 + j] * (Math.log(p[i * 10 + j] + 1e-30) + h)) / n;
      }
      model.backward(d, n);
      sgdBn(model, config.tentLr);
      time += performance.now() - t0;
      steps++;
    }
  }
  return { accuracy: correct / count, steps, msPerStep: time / steps };
}

/** Runs everything; onRow is called per (shift, severity) with the three accuracies. */
export function runAdaptation(lib, data, config = CONFIG, { onProgress = () => {}, onRow = () => {} } = {}) {
  const t0 = performance.now();
  const model = train(lib, data, config, onProgress);
  const trainSeconds = (performance.now() - t0) / 1000;
  const source = model.bnState();
  const { count, labels } = data.test;
  const clean = shiftImages(data.test.images, count, null, 0, 0);
  const sourceStats = layerStatistics(lib, model, clean, count, config.adaptBatch)[0];
  const rows = [];
  const cases = [{ shift: null, severity: 0 }, ...SHIFTS.flatMap((shift) => [1, 2, 3].map((severity) => ({ shift, severity })))];
  let reestimateMs = 0;
  for (const { shift, severity } of cases) {
    const images = shift ? shiftImages(data.test.images, count, shift, severity, 100 + severity) : clean;
    model.loadBnState(source);
    const running = accuracy(model, images, labels, count, config.adaptBatch);
    const r0 = performance.now();
    const pops = reestimate(lib, model, images, count, config.adaptBatch);
    reestimateMs += performance.now() - r0;
    const reestimated = accuracy(model, images, labels, count, config.adaptBatch);
    model.loadBnState(source);
    const tented = tent(model, images, labels, count, config);
    const target = pops[0];
    const sMean = sourceStats.mean, sVar = sourceStats.variance(), tMean = target.mean, tVar = target.variance();
    let drift = 0, logVar = 0;
    for (let c = 0; c < sMean.length; c++) {
      drift += Math.abs(tMean[c] - sMean[c]) / Math.sqrt(sVar[c] + 1e-5);
      logVar += Math.abs(Math.log((tVar[c] + 1e-5) / (sVar[c] + 1e-5)));
    }
    const row = {
      shift: shift ? shift.name : "clean", severity, level: shift ? shift.levels[severity - 1] : "", running, reestimated, tent: tented.accuracy,
      tentSteps: tented.steps, tentMsPerStep: tented.msPerStep,
      drift: { meanShift: drift / sMean.length, logVarRatio: logVar / sMean.length, channels: Array.from(sMean.slice(0, 32), (m, c) => ({ source: m, target: tMean[c], sourceStd: Math.sqrt(sVar[c]), targetStd: Math.sqrt(tVar[c]) })) },
    };
    rows.push(row);
    onRow(row, rows.length, cases.length);
  }
  model.dispose();
  return { config, rows, trainSeconds, reestimateMsPerCase: reestimateMs / cases.length, seconds: (performance.now() - t0) / 1000 };
}
