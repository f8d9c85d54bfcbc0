// The adaptation demo's network: 784-128-64-10, ReLU, BatchNorm1d after each
// hidden linear layer (through batchnorm-wasm), softmax. Dense layers are
// plain JavaScript; every BN forward, backward and statistic is the library's.
import { seededRandom } from "../../shared/random.mjs";

export const SIZES = [784, 128, 64, 10];

function dense(inputs, outputs, random) {
  const limit = Math.sqrt(6 / inputs); // He-uniform for ReLU
  return { inputs, outputs, w: Float32Array.from({ length: inputs * outputs }, () => (random() * 2 - 1) * limit), b: new Float32Array(outputs) };
}

export class Model {
  constructor(lib, seed, maxBatch) {
    const random = seededRandom(seed);
    this.lib = lib;
    this.dense = SIZES.slice(1).map((o, i) => dense(SIZES[i], o, random));
    this.bns = SIZES.slice(1, -1).map((n) => new lib.BatchNorm1d(n));
    this.maxBatch = maxBatch;
    this.acts = SIZES.map((n) => new Float32Array(maxBatch * n)); // inputs of each dense layer; acts[3] = logits
    this.pre = SIZES.slice(1, -1).map((n) => new Float32Array(maxBatch * n)); // BN inputs
    this.post = SIZES.slice(1, -1).map((n) => new Float32Array(maxBatch * n)); // BN outputs (ReLU inputs)
    this.tensors = new Map();
  }

  #t(l, batch) {
    const key = `${l}:${batch}`;
    if (!this.tensors.has(key)) {
      const make = () => this.lib.Tensor.zeros([batch, SIZES[l + 1]]);
      this.tensors.set(key, { x: make(), y: make(), dy: make(), dx: make() });
    }
    return this.tensors.get(key);
  }

  /** Logits (batch x 10) for `inputs`; `bnOptions` go to every BN forward (stats, updateRunningStats). */
  forward(inputs, batch, bnOptions) {
    this.acts[0].set(inputs.subarray(0, batch * 784));
    for (let l = 0; l < this.dense.length; l++) {
      const { inputs: I, outputs: O, w, b } = this.dense[l];
      const a = this.acts[l], z = l < this.bns.length ? this.pre[l] : this.acts[l + 1];
      for (let n = 0; n < batch; n++) {
        const row = n * O;
        z.set(b, row);
        for (let k = 0; k < I; k++) {
          const v = a[n * I + k];
          if (v === 0) continue;
          const wr = k * O;
          for (let j = 0; j < O; j++) z[row + j] += v * w[wr + j];
        }
      }
      if (l < this.bns.length) {
        const t = this.#t(l, batch);
        t.x.set(z.subarray(0, batch * O));
        this.bns[l].forward(t.x, bnOptions ? { ...bnOptions, out: t.y } : t.y);
        const y = t.y.view(), post = this.post[l], next = this.acts[l + 1];
        for (let i = 0; i < batch * O; i++) { post[i] = y[i]; next[i] = y[i] > 0 ? y[i] : 0; }
      }
    }
    return this.acts[this.dense.length].subarray(0, batch * 10);
  }

  /**
   * Backward from the logits' gradient: dense layers pass gradients down (their
   * weights are not trained here), BN backward (the library's) accumulates
   * weightGrad and biasGrad. `trainDense` also returns the dense gradients.
   */
  backward(dLogits, batch, trainDense = false) {
    let g = dLogits;
    const grads = [];
    for (let l = this.dense.length - 1; l >= 0; l--) {
      const { inputs: I, outputs: O, w } = this.dense[l];
      if (trainDense) {
        const dw = new Float32Array(I * O), db = new Float32Array(O), a = this.acts[l];
        for (let n = 0; n < batch; n++) for (let k = 0; k < I; k++) {
          const v = a[n * I + k];
          if (v === 0) continue;
          for (let j = 0; j < O; j++) dw[k * O + j] += v * g[n * O + j];
        }
        for (let n = 0; n < batch; n++) for (let j = 0; j < O; j++) db[j] += g[n * O + j];
        grads[l] = { dw, db };
      }
      if (l === 0) break;
      const below = new Float32Array(batch * I);
      for (let n = 0; n < batch; n++) for (let k = 0; k < I; k++) {
        let s = 0;
        const wr = k * O;
        for (let j = 0; j < O; j++) s += w[wr + j] * g[n * O + j];
        below[n * I + k] = s;
      }
      // ReLU, then BN backward of layer l - 1.
      const post = this.post[l - 1];
      for (let i = 0; i < below.length; i++) if (post[i] <= 0) below[i] = 0;
      const t = this.#t(l - 1, batch);
      t.dy.set(below);
      this.bns[l - 1].backward(t.dy, t.dx);
      g = t.dx.toFloat32Array();
    }
    return grads;
  }

  bnState() { return this.bns.map((bn) => bn.stateDict()); }
  loadBnState(states) { this.bns.forEach((bn, i) => bn.loadStateDict(states[i])); }

  dispose() {
    for (const set of this.tensors.values()) for (const t of Object.values(set)) t.dispose();
    for (const bn of this.bns) bn.dispose();
  }
}

/** Softmax rows of logits (batch x 10). */
export function softmax(logits, batch) {
  const p = new Float64Array(batch * 10);
  for (let n = 0; n < batch; n++) {
    let max = -Infinity;
    for (let j = 0; j < 10; j++) max = Math.max(max, logits[n * 10 + j]);
    let sum = 0;
    for (let j = 0; j < 10; j++) sum += (p[n * 10 + j] = Math.exp(logits[n * 10 + j] - max));
    for (let j = 0; j < 10; j++) p[n * 10 + j] /= sum;
  }
  return p;
}
