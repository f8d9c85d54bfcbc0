// Validation and allocation shared by every op and layer: each public call
// reads and checks all of its arguments with these, allocates everything with
// allocateAll (all or nothing), and only then runs kernels and writes.
import { describeValue, fail } from "../errors.ts";
import { checkLayoutTag, checkSameShape, geometryOf, type Geometry } from "../shape.ts";
import { checkTensor, Tensor, type Layout } from "../tensor.ts";

/** The byte address of an optional tensor (0 for none), as kernels take it. */
export const ptrOf = (t: Tensor | null): number => (t ? t.byteOffset : 0);

/** Throws unless `t` is a live tensor of `channels` values. */
export function checkPerChannel(t: unknown, channels: number, argument: string): Tensor {
  const tensor = checkTensor(t, argument);
  if (tensor.size !== channels || tensor.shape.length !== 1) {
    fail("ERR_CHANNELS", argument, `must be a vector of one value per channel ([${channels}]), got [${tensor.shape.join(", ")}]`);
  }
  return tensor;
}

/** An optional per-channel tensor: undefined and null mean none. */
export function optionalPerChannel(t: unknown, channels: number, argument: string): Tensor | null {
  return t === undefined || t === null ? null : checkPerChannel(t, channels, argument);
}

export function checkInput(x: unknown, layout: Layout, argument: string): Geometry {
  return geometryOf(checkTensor(x, argument), layout, argument);
}

/** Normalizing with batch statistics needs more than one value per channel (PyTorch's rule); an empty batch is allowed. */
export function checkBatchSize(geometry: Geometry, argument: string): void {
  if (geometry.count === 1) {
    fail("ERR_SINGLE_VALUE", argument, "expected more than 1 value per channel when using batch statistics, got 1");
  }
}

/** Checks a caller-given output: a live tensor of `like`'s shape, not tagged with the other layout. */
export function checkOutput(out: unknown, like: Tensor, layout: Layout, argument: string, what: string): Tensor | undefined {
  if (out === undefined) return undefined;
  const tensor = checkTensor(out, argument);
  checkSameShape(tensor, like.shape, argument, what);
  checkLayoutTag(tensor, layout, argument);
  return tensor;
}

export function checkMomentum(momentum: unknown, argument: string, allowNull: boolean): number | null {
  if (momentum === null && allowNull) return null;
  if (typeof momentum !== "number" || !(momentum >= 0 && momentum <= 1)) {
    fail("ERR_MOMENTUM", argument, `must be a number in [0, 1]${allowNull ? " or null" : ""}, got ${describeValue(momentum)}`);
  }
  return momentum;
}

export const RUNNING_VARIANCES = ["unbiased", "biased"] as const;
export type RunningVariance = (typeof RUNNING_VARIANCES)[number];

/**
 * Runs `makers` in order and returns what they made; when one throws (out of
 * memory), disposes the ones already made and rethrows, so nothing is held.
 * Makers must only create: a caller-given tensor is never passed through here.
 */
export function allocateAll<T extends { dispose(): void } | null>(makers: readonly (() => T)[]): T[] {
  const made: T[] = [];
  try {
    for (const make of makers) made.push(make());
  } catch (error) {
    for (const item of made) item?.dispose();
    throw error;
  }
  return made;
}

