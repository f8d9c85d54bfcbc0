// A float32 tensor living in wasm memory, owned by the facade.
// Views of wasm memory are made at each use from memory.buffer, because any
// allocation can grow the memory and detach older views.
import { fail } from "./errors.ts";
import { kernels, type Kernels } from "./wasm.ts";

export type Layout = "channels-first" | "channels-last";
export type NestedNumbers = number | readonly NestedNumbers[];

let liveTensors = 0;

/** Tensors created and not yet disposed. */
export function liveTensorCount(): number {
  return liveTensors;
}

export function checkLayout(layout: unknown, argument: string): Layout {
  if (layout !== "channels-first" && layout !== "channels-last") {
    fail("ERR_LAYOUT", argument, `must be "channels-first" or "channels-last", got ${String(layout)}`);
  }
  return layout;
}

function checkShape(shape: unknown, argument: string): number[] {
  if (!Array.isArray(shape) || shape.length === 0) fail("ERR_SHAPE", argument, "must be a non-empty array of positive integers");
  for (const size of shape) {
    if (!Number.isSafeInteger(size) || size < 1) fail("ERR_SHAPE", argument, `sizes must be positive integers, got [${shape.join(", ")}]`);
  }
  return [...shape];
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Shape of a regular nested array; throws ERR_SHAPE for ragged ones. */
function nestedShape(data: NestedNumbers, argument: string): number[] {
  const shape: number[] = [];
  let level: NestedNumbers = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0] as NestedNumbers;
  }
  const check = (node: NestedNumbers, depth: number): void => {
    if (depth === shape.length) {
      if (typeof node !== "number") fail("ERR_SHAPE", argument, "nested arrays must be regular and hold numbers");
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) fail("ERR_SHAPE", argument, "nested arrays must be regular (not ragged)");
    for (const child of node) check(child, depth + 1);
  };
  check(data, 0);
  return shape;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  /** Layout tag, when the tensor was made for one; ops reject a tensor tagged with the other. */
  readonly layout: Layout | undefined;
  #ptr: number;
  #kernels: Kernels;
  #version = 0;

  private constructor(shape: number[], layout: Layout | undefined) {
    const k = kernels();
    this.shape = Object.freeze(shape);
    this.size = sizeOf(shape);
    this.layout = layout;
    this.#kernels = k;
    this.#ptr = k.alloc(this.size * 4) >>> 0;
    liveTensors++;
  }

  /**
   * A tensor holding a copy of `data`. With a Float32Array or flat array the
   * shape is required (default: [data.length]); nested arrays give their own.
   */
  static from(data: Float32Array | ArrayLike<number> | NestedNumbers, shape?: readonly number[], layout?: Layout): Tensor {
    let flat: ArrayLike<number>;
    let inferred: number[];
    if (Array.isArray(data) && data.some((item) => Array.isArray(item))) {
      inferred = nestedShape(data as NestedNumbers, "data");
      flat = (data as unknown[]).flat(Infinity) as number[];
    } else if (typeof data === "object" && data !== null && typeof (data as ArrayLike<number>).length === "number") {
      flat = data as ArrayLike<number>;
      inferred = [flat.length];
    } else {
      fail("ERR_ARGUMENT", "data", "must be a Float32Array, an array of numbers, or nested arrays of numbers");
    }
    const finalShape = checkShape(shape ?? inferred, "shape");
    if (sizeOf(finalShape) !== flat.length) {
      fail("ERR_LENGTH", "data", `has ${flat.length} values but shape [${finalShape.join(", ")}] needs ${sizeOf(finalShape)}`);
    }
    const tensor = new Tensor(finalShape, layout === undefined ? undefined : checkLayout(layout, "layout"));
    tensor.view().set(flat);
    return tensor;
  }

  /** A tensor of zeros. */
  static zeros(shape: readonly number[], layout?: Layout): Tensor {
    const finalShape = checkShape(shape, "shape");
    const tensor = new Tensor(finalShape, layout === undefined ? undefined : checkLayout(layout, "layout"));
    tensor.view().fill(0);
    return tensor;
  }

  get disposed(): boolean {
    return this.#ptr === 0;
  }

  /** Byte address of the data in wasm memory (for raw kernel calls). */
  get byteOffset(): number {
    this.assertLive("tensor");
    return this.#ptr;
  }

  /** Incremented by every write through the library; backward uses it to detect modified inputs. */
  get version(): number {
    return this.#version;
  }

  /**
   * A live Float32Array over the tensor's wasm memory, without copying. It is
   * detached by the next allocation (any call that creates a tensor or layer);
   * make a new one after such calls. Writes through it do not bump `version`.
   */
  view(): Float32Array {
    this.assertLive("tensor");
    return new Float32Array(this.#kernels.memory.buffer, this.#ptr, this.size);
  }

  /** A copy of the data. */
  toFloat32Array(): Float32Array {
    return this.view().slice();
  }

  /** The data as nested arrays in the tensor's shape. */
  toArray(): NestedNumbers[] {
    const flat = Array.from(this.view());
    const build = (offset: number, depth: number): NestedNumbers[] => {
      const size = this.shape[depth];
      const stride = sizeOf(this.shape.slice(depth + 1));
      const out: NestedNumbers[] = [];
      for (let i = 0; i < size; i++) {
        out.push(depth === this.shape.length - 1 ? flat[offset + i] : build(offset + i * stride, depth + 1));
      }
      return out;
    };
    return build(0, 0);
  }

  /** Copies `data` in (same number of values). */
  set(data: ArrayLike<number>): this {
    this.assertLive("tensor");
    if (data.length !== this.size) fail("ERR_LENGTH", "data", `has ${data.length} values, the tensor holds ${this.size}`);
    this.view().set(data);
    this.markWritten();
    return this;
  }

  /** Records a write (used by ops writing into this tensor). */
  markWritten(): void {
    this.#version++;
  }

  /** Throws ERR_DISPOSED naming `argument` if this tensor was disposed. */
  assertLive(argument: string): void {
    if (this.#ptr === 0) fail("ERR_DISPOSED", argument, "tensor was disposed");
  }

  /** Frees the wasm memory; further use throws ERR_DISPOSED. Idempotent. */
  dispose(): void {
    if (this.#ptr === 0) return;
    this.#kernels.free(this.#ptr);
    this.#ptr = 0;
    liveTensors--;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
