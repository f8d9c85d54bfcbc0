// Shapes: validation with bounded sizes, and (N, C, S) plus the memory layout
// read from a tensor's shape. All size arithmetic is in doubles against
// explicit bounds, so nothing can wrap on either side of the wasm boundary.
import { describeValue, fail } from "./errors.ts";
import type { Layout, Tensor } from "./tensor.ts";
import { MAX_TENSOR_ELEMENTS } from "./values.ts";
import { MAX_CHANNELS } from "./workspace.ts";

/** Most axes a tensor may have. */
export const MAX_RANK = 32;

/**
 * A validated copy of `shape`: a non-empty array of non-negative integers whose
 * product is at most MAX_TENSOR_ELEMENTS. Zero sizes (empty tensors) are allowed.
 */
export function checkShape(shape: unknown, argument: string): number[] {
  if (!Array.isArray(shape)) fail("ERR_SHAPE", argument, `must be an array of non-negative integers, got ${describeValue(shape)}`);
  const rank = shape.length;
  if (rank === 0 || rank > MAX_RANK) fail("ERR_SHAPE", argument, `must have 1 to ${MAX_RANK} sizes, got ${rank}`);
  const sizes: number[] = [];
  for (let i = 0; i < rank; i++) {
    const size: unknown = shape[i];
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      fail("ERR_SHAPE", argument, `sizes must be non-negative integers, got ${describeValue(size)} at index ${i}`);
    }
    if (size > MAX_TENSOR_ELEMENTS) fail("ERR_SHAPE", argument, `size ${size} at index ${i} is more than the largest tensor (${MAX_TENSOR_ELEMENTS} elements)`);
    sizes.push(size);
  }
  const elements = sizeOf(sizes);
  if (elements > MAX_TENSOR_ELEMENTS) {
    fail("ERR_SHAPE", argument, `[${sizes.join(", ")}] has ${elements} elements, more than the largest tensor (${MAX_TENSOR_ELEMENTS})`);
  }
  return sizes;
}

/** Product of sizes; Infinity once it passes 2^53 (callers compare it with a bound). */
export function sizeOf(shape: readonly number[]): number {
  if (shape.includes(0)) return 0;
  let product = 1;
  for (const size of shape) {
    product *= size;
    if (product > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return product;
}

export interface Geometry {
  readonly N: number;
  readonly C: number;
  /** Product of the spatial sizes (1 for rank 2). */
  readonly S: number;
  /** Values per channel, N * S (0 for an empty batch). */
  readonly count: number;
  /**
   * Channel is the innermost axis in memory: channels-last, and also rank 2 or
   * S = 1 in channels-first, where both layouts are the same bytes.
   */
  readonly channelsLast: boolean;
}

/** Geometry of `x` ([N, C, ...spatial] or [N, ...spatial, C]), with rank and layout checks. */
export function geometryOf(x: Tensor, layout: Layout, argument: string): Geometry {
  x.assertLive(argument);
  const shape = x.shape;
  if (shape.length < 2 || shape.length > 5) {
    fail("ERR_RANK", argument, `must have rank 2 to 5 ([N, C] to [N, C, D, H, W]), got rank ${shape.length}`);
  }
  checkLayoutTag(x, layout, argument);
  const channelsLastShape = layout === "channels-last";
  const N = shape[0];
  const C = channelsLastShape ? shape[shape.length - 1] : shape[1];
  if (C === 0 || C > MAX_CHANNELS) fail("ERR_CHANNELS", argument, `must have 1 to ${MAX_CHANNELS} channels, got ${C} ([${shape.join(", ")}])`);
  let S = 1; // product of the spatial sizes, without slicing (this runs on every call)
  for (let i = channelsLastShape ? 1 : 2, end = channelsLastShape ? shape.length - 1 : shape.length; i < end; i++) S *= shape[i];
  return { N, C, S, count: N * S, channelsLast: channelsLastShape || S === 1 };
}

/** ERR_LAYOUT when `t` is tagged with a layout other than `layout`. */
export function checkLayoutTag(t: Tensor, layout: Layout, argument: string): void {
  if (t.layout !== undefined && t.layout !== layout) {
    fail("ERR_LAYOUT", argument, `is tagged ${t.layout} but the operation uses ${layout}`);
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws ERR_SHAPE unless `t` is live and has `shape`. */
export function checkSameShape(t: Tensor, shape: readonly number[], argument: string, what: string): void {
  t.assertLive(argument);
  if (!sameShape(t.shape, shape)) {
    fail("ERR_SHAPE", argument, `must have the shape of ${what} [${shape.join(", ")}], got [${t.shape.join(", ")}]`);
  }
}

export function checkEps(eps: unknown, argument: string): number {
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0) {
    fail("ERR_EPS", argument, `must be a finite number >= 0, got ${describeValue(eps)}`);
  }
  return eps;
}
