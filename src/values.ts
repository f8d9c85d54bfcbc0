// Converts user data into private float32 staging before anything is
// allocated or written: each user value is read exactly once, so a getter, a
// proxy or a valueOf cannot show one value to the check and another to the write.
import { describeValue, fail } from "./errors.ts";

/** Largest tensor, in elements: 512 MiB of float32, so sizes and byte addresses stay far inside 32 bits. */
export const MAX_TENSOR_ELEMENTS = 2 ** 27;
/** Deepest nesting Tensor.from follows (a guard against cyclic arrays). */
const MAX_NESTING = 32;
/** Largest finite float32; finite values that round beyond it are refused. */
export const FLOAT32_MAX = 3.4028234663852886e38;

export interface StagedValues {
  values: Float32Array;
  /** Shape of nested arrays, or [length] for flat data. */
  shape: number[];
}

// The intrinsic %TypedArray%.prototype[@@toStringTag] getter: the element type
// of a genuine typed array, undefined for anything else (cannot be spoofed).
const typedArrayPrototype = Object.getPrototypeOf(Int8Array.prototype);
const typedArrayTag = Object.getOwnPropertyDescriptor(typedArrayPrototype, Symbol.toStringTag)!.get! as (this: unknown) => string | undefined;
const typedArrayLength = Object.getOwnPropertyDescriptor(typedArrayPrototype, "length")!.get! as (this: unknown) => number;

/** `data` itself when it is a genuine Float32Array (copying from it runs no user code), else null. */
export function genuineFloat32Array(data: unknown): Float32Array | null {
  return typedArrayTag.call(data) === "Float32Array" ? (data as Float32Array) : null;
}

/** The internal length of a genuine typed array (an own `length` property cannot fake it). */
export function typedLength(data: Float32Array): number {
  return typedArrayLength.call(data);
}

function rangeError(argument: string, where: string, value: number): never {
  fail("ERR_ARGUMENT", argument, `element ${where} is ${value}, outside the float32 range (±${FLOAT32_MAX}); NaN and ±Infinity are accepted as data`);
}

/** Finite values that round to ±Infinity in float32 are refused; NaN and ±Infinity given explicitly are data. */
function checkedFloat32(value: number, argument: string, where: () => string): number {
  const rounded = Math.fround(value);
  if (rounded === Infinity || rounded === -Infinity) {
    if (value !== rounded) rangeError(argument, where(), value);
  }
  return rounded;
}

const WHAT = "a Float32Array (or another numeric typed array) or an array of numbers";

/** Stages a typed array; null when `data` is not one. */
function stageTyped(data: unknown, argument: string): StagedValues | null {
  const tag = typedArrayTag.call(data);
  if (tag === undefined) return null;
  if (tag === "BigInt64Array" || tag === "BigUint64Array") fail("ERR_ARGUMENT", argument, `must be ${WHAT}, got a ${tag} (convert bigints to numbers first)`);
  // The typed-array constructors read the internal length and elements, never user code.
  if (tag === "Float32Array") {
    const values = new Float32Array(data as Float32Array);
    return { values, shape: [values.length] };
  }
  const wide = new Float64Array(data as ArrayLike<number>);
  const values = new Float32Array(wide.length);
  for (let i = 0; i < wide.length; i++) values[i] = checkedFloat32(wide[i], argument, () => `[${i}]`);
  return { values, shape: [values.length] };
}

/**
 * Stages `data`: a typed array of a numeric type, an array of numbers, or (when
 * `allowNested`) regular nested arrays of numbers. Holes, strings, bigints,
 * booleans, null, objects and array-likes are refused with ERR_ARGUMENT.
 */
export function stageValues(data: unknown, argument: string, allowNested: boolean): StagedValues {
  const typed = stageTyped(data, argument);
  if (typed !== null) return typed;
  if (!Array.isArray(data)) fail("ERR_ARGUMENT", argument, `must be ${WHAT}${allowNested ? " (or nested arrays of numbers)" : ""}, got ${describeValue(data)}`);
  const shape: number[] = [];
  const values: number[] = [];
  let leafDepth = -1;
  const path: number[] = [];
  const where = () => path.map((i) => `[${i}]`).join("");
  const ragged = (): never => fail("ERR_SHAPE", argument, `nested arrays must be regular (not ragged): ${where()} does not match the first element's shape [${shape.join(", ")}]`);
  const walk = (node: readonly unknown[], depth: number): void => {
    if (depth >= MAX_NESTING) fail("ERR_SHAPE", argument, `is nested deeper than ${MAX_NESTING} levels (a cyclic array?)`);
    const length = node.length;
    if (length > MAX_TENSOR_ELEMENTS) fail("ERR_SHAPE", argument, `has ${length} elements at ${where() || "the top level"}, more than the largest tensor (${MAX_TENSOR_ELEMENTS})`);
    if (shape.length === depth) shape.push(length); // depth-first: the first node of each depth fixes its size
    else if (shape[depth] !== length) ragged();
    path.push(0);
    for (let i = 0; i < length; i++) {
      path[depth] = i;
      const value = node[i];
      if (typeof value === "number") {
        if (leafDepth === -1) leafDepth = depth;
        else if (leafDepth !== depth) ragged();
        values.push(checkedFloat32(value, argument, where));
        if (values.length > MAX_TENSOR_ELEMENTS) fail("ERR_SHAPE", argument, `holds more than the largest tensor (${MAX_TENSOR_ELEMENTS} values)`);
      } else if (Array.isArray(value) && allowNested) {
        if (leafDepth !== -1 && leafDepth <= depth) ragged();
        walk(value, depth + 1);
      } else {
        const shown = value === undefined && !Object.prototype.hasOwnProperty.call(node, i) ? "a hole" : describeValue(value);
        fail("ERR_ARGUMENT", argument, `element ${where()} must be a number, got ${shown}`);
      }
    }
    path.pop();
  };
  walk(data, 0);
  // Nested empty arrays ([[], []]) have no leaves; their shape is what was seen.
  if (leafDepth !== -1 && leafDepth !== shape.length - 1) ragged();
  return { values: Float32Array.from(values), shape };
}
