// Options objects: each key is read once into a plain record, unknown keys are
// refused with a suggestion, and flags must be real booleans.
import { describeValue, fail } from "./errors.ts";

/** Names users bring from PyTorch, Keras or ONNX, and what they are called here. */
const ALIASES: Record<string, string> = {
  epsilon: "eps",
  track_running_stats: "trackRunningStats",
  running_variance: "runningVariance",
  skip_non_finite_batches: "skipNonFiniteBatches",
  running_mean: "runningMean",
  running_var: "runningVar",
  moving_mean: "runningMean",
  moving_variance: "runningVar",
  elementwise_affine: "affine",
  center: "affine",
  scale: "affine",
  data_format: "layout",
  dataFormat: "layout",
  parameter_gradients: "parameterGradients",
  output: "out",
  gamma: "weight",
  beta: "bias",
  axis: "layout",
  decay: "momentum",
};

/** Keras, TensorFlow and ONNX spellings, whose values may also mean something else here. */
const FOREIGN = new Set(["epsilon", "center", "scale", "axis", "decay", "moving_mean", "moving_variance", "data_format", "training_mode", "gamma", "beta"]);
const FOREIGN_NOTE = "; for Keras, TensorFlow or ONNX settings spread conventions.keras / conventions.onnx (their momentum is 1 - this one), or convert a whole layer config with fromKerasConfig / fromOnnxAttributes";

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The known key a misspelt or foreign `key` most likely means, if any. */
function suggestion(key: string, known: readonly string[]): string | undefined {
  const alias = ALIASES[key];
  if (alias !== undefined && known.includes(alias)) return alias;
  const folded = key.replace(/[_-]/g, "").toLowerCase();
  const sameLetters = known.find((k) => k.toLowerCase() === folded);
  if (sameLetters) return sameLetters;
  let best: string | undefined, bestDistance = 3;
  for (const k of known) {
    const distance = editDistance(folded, k.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [k, distance];
  }
  return best;
}

/**
 * Reads an options object once: undefined gives {}, anything but a plain
 * object (null, a string, an array) is ERR_ARGUMENT, and so is a key not in `known`.
 */
export function readOptions<K extends string>(options: unknown, argument: string, known: readonly K[]): Partial<Record<K, unknown>> {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    fail("ERR_ARGUMENT", argument, `must be an options object or undefined, got ${describeValue(options)}`);
  }
  const staged: Partial<Record<K, unknown>> = {};
  for (const key of Object.keys(options)) {
    if (!(known as readonly string[]).includes(key)) {
      const hint = suggestion(key, known);
      fail("ERR_ARGUMENT", `${argument}.${key}`, `unknown option${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${known.join(", ")}${FOREIGN.has(key) && known.includes("eps" as K) ? FOREIGN_NOTE : ""}`);
    }
    staged[key as K] = (options as Record<string, unknown>)[key];
  }
  return staged;
}

/** A boolean flag, `fallback` when undefined. Strings such as "false" are refused, not coerced. */
export function readFlag(value: unknown, argument: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") fail("ERR_ARGUMENT", argument, `must be true or false, got ${describeValue(value)}`);
  return value;
}

/** One of `choices`, `fallback` when undefined. */
export function readChoice<T extends string>(value: unknown, argument: string, choices: readonly T[], fallback: T, code: "ERR_ARGUMENT" | "ERR_LAYOUT" | "ERR_BUILD" = "ERR_ARGUMENT"): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly unknown[]).includes(value)) {
    fail(code, argument, `must be ${choices.map((c) => JSON.stringify(c)).join(" or ")}, got ${describeValue(value)}`);
  }
  return value as T;
}
