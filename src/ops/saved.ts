// What a family op's backward needs from its forward: one wasm block of
// per-group arrays (sized by the op) plus the forward's inputs and their
// versions. Made only by the ops; its state is private, so it cannot be forged.
import { describeValue, fail } from "../errors.ts";
import { allocate, forget, release, releaseWhenCollected } from "../memory.ts";
import type { Layout, Tensor } from "../tensor.ts";
import { kernels } from "../wasm.ts";

/** Named float64 / float32 arrays carved from one 16-byte-aligned wasm block, zero-filled. */
export class ArrayBlock<K extends string> {
  readonly #offsets = new Map<K, { offset: number; count: number; type: "f64" | "f32" }>();
  #ptr: number;

  /**
   * Throws ERR_OUT_OF_MEMORY naming `argument`, holding nothing, when it cannot
   * be allocated. Only the arrays named in `zeroed` are cleared (the kernels
   * write every other array before reading it).
   */
  constructor(spec: Record<K, readonly ["f64" | "f32", number]>, argument: string, zeroed: readonly K[] = []) {
    let bytes = 0;
    for (const name of Object.keys(spec) as K[]) {
      const [type, count] = spec[name];
      this.#offsets.set(name, { offset: bytes, count, type });
      bytes += Math.ceil((count * (type === "f64" ? 8 : 4)) / 16) * 16;
    }
    this.#ptr = allocate(bytes, argument, "savedStatistics");
    for (const name of zeroed) {
      const { offset, count, type } = this.#offsets.get(name)!;
      new Uint8Array(kernels().memory.buffer, this.#ptr + offset, count * (type === "f64" ? 8 : 4)).fill(0);
    }
  }

  get disposed(): boolean {
    return this.#ptr === 0;
  }

  get block(): number {
    return this.#ptr;
  }

  /** Byte address of array `name`. */
  ptr(name: K): number {
    return this.#ptr + this.#offsets.get(name)!.offset;
  }

  /** A copy of float64 array `name` (its first `count` values). */
  readF64(name: K, count = this.#offsets.get(name)!.count): Float64Array {
    return new Float64Array(kernels().memory.buffer, this.ptr(name), count).slice();
  }

  /** Fills float64 array `name` with `value` (statistics of an empty input). */
  fillF64(name: K, value: number): void {
    new Float64Array(kernels().memory.buffer, this.ptr(name), this.#offsets.get(name)!.count).fill(value);
  }

  dispose(): void {
    if (this.#ptr === 0) return;
    release(this.#ptr);
    this.#ptr = 0;
  }
}

export type NormKind = "layerNorm" | "rmsNorm" | "groupNorm" | "instanceNorm";

export interface NormSavedState<K extends string = string> {
  kind: NormKind;
  x: Tensor;
  xVersion: number;
  weight: Tensor | null;
  weightVersion: number;
  /** The forward had a bias: its backward returns a bias gradient. */
  withBias: boolean;
  layout: Layout | undefined;
  block: ArrayBlock<K>;
  /** Groups of statistics, values per group, and the op's geometry. */
  groups: number;
  count: number;
  geometry: Readonly<Record<string, number>>;
  /** Shape of the weight and of its gradient. */
  parameterShape: readonly number[];
  hasMean: boolean;
}

const savingToken = Symbol("SavedNormStatistics");
let makeSaved: (state: NormSavedState) => SavedNormStatistics;
let savedState: (value: unknown, argument: string, kind: NormKind) => NormSavedState;

/**
 * The statistics of a family op's forward (one value per statistics group, in
 * float64) and what its backward needs. Owns a small wasm block until disposed.
 */
export class SavedNormStatistics {
  #state: NormSavedState;

  private constructor(token: symbol, state: NormSavedState) {
    if (token !== savingToken) fail("ERR_ARGUMENT", "SavedNormStatistics", "is made by the normalization ops only");
    this.#state = state;
    releaseWhenCollected(this, [state.block.block]);
  }

  static {
    makeSaved = (state) => new SavedNormStatistics(savingToken, state);
    savedState = (value, argument, kind) => {
      if (typeof value !== "object" || value === null || !(#state in value)) {
        fail("ERR_ARGUMENT", argument, `must be the saved statistics returned by the forward, got ${describeValue(value)}`);
      }
      const state = (value as SavedNormStatistics).#state;
      if (state.kind !== kind) fail("ERR_ARGUMENT", argument, `are the saved statistics of ${state.kind}, not ${kind}`);
      if (state.block.disposed) fail("ERR_DISPOSED", argument, "saved statistics were disposed");
      return state;
    };
  }

  /** Values per statistics group. */
  get count(): number {
    return this.#state.count;
  }

  /** Mean per statistics group (null for RMSNorm, which subtracts none). */
  get mean(): Float64Array | null {
    return this.#state.hasMean ? this.#read("mean") : null;
  }

  /** 1 / sqrt(variance + eps) per group (RMSNorm: 1 / sqrt(mean(x^2) + eps)). */
  get invStd(): Float64Array {
    return this.#read("invStd");
  }

  get disposed(): boolean {
    return this.#state.block.disposed;
  }

  dispose(): void {
    forget(this);
    this.#state.block.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #read(name: string): Float64Array {
    if (this.#state.block.disposed) fail("ERR_DISPOSED", `saved.${name}`, "saved statistics were disposed");
    return (this.#state.block as ArrayBlock<string>).readF64(name, this.#state.groups);
  }
}

export function makeNormSaved<K extends string>(state: NormSavedState<K>): SavedNormStatistics {
  return makeSaved(state as NormSavedState);
}

/** The state of `saved`, checked: made by a `kind` forward, not disposed, its input and weight unchanged. */
export function forwardState<K extends string>(saved: unknown, kind: NormKind, argument = "saved"): NormSavedState<K> {
  const state = savedState(saved, argument, kind);
  if (state.x.disposed) fail("ERR_NO_FORWARD", argument, "the input of the forward was disposed");
  if (state.x.version !== state.xVersion) fail("ERR_NO_FORWARD", argument, "the input of the forward was modified since (e.g. used as an output)");
  if (state.weight && (state.weight.disposed || state.weight.version !== state.weightVersion)) {
    fail("ERR_NO_FORWARD", argument, "the weight was modified or disposed since the forward");
  }
  return state as NormSavedState<K>;
}
