// The adaptation experiment, runtime-neutral (lib = batchnorm-wasm, data =
// shared/mnist.mjs's dataset): train on clean digits, then per shift and
// severity test (a) running statistics, (b) BN statistics re-estimated on the
// unlabeled shifted test set, (c) TENT (entropy minimization on BN weight and
// bias only, batch statistics, the library's backward). The terminal
// (run.mjs) drives it in one go; the live page (page/main.mjs) steps the
// generator and yields to the browser between steps.
import { seededRandom } from "../../shared/random.mjs";
import { Model, softmax } from "./model.mjs";
import { SHIFTS, shiftImages } from "./shifts.mjs";

// shifts: names of SHIFTS to test (null: all); testCount: the first N test digits (null: all).
export const CONFIG = { seed: 7, trainSteps: 600, batch: 64, lr: 0.1, adaptBatch: 100, tentLr: 0.05, tentEpochs: 1, shifts: null, testCount: null };

// Shift names compared on letters only, so "gaussian noise", "gaussian-noise"
// and a URL's "contrast+brightness" (decoded as a space) all match.
const shiftKey = (name) => name.toLowerCase().replace(/[^a-z]/g, "");

/** The cases a config tests: clean first, then every chosen shift (in SHIFTS order) at severities 1..3. */
export function adaptationCases(config = CONFIG) {
  const wanted = config.shifts?.map(shiftKey);
  const unknown = wanted?.filter((k) => !SHIFTS.some((s) => shiftKey(s.name) === k));
  if (unknown?.length) throw new Error(`unknown shift ${JSON.stringify(config.shifts)}; known: ${SHIFTS.map((s) => s.name).join(", ")}`);
  const chosen = wanted ? SHIFTS.filter((s) => wanted.includes(shiftKey(s.name))) : SHIFTS;
  return [{ shift: null, severity: 0 }, ...chosen.flatMap((shift) => [1, 2, 3].map((severity) => ({ shift, severity })))];
}

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

/**
 * CONFIG with the settings the terminal (--steps N --shifts a,b --test N) and
 * the page (?steps=N&shifts=a,b&test=N) share; `get(name)` returns the string or null.
 */
export function configFrom(get) {
  const number = (name, fallback) => {
    const v = get(name);
    if (v == null || v === "") return fallback;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const shifts = get("shifts");
  return { ...CONFIG, trainSteps: number("steps", CONFIG.trainSteps), testCount: number("test", CONFIG.testCount), shifts: shifts ? shifts.split(",").map((s) => s.trim()).filter(Boolean) : CONFIG.shifts };
}

/** Trains on clean digits; yields { type: "progress", step, of } every 10 steps, returns the model (BN in eval mode). */
function* trainSteps(lib, data, config) {
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
    if (step % 10 === 0 || step === config.trainSteps) yield { type: "progress", step, of: config.trainSteps };
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

/**
 * The whole experiment as a generator: yields { type: "progress", step, of }
 * while training, then per case (shift, severity) { type: "row", row, index, of }
 * three times as (a), (b) and (c) are measured (the row grows: running, then
 * reestimated, then tent and the drift; `row.done` on the last); returns the
 * result. Timings cover only the measured work, not the time between steps.
 */
export function* adaptationSteps(lib, data, config = CONFIG) {
  const cases = adaptationCases(config);
  let busy = 0, mark = performance.now();
  const pause = function* (event) { busy += performance.now() - mark; yield event; mark = performance.now(); };
  const training = trainSteps(lib, data, config);
  let next;
  while (!(next = training.next()).done) yield* pause(next.value);
  const model = next.value;
  busy += performance.now() - mark;
  mark = performance.now();
  const trainSeconds = busy / 1000;
  const source = model.bnState();
  const count = Math.min(config.testCount ?? data.test.count, data.test.count);
  const labels = data.test.labels.subarray(0, count);
  const clean = shiftImages(data.test.images, count, null, 0, 0);
  const sourceStats = layerStatistics(lib, model, clean, count, config.adaptBatch)[0];
  const rows = [];
  let reestimateMs = 0;
  for (const { shift, severity } of cases) {
    const index = rows.length + 1;
    const row = { shift: shift ? shift.name : "clean", severity, level: shift ? shift.levels[severity - 1] : "", done: false };
    const images = shift ? shiftImages(data.test.images, count, shift, severity, 100 + severity) : clean;
    model.loadBnState(source);
    row.running = accuracy(model, images, labels, count, config.adaptBatch);
    yield* pause({ type: "row", row, index, of: cases.length });
    const r0 = performance.now();
    const pops = reestimate(lib, model, images, count, config.adaptBatch);
    reestimateMs += performance.now() - r0;
    row.reestimated = accuracy(model, images, labels, count, config.adaptBatch);
    yield* pause({ type: "row", row, index, of: cases.length });
    model.loadBnState(source);
    const tented = tent(model, images, labels, count, config);
    const target = pops[0];
    const sMean = sourceStats.mean, sVar = sourceStats.variance(), tMean = target.mean, tVar = target.variance();
    let drift = 0, logVar = 0;
    for (let c = 0; c < sMean.length; c++) {
      drift += Math.abs(tMean[c] - sMean[c]) / Math.sqrt(sVar[c] + 1e-5);
      logVar += Math.abs(Math.log((tVar[c] + 1e-5) / (sVar[c] + 1e-5)));
    }
    Object.assign(row, {
      tent: tented.accuracy, tentSteps: tented.steps, tentMsPerStep: tented.msPerStep,
      drift: { meanShift: drift / sMean.length, logVarRatio: logVar / sMean.length, channels: Array.from(sMean.slice(0, 32), (m, c) => ({ source: m, target: tMean[c], sourceStd: Math.sqrt(sVar[c]), targetStd: Math.sqrt(tVar[c]) })) },
      done: true,
    });
    rows.push(row);
    yield* pause({ type: "row", row, index, of: cases.length });
  }
  model.dispose();
  busy += performance.now() - mark;
  return { config, testCount: count, rows, trainSeconds, reestimateMsPerCase: reestimateMs / cases.length, seconds: busy / 1000 };
}

/** Runs everything at once (the terminal); onProgress every 100 training steps, onRow per finished case. */
export function runAdaptation(lib, data, config = CONFIG, { onProgress = () => {}, onRow = () => {} } = {}) {
  const steps = adaptationSteps(lib, data, config);
  let next;
  while (!(next = steps.next()).done) {
    const event = next.value;
    if (event.type === "progress" && (event.step % 100 === 0 || event.step === event.of)) onProgress(event);
    if (event.type === "row" && event.row.done) onRow(event.row, event.index, event.of);
  }
  return next.value;
}
