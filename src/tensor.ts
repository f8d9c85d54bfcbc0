// A float32 tensor living in wasm memory, owned by the façade.
// Views of wasm memory are made at each use from memory.buffer, because any
// allocation can grow the memory and detach older views.
import { describeValue, fail } from "./errors.ts";
import { forgetCreation, recordCreation } from "./debug.ts";
import { allocate, forget, release, releaseWhenCollected } from "./memory.ts";
import { readChoice } from "./options.ts";
import { checkShape, sizeOf } from "./shape.ts";
import { trackInScope, untrackFromScope } from "./tidy.ts";
import { genuineFloat32Array, stageValues, typedLength } from "./values.ts";
import { kernels, type Kernels } from "./wasm.ts";

export type Layout = "channels-first" | "channels-last";
export type NestedNumbers = number | readonly NestedNumbers[];

/**
 * What toArray() returns for a tensor of rank `Rank`: number[] for rank 1,
 * number[][] for rank 2, and so on to rank 5; NestedNumbers[] when the rank is
 * not known to the type checker.
 */
export type NestedArray<Rank extends number> = Rank extends 1 ? number[] : Rank extends 2 ? number[][] : Rank extends 3 ? number[][][]
  : Rank extends 4 ? number[][][][] : Rank extends 5 ? number[][][][][] : NestedNumbers[];

type Flat = Float32Array | ArrayLike<number>;
/** The rank of nested arrays of numbers, as a type (number when unknown). */
export type RankOf<Data> = Data extends Flat ? 1 : Data extends readonly Flat[] ? 2 : Data extends readonly (readonly Flat[])[] ? 3
  : Data extends readonly (readonly (readonly Flat[])[])[] ? 4 : Data extends readonly (readonly (readonly (readonly Flat[])[])[])[] ? 5 : number;

export { liveTensorCount } from "./memory.ts";

const LAYOUTS: readonly Layout[] = ["channels-first", "channels-last"];

export function checkLayout(layout: unknown, argument: string): Layout {
  return readChoice(layout, argument, LAYOUTS, "channels-first", "ERR_LAYOUT");
}

/** An optional layout tag: undefined stays untagged. */
function checkLayoutTagArgument(layout: unknown, argument: string): Layout | undefined {
  return layout === undefined ? undefined : checkLayout(layout, argument);
}

/** Only this module constructs tensors (Tensor.from / Tensor.zeros). */
const constructing = Symbol("Tensor construction");

let makeZeros: (shape: readonly number[], layout: Layout | undefined, argument: string) => Tensor;

/** A zero tensor whose allocation failure names `argument` (e.g. "out" for an output the caller could have given). */
export function zerosFor(shape: readonly number[], layout: Layout | undefined, argument: string): Tensor {
  return makeZeros(shape, layout, argument);
}

/**
 * `Rank` is the number of axes when the type checker knows it (from a literal
 * shape or nested arrays), for toArray()'s type; plain `Tensor` is any rank.
 */
export class Tensor<Rank extends number = number> {
  readonly shape: readonly number[];
  readonly size: number;
  /** Layout tag, when the tensor was made for one; ops reject a tensor tagged with the other. */
  readonly layout: Layout | undefined;
  #ptr: number;
  #live = true;
  #kernels: Kernels;
  #version = 0;

  private constructor(token: symbol, shape: number[], layout: Layout | undefined, argument: string) {
    if (token !== constructing) fail("ERR_ARGUMENT", "Tensor", "use Tensor.from or Tensor.zeros");
    const size = sizeOf(shape);
    this.#kernels = kernels();
    this.#ptr = allocate(size * 4, argument, "tensor"); // may throw ERR_OUT_OF_MEMORY; nothing is held then
    this.shape = Object.freeze(shape);
    this.size = size;
    this.layout = layout;
    // Shape, size and layout are what every bounds check reads: frozen, so no
    // assignment can make a kernel reach past the allocation.
    Object.freeze(this);
    releaseWhenCollected(this, [this.#ptr]);
    trackInScope(this);
    recordCreation(this);
  }

  /** Whether `value` is a real Tensor (not an object made from Tensor.prototype). */
  static isTensor(value: unknown): value is Tensor {
    return typeof value === "object" && value !== null && #ptr in value;
  }

  /**
   * A tensor holding a copy of `data`: a Float32Array, another numeric typed
   * array, an array of numbers, or regular nested arrays (which give their own
   * shape). With flat data the shape defaults to [data.length]. NaN and
   * ±Infinity are data; finite values beyond the float32 range are refused.
   */
  static from<const Shape extends readonly number[]>(data: Float32Array | ArrayLike<number> | NestedNumbers, shape: Shape, layout?: Layout): Tensor<Shape["length"]>;
  static from<const Data extends Float32Array | ArrayLike<number> | NestedNumbers>(data: Data, shape?: undefined, layout?: Layout): Tensor<RankOf<Data>>;
  static from(data: Float32Array | ArrayLike<number> | NestedNumbers, shape?: readonly number[], layout?: Layout): Tensor {
    const staged = stageValues(data, "data", true);
    const finalShape = shape === undefined ? staged.shape : checkShape(shape, "shape");
    if (shape === undefined) checkShape(finalShape, "data");
    const tag = checkLayoutTagArgument(layout, "layout");
    const size = sizeOf(finalShape);
    if (size !== staged.values.length) {
      fail("ERR_LENGTH", "data", `has ${staged.values.length} values but shape [${finalShape.join(", ")}] needs ${size}`);
    }
    const tensor = new Tensor(constructing, finalShape, tag, "data");
    tensor.#write(staged.values);
    return tensor;
  }

  /** A tensor of zeros. */
  static zeros<const Shape extends readonly number[]>(shape: Shape, layout?: Layout): Tensor<Shape["length"]> {
    const finalShape = checkShape(shape, "shape");
    const tag = checkLayoutTagArgument(layout, "layout");
    const tensor = new Tensor(constructing, finalShape, tag, "shape");
    tensor.#fill(0);
    return tensor as Tensor<Shape["length"]>;
  }

  static {
    makeZeros = (shape, layout, argument) => {
      const tensor = new Tensor(constructing, [...shape], layout, argument);
      tensor.#fill(0);
      return tensor;
    };
  }

  get disposed(): boolean {
    return !this.#live;
  }

  /** @internal Byte address of the data in wasm memory (for raw kernel calls). */
  get byteOffset(): number {
    this.assertLive("tensor");
    return this.#ptr;
  }

  /** @internal Incremented by every write through the library; backward uses it to detect modified inputs. */
  get version(): number {
    return this.#version;
  }

  /**
   * A live Float32Array over the tensor's wasm memory, without copying. It is
   * detached by the next allocation (any call that creates a tensor or layer);
   * make a new one after such calls. Writes through it are not seen by the checks that detect modified inputs.
   */
  view(): Float32Array {
    this.assertLive("tensor");
    return new Float32Array(this.#kernels.memory.buffer, this.#ptr, this.size);
  }

  /** A copy of the data. */
  toFloat32Array(): Float32Array {
    return this.view().slice();
  }

  /** The data as nested arrays in the tensor's shape (typed by rank when the rank is known: number[][] for rank 2). */
  toArray(): NestedArray<Rank> {
    const flat = this.toFloat32Array();
    const shape = this.shape;
    const build = (offset: number, depth: number): NestedNumbers[] => {
      const size = shape[depth];
      const stride = sizeOf(shape.slice(depth + 1));
      const out: NestedNumbers[] = [];
      for (let i = 0; i < size; i++) {
        out.push(depth === shape.length - 1 ? flat[offset + i] : build(offset + i * stride, depth + 1));
      }
      return out;
    };
    return build(0, 0) as NestedArray<Rank>;
  }

  /**
   * Copies `data` in (a typed array or an array of numbers of the same length).
   * Every value is checked first; a rejected call writes nothing.
   */
  set(data: ArrayLike<number>): this {
    this.assertLive("tensor");
    // A genuine Float32Array is copied by the engine without running user code; anything else is staged.
    const values = genuineFloat32Array(data) ?? stageValues(data, "data", false).values;
    const length = typedLength(values);
    if (length !== this.size) fail("ERR_LENGTH", "data", `has ${length} values, the tensor holds ${this.size}`);
    this.#write(values);
    this.markWritten();
    return this;
  }

  /** @internal Records a write (used by ops writing into this tensor). */
  markWritten(): void {
    this.#version++;
  }

  /** @internal Throws ERR_DISPOSED naming `argument` if this tensor was disposed. */
  assertLive(argument: string): void {
    if (!this.#live) fail("ERR_DISPOSED", argument, "tensor was disposed");
  }

  /** Frees the wasm memory; further use throws ERR_DISPOSED. Idempotent. */
  dispose(): void {
    if (!this.#live) return;
    this.#live = false;
    forget(this);
    release(this.#ptr);
    untrackFromScope(this);
    forgetCreation(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #write(values: Float32Array): void {
    new Float32Array(this.#kernels.memory.buffer, this.#ptr, this.size).set(values);
  }

  #fill(value: number): void {
    new Float32Array(this.#kernels.memory.buffer, this.#ptr, this.size).fill(value);
  }
}

/** Throws unless `value` is a real, live Tensor. */
export function checkTensor(value: unknown, argument: string): Tensor {
  if (!Tensor.isTensor(value)) fail("ERR_ARGUMENT", argument, `must be a Tensor, got ${describeValue(value)}`);
  value.assertLive(argument);
  return value;
}
