// One training run ("arm") of the MNIST experiment, runtime-neutral so the
// terminal demo and the browser page share it. Every arm sees the same
// initial weights and the same data order.
import { CLASSES, IMAGE_SIZE, shuffleInPlace } from "../shared/mnist.mjs";
import { LAYER_SIZES, Network } from "./network.mjs";
import { seededRandom } from "../shared/random.mjs";

export const BATCH = 60;
/** "Train loss" everywhere (terminal, report, page) is the mean over the last LOSS_WINDOW steps, whatever the checkpoint spacing. */
export const LOSS_WINDOW = 100;
const EVAL_BATCH = 500;
/** The sigmoid input followed in the percentile plot: unit 0 of the last hidden layer. */
export const TRACKED_LAYER = LAYER_SIZES.length - 3;
export const TRACKED_UNIT = 0;

const toInputs = (images, from, count, out) => {
  for (let i = 0; i < count * IMAGE_SIZE; i++) out[i] = images[from * IMAGE_SIZE + i] / 255;
  return out;
};

export function percentile(sorted, p) {
  const at = (sorted.length - 1) * p;
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
}

export class Arm {
  constructor(lib, data, { name, normalize, learningRate, seed = 1 }) {
    this.lib = lib;
    this.data = data;
    this.name = name;
    this.normalize = normalize;
    this.learningRate = learningRate;
    this.net = new Network({ lib, normalize, seed, batch: BATCH, maxBatch: EVAL_BATCH });
    this.order = Uint32Array.from({ length: data.train.count }, (_, i) => i);
    this.orderRandom = seededRandom(seed + 1);
    this.cursor = data.train.count; // forces a shuffle before the first batch
    this.step = 0;
    this.recentLosses = new Float64Array(LOSS_WINDOW); // a ring: step i's loss at i % LOSS_WINDOW
    this.history = []; // { step, loss, accuracy, percentiles: [p15, p50, p85] }
    this.batchInputs = new Float32Array(BATCH * IMAGE_SIZE);
    this.batchLabels = new Uint8Array(BATCH);
  }

  #nextBatch() {
    if (this.cursor + BATCH > this.order.length) {
      shuffleInPlace(this.order, this.orderRandom);
      this.cursor = 0;
    }
    const { images, labels } = this.data.train;
    for (let b = 0; b < BATCH; b++) {
      const example = this.order[this.cursor + b];
      for (let p = 0; p < IMAGE_SIZE; p++) this.batchInputs[b * IMAGE_SIZE + p] = images[example * IMAGE_SIZE + p] / 255;
      this.batchLabels[b] = labels[example];
    }
    this.cursor += BATCH;
  }

  /** Runs `count` SGD steps in training mode. */
  trainSteps(count) {
    this.net.train();
    for (let i = 0; i < count; i++) {
      this.#nextBatch();
      this.net.forward(this.batchInputs);
      const loss = this.net.loss(this.batchLabels);
      this.net.backwardAndStep(this.learningRate);
      this.recentLosses[this.step % LOSS_WINDOW] = loss;
      this.step++;
    }
  }

  /**
   * Test accuracy in eval mode (BN with its running statistics) and the
   * 15th/50th/85th percentiles of the tracked sigmoid input over the test set.
   */
  evaluate() {
    const { images, labels, count } = this.data.test;
    const inputs = new Float32Array(EVAL_BATCH * IMAGE_SIZE);
    const tracked = [];
    let correct = 0;
    this.net.eval();
    for (let from = 0; from < count; from += EVAL_BATCH) {
      const batch = Math.min(EVAL_BATCH, count - from);
      const logits = this.net.forward(toInputs(images, from, batch, inputs), batch);
      const z = this.net.preActivation[TRACKED_LAYER];
      for (let b = 0; b < batch; b++) {
        tracked.push(z[b * LAYER_SIZES[TRACKED_LAYER + 1] + TRACKED_UNIT]);
        let best = 0;
        for (let j = 1; j < CLASSES; j++) if (logits[b * CLASSES + j] > logits[b * CLASSES + best]) best = j;
        if (best === labels[from + b]) correct++;
      }
    }
    this.net.train();
    tracked.sort((a, b) => a - b);
    return { accuracy: correct / count, percentiles: [0.15, 0.5, 0.85].map((p) => percentile(tracked, p)) };
  }

  /** Mean training loss over the last LOSS_WINDOW steps (fewer before that many ran; NaN before the first). */
  recentLoss() {
    const count = Math.min(this.step, LOSS_WINDOW);
    let sum = 0;
    for (let i = 0; i < count; i++) sum += this.recentLosses[i];
    return count > 0 ? sum / count : NaN;
  }

  /** Evaluates and appends a checkpoint to the history. */
  checkpoint() {
    const { accuracy, percentiles } = this.evaluate();
    const loss = this.recentLoss();
    const entry = { step: this.step, loss, accuracy, percentiles };
    this.history.push(entry);
    return entry;
  }

  /**
   * Replaces every BN layer's running statistics with exact population
   * statistics of the training set (layer by layer, each layer seeing the
   * previous ones normalized with theirs), then evaluates. BN arms only.
   */
  evaluateWithPopulationStatistics() {
    const { lib, net } = this;
    const { images, count } = this.data.train;
    const inputs = new Float32Array(EVAL_BATCH * IMAGE_SIZE);
    net.eval();
    net.norms.forEach((norm, layer) => {
      const features = norm.features;
      let total = 0;
      const mean = new Float64Array(features), m2 = new Float64Array(features);
      for (let from = 0; from < count; from += EVAL_BATCH) {
        const batch = Math.min(EVAL_BATCH, count - from);
        const z = net.forward(toInputs(images, from, batch, inputs), batch, layer);
        const x = lib.Tensor.from(z, [batch, features]);
        const stats = lib.batchStatistics(x);
        x.dispose();
        // Chan et al.'s merge of (count, mean, M2) per channel.
        for (let c = 0; c < features; c++) {
          const delta = stats.mean[c] - mean[c];
          const merged = total + stats.count;
          mean[c] += (delta * stats.count) / merged;
          m2[c] += stats.variance[c] * stats.count + (delta * delta * total * stats.count) / merged;
        }
        total += stats.count;
      }
      norm.bn.runningMean.set(Float32Array.from(mean));
      norm.bn.runningVar.set(Float32Array.from(m2, (v) => v / (total - 1)));
    });
    return this.evaluate();
  }

  dispose() {
    this.net.dispose();
  }
}
