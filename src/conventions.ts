// The BatchNorm conventions of PyTorch, Keras/TensorFlow and ONNX as named
// layer options, and converters between their parameter names and configs.
//
//                 running update                        momentum  eps   variance stored
//   PyTorch       running = (1 - m) running + m batch    0.1       1e-5  unbiased
//   Keras / TF    moving = m moving + (1 - m) batch      0.99      1e-3  biased
//   ONNX (train)  running = m input + (1 - m) current    0.9       1e-5  biased (population)
//
// This library's momentum is PyTorch's (the weight of the new batch), so the
// Keras and ONNX presets hold 1 - their momentum.
import { describeValue, fail } from "./errors.ts";
import type { BatchNormOptions, BatchNormState } from "./layers/batch-norm.ts";
import { readFlag, readOptions } from "./options.ts";
import { stageValues } from "./values.ts";

export type ConventionName = "pytorch" | "keras" | "tensorflow" | "onnx";

export interface Convention {
  momentum: number;
  eps: number;
  runningVariance: "unbiased" | "biased";
  layout?: "channels-first" | "channels-last";
}

const preset = (c: Convention): Readonly<Convention> => Object.freeze(c);

/**
 * Layer options per framework: `new BatchNorm(C, { ...conventions.keras })`.
 * Keras and TensorFlow default to channels-last (axis = -1); spread a layout
 * after the preset to change it.
 */
export const conventions: Readonly<Record<ConventionName, Readonly<Convention>>> = Object.freeze({
  pytorch: preset({ momentum: 0.1, eps: 1e-5, runningVariance: "unbiased" }),
  keras: preset({ momentum: 1 - 0.99, eps: 1e-3, runningVariance: "biased", layout: "channels-last" }),
  tensorflow: preset({ momentum: 1 - 0.99, eps: 1e-3, runningVariance: "biased", layout: "channels-last" }),
  onnx: preset({ momentum: 1 - 0.9, eps: 1e-5, runningVariance: "biased" }),
});

// ---- Keras ----

/** A Keras BatchNormalization layer config (the keys that matter for the maths). */
export interface KerasBatchNormConfig {
  axis?: number | number[];
  momentum?: number;
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  /** Keras keys this converter accepts and ignores (initializers, regularizers, names). */
  [ignored: string]: unknown;
}

/** Keras config keys that do not change the maths and are accepted as they are. */
const KERAS_IGNORED = new Set([
  "name", "trainable", "dtype", "beta_initializer", "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
  "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint", "synchronized", "renorm", "renorm_clipping",
  "renorm_momentum", "fused", "virtual_batch_size", "adjustment",
]);
const KERAS_KEYS = ["axis", "momentum", "epsilon", "center", "scale"] as const;

export interface FromKerasResult {
  /** Options for `new BatchNorm(C, options)`. */
  options: BatchNormOptions;
  center: boolean;
  scale: boolean;
  /**
   * Parameters torch's single `affine` cannot leave out: with center false the
   * bias is held at 0, with scale false the weight at 1. Keep them out of the
   * optimizer (and out of weight decay) to train as Keras does.
   */
  frozen: ("weight" | "bias")[];
}

/**
 * BatchNorm options from a Keras BatchNormalization config. `rank` (of the
 * input, batch axis included) resolves a positive axis: axis -1 or rank - 1 is
 * channels-last, axis 1 channels-first. Keras's momentum 0.99 becomes 0.01 here.
 */
export function fromKerasConfig(config: KerasBatchNormConfig, rank?: number): FromKerasResult {
  if (typeof config !== "object" || config === null || Array.isArray(config)) fail("ERR_ARGUMENT", "config", `must be a Keras layer config object, got ${describeValue(config)}`);
  const known: Record<string, unknown> = {};
  for (const key of Object.keys(config)) {
    if (KERAS_IGNORED.has(key)) {
      if ((key === "renorm" || key === "synchronized") && (config as Record<string, unknown>)[key] === true) fail("ERR_ARGUMENT", `config.${key}`, "is not supported (Batch Renormalization / synchronized BN)");
      if (key === "virtual_batch_size" && (config as Record<string, unknown>)[key] != null) fail("ERR_ARGUMENT", `config.${key}`, "is not supported (ghost batch normalization)");
      continue;
    }
    known[key] = (config as Record<string, unknown>)[key];
  }
  const o = readOptions(known, "config", KERAS_KEYS);
  let layout: "channels-first" | "channels-last" = "channels-last";
  const axisValue = Array.isArray(o.axis) && o.axis.length === 1 ? o.axis[0] : o.axis;
  if (axisValue !== undefined && axisValue !== -1) {
    if (axisValue === 1) layout = "channels-first";
    else if (typeof rank === "number" && axisValue === rank - 1) layout = "channels-last";
    else fail("ERR_LAYOUT", "config.axis", `must be -1 (channels-last) or 1 (channels-first)${rank ? ` or ${rank - 1}` : ""}, got ${describeValue(o.axis)}`);
  }
  const kerasMomentum = o.momentum ?? 0.99;
  if (typeof kerasMomentum !== "number" || !(kerasMomentum >= 0 && kerasMomentum <= 1)) fail("ERR_MOMENTUM", "config.momentum", `must be a number in [0, 1] (Keras's meaning: weight of the old value), got ${describeValue(kerasMomentum)}`);
  const epsilon = o.epsilon ?? 1e-3;
  if (typeof epsilon !== "number" || !Number.isFinite(epsilon) || epsilon < 0) fail("ERR_EPS", "config.epsilon", `must be a finite number >= 0, got ${describeValue(epsilon)}`);
  const center = readFlag(o.center, "config.center", true), scale = readFlag(o.scale, "config.scale", true);
  const frozen: ("weight" | "bias")[] = center && scale ? [] : !center && !scale ? [] : !scale ? ["weight"] : ["bias"];
  return {
    options: { momentum: 1 - (kerasMomentum as number), eps: epsilon as number, runningVariance: "biased", layout, affine: center || scale },
    center, scale, frozen,
  };
}

/** A Keras BatchNormalization config for a layer's options (momentum back in Keras's meaning). */
export function toKerasConfig(layer: { eps: number; momentum: number | null; affine: boolean; layout: string }, parts: { center?: boolean; scale?: boolean } = {}): { axis: number; momentum: number; epsilon: number; center: boolean; scale: boolean } {
  if (layer.momentum === null) fail("ERR_MOMENTUM", "layer.momentum", "null (cumulative average) has no Keras equivalent");
  return {
    axis: layer.layout === "channels-first" ? 1 : -1, momentum: 1 - layer.momentum, epsilon: layer.eps,
    center: parts.center ?? layer.affine, scale: parts.scale ?? layer.affine,
  };
}

function perChannel(value: unknown, argument: string, size: number | null): Float32Array {
  const staged = stageValues(value, argument, false).values;
  if (size !== null && staged.length !== size) fail("ERR_CHANNELS", argument, `must hold ${size} values, got ${staged.length}`);
  return staged;
}

/**
 * A torch state dict (weight, bias, running_mean, running_var) from Keras
 * weights: { gamma, beta, moving_mean, moving_variance } (names with a ":0"
 * suffix accepted) or layer.get_weights()'s list [gamma?, beta?, moving_mean,
 * moving_variance] (gamma absent when scale is false, beta when center is false).
 * A missing gamma becomes ones, a missing beta zeros. Keras keeps no batch count:
 * num_batches_tracked is 0.
 */
export function fromKerasWeights(weights: Record<string, unknown> | readonly unknown[], parts: { center?: boolean; scale?: boolean } = {}): Required<Pick<BatchNormState, "running_mean" | "running_var" | "num_batches_tracked">> & { weight: Float32Array; bias: Float32Array } {
  const center = readFlag(parts.center, "parts.center", true), scale = readFlag(parts.scale, "parts.scale", true);
  let named: Record<string, unknown>;
  if (Array.isArray(weights)) {
    const names = [...(scale ? ["gamma"] : []), ...(center ? ["beta"] : []), "moving_mean", "moving_variance"];
    if (weights.length !== names.length) fail("ERR_STATE_DICT", "weights", `get_weights() with center ${center} and scale ${scale} has ${names.length} arrays (${names.join(", ")}), got ${weights.length}`);
    named = Object.fromEntries(names.map((n, i) => [n, weights[i]]));
  } else {
    if (typeof weights !== "object" || weights === null) fail("ERR_ARGUMENT", "weights", `must be an object or an array, got ${describeValue(weights)}`);
    named = {};
    for (const key of Object.keys(weights)) {
      const own = key.replace(/:0$/, "").split("/").pop()!;
      if (!["gamma", "beta", "moving_mean", "moving_variance"].includes(own)) {
        fail("ERR_STATE_DICT", `weights.${key}`, `unexpected key (Keras names: gamma, beta, moving_mean, moving_variance)${own === "running_mean" || own === "running_var" || own === "weight" ? "; these are torch names: use loadStateDict" : ""}`);
      }
      named[own] = (weights as Record<string, unknown>)[key];
    }
  }
  for (const required of ["moving_mean", "moving_variance", ...(scale ? ["gamma"] : []), ...(center ? ["beta"] : [])]) {
    if (named[required] === undefined) fail("ERR_STATE_DICT", `weights.${required}`, "missing key");
  }
  const mean = perChannel(named.moving_mean, "weights.moving_mean", null);
  const C = mean.length;
  return {
    weight: named.gamma !== undefined && scale ? perChannel(named.gamma, "weights.gamma", C) : new Float32Array(C).fill(1),
    bias: named.beta !== undefined && center ? perChannel(named.beta, "weights.beta", C) : new Float32Array(C),
    running_mean: mean,
    running_var: perChannel(named.moving_variance, "weights.moving_variance", C),
    num_batches_tracked: 0,
  };
}

/** Keras weights from a torch state dict (gamma and beta left out when scale / center are false). */
export function toKerasWeights(state: BatchNormState, parts: { center?: boolean; scale?: boolean } = {}): Record<string, Float32Array> {
  const center = readFlag(parts.center, "parts.center", true), scale = readFlag(parts.scale, "parts.scale", true);
  if (state.running_mean === undefined || state.running_var === undefined) fail("ERR_STATE_DICT", "state.running_mean", "missing key (Keras layers always keep moving statistics)");
  const mean = perChannel(state.running_mean, "state.running_mean", null), C = mean.length;
  const out: Record<string, Float32Array> = {};
  if (scale) out.gamma = state.weight === undefined ? new Float32Array(C).fill(1) : perChannel(state.weight, "state.weight", C);
  if (center) out.beta = state.bias === undefined ? new Float32Array(C) : perChannel(state.bias, "state.bias", C);
  out.moving_mean = mean;
  out.moving_variance = perChannel(state.running_var, "state.running_var", C);
  return out;
}

// ---- ONNX ----

/** ONNX BatchNormalization attributes. */
export interface OnnxBatchNormAttributes {
  epsilon?: number;
  momentum?: number;
  training_mode?: number;
}

/** Layer options from ONNX BatchNormalization attributes (momentum 0.9 becomes 0.1 here; channels-first, as ONNX's NCHW). */
export function fromOnnxAttributes(attributes: OnnxBatchNormAttributes = {}): BatchNormOptions {
  const o = readOptions(attributes, "attributes", ["epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs"] as const);
  const epsilon = o.epsilon ?? 1e-5, momentum = o.momentum ?? 0.9;
  if (typeof epsilon !== "number" || !Number.isFinite(epsilon) || epsilon < 0) fail("ERR_EPS", "attributes.epsilon", `must be a finite number >= 0, got ${describeValue(epsilon)}`);
  if (typeof momentum !== "number" || !(momentum >= 0 && momentum <= 1)) fail("ERR_MOMENTUM", "attributes.momentum", `must be a number in [0, 1] (ONNX's meaning: weight of the old value), got ${describeValue(momentum)}`);
  if (o.spatial !== undefined && o.spatial !== 1) fail("ERR_ARGUMENT", "attributes.spatial", "spatial = 0 (opset < 9, statistics per element) is not supported");
  return { eps: epsilon as number, momentum: 1 - (momentum as number), runningVariance: "biased", layout: "channels-first" };
}

/** ONNX attributes for a layer's options. */
export function toOnnxAttributes(layer: { eps: number; momentum: number | null }): { epsilon: number; momentum: number } {
  if (layer.momentum === null) fail("ERR_MOMENTUM", "layer.momentum", "null (cumulative average) has no ONNX equivalent");
  return { epsilon: layer.eps, momentum: 1 - layer.momentum };
}

/** A torch state dict from ONNX BatchNormalization inputs: scale, B, input_mean, input_var (inputs 1 to 4). */
export function fromOnnxInitializers(inputs: { scale: unknown; B: unknown; input_mean: unknown; input_var: unknown }): { weight: Float32Array; bias: Float32Array; running_mean: Float32Array; running_var: Float32Array; num_batches_tracked: number } {
  if (typeof inputs !== "object" || inputs === null) fail("ERR_ARGUMENT", "inputs", `must be an object, got ${describeValue(inputs)}`);
  const known = ["scale", "B", "input_mean", "input_var"];
  for (const key of Object.keys(inputs)) {
    if (!known.includes(key)) fail("ERR_STATE_DICT", `inputs.${key}`, `unexpected key (ONNX BatchNormalization inputs: ${known.join(", ")}; the names "mean" and "var" are older spellings of input_mean and input_var)`);
  }
  for (const key of known) if ((inputs as Record<string, unknown>)[key] === undefined) fail("ERR_STATE_DICT", `inputs.${key}`, "missing key");
  const weight = perChannel(inputs.scale, "inputs.scale", null), C = weight.length;
  return {
    weight, bias: perChannel(inputs.B, "inputs.B", C),
    running_mean: perChannel(inputs.input_mean, "inputs.input_mean", C), running_var: perChannel(inputs.input_var, "inputs.input_var", C),
    num_batches_tracked: 0,
  };
}

/** ONNX BatchNormalization inputs from a torch state dict (a layer without affine gets scale 1 and B 0, which ONNX requires). */
export function toOnnxInitializers(state: BatchNormState): { scale: Float32Array; B: Float32Array; input_mean: Float32Array; input_var: Float32Array } {
  if (state.running_mean === undefined || state.running_var === undefined) fail("ERR_STATE_DICT", "state.running_mean", "missing key (ONNX inference BatchNormalization needs running statistics)");
  const mean = perChannel(state.running_mean, "state.running_mean", null), C = mean.length;
  return {
    scale: state.weight === undefined ? new Float32Array(C).fill(1) : perChannel(state.weight, "state.weight", C),
    B: state.bias === undefined ? new Float32Array(C) : perChannel(state.bias, "state.bias", C),
    input_mean: mean, input_var: perChannel(state.running_var, "state.running_var", C),
  };
}
