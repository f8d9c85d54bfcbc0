// Checks shared by every layer.
import { describeValue, fail } from "../errors.ts";
import { checkTensor, Tensor, type Layout } from "../tensor.ts";
import { stageValues } from "../values.ts";

/** A layer's own tensors can be disposed through their getters; refuse before using a disposed one. */
export function ownLive(t: Tensor | null, name: string): void {
  if (t?.disposed) fail("ERR_DISPOSED", `this.${name}`, `the layer's ${name} was disposed (through its getter); the layer cannot use it`);
}

/** num_batches_tracked from a state dict: a non-negative safe integer, number or bigint. */
export function readBatchCount(value: unknown, argument: string): number {
  const count = typeof value === "bigint" && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
    fail("ERR_ARGUMENT", argument, `must be a non-negative integer (number or bigint), got ${describeValue(value)}`);
  }
  return count;
}

/** A state-dict array (a tensor or numbers) read once into a copy of exactly `size` values. */
export function stageArray(value: unknown, size: number, argument: string, code: "ERR_SHAPE" | "ERR_CHANNELS" = "ERR_SHAPE"): Float32Array {
  let values: Float32Array;
  if (Tensor.isTensor(value)) {
    value.assertLive(argument);
    values = value.toFloat32Array();
  } else {
    values = stageValues(value, argument, false).values;
  }
  if (values.length !== size) fail(code, argument, `must hold ${size} values, got ${values.length}`);
  return values;
}

/** ERR_CHANNELS unless x (rank 2 or more) has `expected` channels on the layout's channel axis. */
export function checkChannels(x: unknown, layout: Layout, expected: number, argument: string): void {
  const shape = checkTensor(x, argument).shape;
  if (shape.length < 2) return; // the op reports the rank
  const C = layout === "channels-last" ? shape[shape.length - 1] : shape[1];
  if (C !== expected) {
    fail("ERR_CHANNELS", argument, `has ${C} channels (${layout === "channels-last" ? "last" : "second"} axis of [${shape.join(", ")}]), the layer expects ${expected}`);
  }
}
