// What LayerNorm, RMSNorm, GroupNorm and InstanceNorm layers share: their
// parameters and gradients, the saved statistics of the last forward, the mode,
// state dicts with torch's keys, and the rule that a rejected call changes nothing.
import { fail } from "../errors.ts";
import { forget } from "../memory.ts";
import { allocateAll } from "../ops/common.ts";
import type { SavedNormStatistics } from "../ops/saved.ts";
import { readFlag } from "../options.ts";
import { Tensor, zerosFor } from "../tensor.ts";
import { keep } from "../tidy.ts";
import { ownLive, readBatchCount, stageArray } from "./common.ts";
import { registerParameter } from "../parameters.ts";
import { planStateLoad, type LoadStateDictOptions, type LoadStateDictResult } from "../state/load.ts";
import { withJSON } from "../state/json.ts";

/** Mean and invStd per statistics group of the last training-mode forward (mean null for RMSNorm). */
export interface NormStatistics {
  mean: Float64Array | null;
  invStd: Float64Array;
}

export interface Gradients {
  weightGrad: Tensor | null;
  biasGrad: Tensor | null;
}

/** A layer buffer beyond the parameters (InstanceNorm's running statistics), under its torch key. */
export interface Buffer {
  key: string;
  tensor: () => Tensor;
  size: number;
}

export abstract class NormLayer {
  #training = true;
  #weight: Tensor | null;
  #bias: Tensor | null;
  #weightGrad: Tensor | null = null;
  #biasGrad: Tensor | null = null;
  #saved: SavedNormStatistics | null = null;
  #pending = false;
  #disposed = false;
  readonly #parameterShape: readonly number[];
  readonly #name: string;

  /** Makes weight (ones) and bias (zeros) of `parameterShape` when asked; nothing is held if one fails. */
  protected constructor(name: string, parameterShape: readonly number[], withWeight: boolean, withBias: boolean, argument: string) {
    this.#name = name;
    this.#parameterShape = parameterShape;
    const size = parameterShape.reduce((a, b) => a * b, 1);
    const [weight, bias] = allocateAll<Tensor | null>([
      () => (withWeight ? keep(zerosFor(parameterShape, undefined, argument)).set(new Float32Array(size).fill(1)) : null),
      () => (withBias ? keep(zerosFor(parameterShape, undefined, argument)) : null),
    ]);
    this.#weight = weight;
    this.#bias = bias;
    registerParameter(weight, () => this.#weightGrad);
    registerParameter(bias, () => this.#biasGrad);
  }

  get training(): boolean {
    return this.#training;
  }

  train(mode: unknown = true): this {
    this.assertLive();
    this.#training = readFlag(mode, "mode", true);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  get weight(): Tensor | null { return this.#weight; }
  get bias(): Tensor | null { return this.#bias; }
  get weightGrad(): Tensor | null { return this.#weightGrad; }
  get biasGrad(): Tensor | null { return this.#biasGrad; }

  /** Mean and invStd per statistics group of the last forward that normalized with its own statistics, or null. */
  get saved(): NormStatistics | null {
    this.assertLive();
    if (!this.#saved || this.#saved.disposed) return null;
    return { mean: this.#saved.mean, invStd: this.#saved.invStd };
  }

  /** The learnable tensors (weight, then bias), as torch's parameters(); optimizers take them. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, tensor]) => tensor);
  }

  /** [name, tensor] of each parameter under torch's names ("weight", "bias"), as torch's named_parameters(). */
  namedParameters(): [string, Tensor][] {
    this.assertLive();
    const named: [string, Tensor][] = [];
    if (this.#weight) named.push(["weight", this.#weight]);
    if (this.#bias) named.push(["bias", this.#bias]);
    return named;
  }

  /** y for x; subclasses choose the op. A rejected call changes nothing. */
  forward(x: Tensor, out?: Tensor): Tensor {
    this.assertLive();
    this.assertOwnLive();
    const { y, saved } = this.runForward(x, out, this.#weight, this.#bias, this.#training);
    this.#saved?.dispose();
    this.#saved = saved;
    this.#pending = true;
    return y;
  }

  /** dx for the last forward; adds dweight and dbias to weightGrad and biasGrad like autograd. One backward per forward. */
  backward(dy: Tensor, out?: Tensor): Tensor {
    this.assertLive();
    if (!this.#pending) fail("ERR_NO_FORWARD", "dy", "backward needs a forward first (each forward allows one backward)");
    this.assertOwnLive();
    const created = this.#weight !== null && this.#weightGrad === null;
    if (created) {
      const [weightGrad, biasGrad] = allocateAll<Tensor | null>([
        () => keep(zerosFor(this.#parameterShape, undefined, "this.weightGrad")),
        () => (this.#bias ? keep(zerosFor(this.#parameterShape, undefined, "this.biasGrad")) : null),
      ]);
      this.#weightGrad = weightGrad;
      this.#biasGrad = biasGrad;
    }
    let dx: Tensor;
    try {
      dx = this.runBackward(dy, out, this.#saved, { weightGrad: this.#weightGrad, biasGrad: this.#biasGrad });
    } catch (error) {
      if (created) { // a rejected call leaves the layer as it was
        this.#weightGrad?.dispose();
        this.#biasGrad?.dispose();
        this.#weightGrad = this.#biasGrad = null;
      }
      throw error;
    }
    this.#pending = false;
    return dx;
  }

  /** Sets the parameter gradients to zero (the buffers are kept, so loops do not allocate). */
  zeroGrad(): void {
    this.assertLive();
    ownLive(this.#weightGrad, "weightGrad");
    ownLive(this.#biasGrad, "biasGrad");
    for (const grad of [this.#weightGrad, this.#biasGrad]) {
      if (grad) { // in place: a loop's zeroGrad allocates nothing
        grad.view().fill(0);
        grad.markWritten();
      }
    }
  }

  /** Copies of the parameters and buffers under torch's state_dict keys. */
  stateDict(): Record<string, Float32Array | number> {
    this.assertLive();
    this.assertOwnLive();
    const state: Record<string, Float32Array | number> = {};
    if (this.#weight) state.weight = this.#weight.toFloat32Array();
    if (this.#bias) state.bias = this.#bias.toFloat32Array();
    for (const buffer of this.buffers()) state[buffer.key] = buffer.tensor().toFloat32Array();
    const count = this.batchCount();
    if (count !== null) state.num_batches_tracked = count;
    return withJSON(state); // JSON.stringify writes plain arrays
  }

  /**
   * Loads torch's keys (with `prefix`, this layer's keys inside a whole-model
   * dict); every value is read once into staging and checked before any is
   * written. Returns torch's { missingKeys, unexpectedKeys } (empty unless `strict: false`).
   */
  loadStateDict(state: Record<string, unknown>, options?: LoadStateDictOptions): LoadStateDictResult {
    this.assertLive();
    const size = this.#parameterShape.reduce((a, b) => a * b, 1);
    const targets: [string, Tensor, number][] = [];
    if (this.#weight) targets.push(["weight", this.#weight, size]);
    if (this.#bias) targets.push(["bias", this.#bias, size]);
    for (const buffer of this.buffers()) targets.push([buffer.key, buffer.tensor(), buffer.size]);
    const expected = [...targets.map(([key]) => key), ...(this.batchCount() !== null ? ["num_batches_tracked"] : [])];
    const plan = planStateLoad(state, options, expected);
    const staged: (Float32Array | null)[] = [];
    for (const [key, , count] of targets) {
      staged.push(plan.values.has(key) ? stageArray(plan.values.get(key), count, `state.${plan.prefix}${key}`) : null);
    }
    let count: number | null = null;
    if (this.batchCount() !== null && plan.values.has("num_batches_tracked")) {
      count = readBatchCount(plan.values.get("num_batches_tracked"), `state.${plan.prefix}num_batches_tracked`);
    }
    this.assertOwnLive();
    // Nothing below can fail.
    targets.forEach(([, tensor], i) => { const values = staged[i]; if (values) tensor.set(values); });
    if (count !== null) this.setBatchCount(count);
    return { missingKeys: plan.missingKeys, unexpectedKeys: plan.unexpectedKeys };
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Frees every tensor the layer owns. Tensors returned by forward/backward stay the caller's. */
  dispose(): void {
    if (this.#disposed) return;
    for (const t of [this.#weight, this.#bias, this.#weightGrad, this.#biasGrad]) t?.dispose();
    this.#saved?.dispose();
    this.#saved = null;
    this.disposeBuffers();
    forget(this);
    this.#disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  protected abstract runForward(x: Tensor, out: Tensor | undefined, weight: Tensor | null, bias: Tensor | null, training: boolean): { y: Tensor; saved: SavedNormStatistics | null };
  protected abstract runBackward(dy: Tensor, out: Tensor | undefined, saved: SavedNormStatistics | null, gradients: Gradients): Tensor;

  /** Buffers beyond the parameters (InstanceNorm's running statistics); none by default. */
  protected buffers(): Buffer[] {
    return [];
  }

  /** num_batches_tracked, or null for a layer without running statistics. */
  protected batchCount(): number | null {
    return null;
  }

  protected setBatchCount(_count: number): void {}

  protected disposeBuffers(): void {}

  protected assertLive(): void {
    if (this.#disposed) fail("ERR_DISPOSED", "this", `${this.#name} layer was disposed`);
  }

  protected assertOwnLive(): void {
    ownLive(this.#weight, "weight");
    ownLive(this.#bias, "bias");
    ownLive(this.#weightGrad, "weightGrad");
    ownLive(this.#biasGrad, "biasGrad");
    for (const buffer of this.buffers()) ownLive(buffer.tensor(), buffer.key);
  }
}
