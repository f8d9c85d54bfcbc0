// The demo's network: 784-100-100-100-10, sigmoid hidden units, softmax
// cross-entropy, plain SGD. Dense layers, activation and loss are plain
// JavaScript; Batch Normalization (optional, after each hidden linear layer)
// goes through the batchnorm-wasm public API.
import { seededRandom } from "../shared/random.mjs";

export const LAYER_SIZES = [784, 100, 100, 100, 10];

class Dense {
  constructor(inputs, outputs, random) {
    this.inputs = inputs;
    this.outputs = outputs;
    // Uniform with variance 1 / fan-in; biases start at zero.
    const limit = Math.sqrt(3 / inputs);
    this.weight = Float32Array.from({ length: inputs * outputs }, () => (random() * 2 - 1) * limit);
    this.bias = new Float32Array(outputs);
    this.weightGrad = new Float32Array(inputs * outputs);
    this.biasGrad = new Float32Array(outputs);
  }

  /** out[b, j] = bias[j] + sum_k input[b, k] * weight[k, j]; zero inputs (most MNIST pixels) are skipped. */
  forward(input, out, batch) {
    const { inputs: I, outputs: O, weight, bias } = this;
    for (let b = 0; b < batch; b++) {
      const row = b * O;
      out.set(bias, row);
      for (let k = 0; k < I; k++) {
        const a = input[b * I + k];
        if (a === 0) continue;
        const w = k * O;
        for (let j = 0; j < O; j++) out[row + j] += a * weight[w + j];
      }
    }
  }

  /** Accumulates weight and bias gradients; writes dInput unless it is null (first layer). */
  backward(input, dOut, dInput, batch) {
    const { inputs: I, outputs: O, weight, weightGrad, biasGrad } = this;
    weightGrad.fill(0);
    biasGrad.fill(0);
    for (let b = 0; b < batch; b++) {
      const row = b * O;
      for (let j = 0; j < O; j++) biasGrad[j] += dOut[row + j];
      for (let k = 0; k < I; k++) {
        const a = input[b * I + k];
        const w = k * O;
        if (a !== 0) for (let j = 0; j < O; j++) weightGrad[w + j] += a * dOut[row + j];
        if (dInput) {
          let sum = 0;
          for (let j = 0; j < O; j++) sum += dOut[row + j] * weight[w + j];
          dInput[b * I + k] = sum;
        }
      }
    }
  }

  step(learningRate) {
    for (let i = 0; i < this.weight.length; i++) this.weight[i] -= learningRate * this.weightGrad[i];
    for (let j = 0; j < this.outputs; j++) this.bias[j] -= learningRate * this.biasGrad[j];
  }
}

/** One BatchNorm layer; its tensors are allocated once per batch size (training, evaluation). */
class Normalization {
  constructor(lib, features) {
    this.lib = lib;
    this.features = features;
    this.bn = new lib.BatchNorm(features);
    this.tensors = new Map();
  }

  #tensorsFor(batch) {
    if (!this.tensors.has(batch)) {
      const make = () => this.lib.Tensor.zeros([batch, this.features]);
      this.tensors.set(batch, { x: make(), y: make(), dy: make(), dx: make() });
    }
    return this.tensors.get(batch);
  }

  /** In place: values (batch x features) are replaced by the layer's output. */
  forward(values) {
    const { x, y } = this.#tensorsFor(values.length / this.features);
    x.set(values);
    this.bn.forward(x, y);
    values.set(y.view());
  }

  /** In place: gradient w.r.t. the output becomes the gradient w.r.t. the input. */
  backward(gradient) {
    const { dy, dx } = this.#tensorsFor(gradient.length / this.features);
    dy.set(gradient);
    this.bn.backward(dy, dx);
    gradient.set(dx.view());
  }

  step(learningRate) {
    const { bn } = this;
    const update = (param, grad) => {
      const values = param.toFloat32Array();
      const g = grad.view();
      for (let i = 0; i < values.length; i++) values[i] -= learningRate * g[i];
      param.set(values);
    };
    update(bn.weight, bn.weightGrad);
    update(bn.bias, bn.biasGrad);
    bn.zeroGrad();
  }

  dispose() {
    for (const set of this.tensors.values()) for (const t of Object.values(set)) t.dispose();
    this.bn.dispose();
  }
}

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

export class Network {
  /**
   * `lib` is batchnorm-wasm; `normalize` adds BN after each hidden linear
   * layer; `batch` is the training batch, `maxBatch` the largest evaluation batch.
   */
  constructor({ lib, normalize, seed, batch, maxBatch = batch }) {
    const random = seededRandom(seed);
    this.normalize = normalize;
    this.batch = batch;
    this.dense = LAYER_SIZES.slice(1).map((outputs, i) => new Dense(LAYER_SIZES[i], outputs, random));
    this.norms = normalize ? LAYER_SIZES.slice(1, -1).map((n) => new Normalization(lib, n)) : [];
    // Per layer: each linear output (the sigmoid input after BN), each activation, each gradient.
    this.preActivation = LAYER_SIZES.slice(1).map((n) => new Float32Array(maxBatch * n));
    this.activation = LAYER_SIZES.map((n) => new Float32Array(maxBatch * n));
    this.gradient = LAYER_SIZES.map((n) => new Float32Array(batch * n));
  }

  train() { for (const n of this.norms) n.bn.train(); }
  eval() { for (const n of this.norms) n.bn.eval(); }

  /**
   * Forward of `batch` examples (`inputs`: batch x 784 in [0, 1]); returns the
   * logits (batch x 10), or with `stopAtLayer` that hidden layer's linear
   * output before normalization.
   */
  forward(inputs, batch = this.batch, stopAtLayer = -1) {
    this.activation[0].set(inputs.subarray(0, batch * LAYER_SIZES[0]));
    const last = this.dense.length - 1;
    for (let l = 0; l <= last; l++) {
      const z = this.preActivation[l].subarray(0, batch * LAYER_SIZES[l + 1]);
      this.dense[l].forward(this.activation[l], z, batch);
      if (l === last || l === stopAtLayer) return z;
      if (this.normalize) this.norms[l].forward(z);
      const h = this.activation[l + 1];
      for (let i = 0; i < z.length; i++) h[i] = sigmoid(z[i]);
    }
    return null;
  }

  /** Softmax cross-entropy of the last forward; writes the logits' gradient; returns the mean loss. */
  loss(labels) {
    const logits = this.preActivation[this.dense.length - 1];
    const dLogits = this.gradient[this.dense.length];
    let total = 0;
    for (let b = 0; b < this.batch; b++) {
      const row = b * 10;
      let max = -Infinity;
      for (let j = 0; j < 10; j++) max = Math.max(max, logits[row + j]);
      let sum = 0;
      for (let j = 0; j < 10; j++) sum += Math.exp(logits[row + j] - max);
      total += Math.log(sum) + max - logits[row + labels[b]];
      for (let j = 0; j < 10; j++) dLogits[row + j] = (Math.exp(logits[row + j] - max) / sum - (j === labels[b] ? 1 : 0)) / this.batch;
    }
    return total / this.batch;
  }

  /** Backward from the loss gradient, then one SGD step on every parameter. */
  backwardAndStep(learningRate) {
    for (let l = this.dense.length - 1; l >= 0; l--) {
      const dOut = this.gradient[l + 1];
      if (l < this.dense.length - 1) {
        // dOut holds the gradient w.r.t. the sigmoid output; turn it into the sigmoid input's.
        const h = this.activation[l + 1];
        for (let i = 0; i < dOut.length; i++) dOut[i] *= h[i] * (1 - h[i]);
        if (this.normalize) this.norms[l].backward(dOut);
      }
      this.dense[l].backward(this.activation[l], dOut, l > 0 ? this.gradient[l] : null, this.batch);
    }
    for (const d of this.dense) d.step(learningRate);
    for (const n of this.norms) n.step(learningRate);
  }

  dispose() { for (const n of this.norms) n.dispose(); }
}
