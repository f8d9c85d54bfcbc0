// Which normalization layers a whole-model state dict holds, guessed from its
// keys (and shapes, when the values carry them, as safetensors tensors do).
import { describeValue, fail } from "../errors.ts";
import { BatchNorm, type BatchNormOptions } from "../layers/batch-norm.ts";
import { Tensor } from "../tensor.ts";

export interface NormLayerEntry {
  /** Key prefix of the layer, e.g. "features.1." (load with { prefix }). */
  prefix: string;
  /**
   * "BatchNorm": running_mean/running_var (torch) or moving_mean/moving_variance
   * (Keras). torch's InstanceNorm with track_running_stats=True has the same
   * keys; `alsoMatches` says so. "Norm": a 1-D weight (and bias) with no
   * running statistics: LayerNorm, GroupNorm, RMSNorm or an affine InstanceNorm
   * (the keys cannot tell them apart); listed only when shapes are known.
   */
  kind: "BatchNorm" | "Norm";
  alsoMatches: string[];
  /** torch keys or Keras names (gamma, beta, moving_mean, moving_variance). */
  naming: "torch" | "keras";
  /** Channel count (length of the per-channel vectors). */
  channels: number;
  affine: boolean;
  trackRunningStats: boolean;
  /** The layer's keys, without the prefix. */
  keys: string[];
}

const TORCH_BN = ["running_mean", "running_var"];
const KERAS_BN = ["moving_mean", "moving_variance"];
const OWN_KEYS = new Set(["weight", "bias", "running_mean", "running_var", "num_batches_tracked", "gamma", "beta", "moving_mean", "moving_variance"]);

/** Length and rank of a state value, when it has them (rank null for plain arrays without a shape). */
function measure(value: unknown): { length: number; rank: number | null } | null {
  if (Tensor.isTensor(value)) return value.disposed ? null : { length: value.size, rank: value.shape.length };
  if (typeof value !== "object" || value === null) return null;
  const shaped = value as { shape?: unknown; data?: unknown };
  if (Array.isArray(shaped.shape) && shaped.data !== undefined) {
    const sizes = shaped.shape as unknown[];
    if (!sizes.every((s) => typeof s === "number" && Number.isSafeInteger(s) && s >= 0)) return null;
    return { length: (sizes as number[]).reduce((a, b) => a * b, 1), rank: sizes.length };
  }
  if (ArrayBuffer.isView(value) || Array.isArray(value)) return { length: (value as ArrayLike<unknown>).length, rank: null };
  return null;
}

/** Splits "a.b.c" into ["a.b.", "c"], and a plain key into ["", key]; Keras "bn/gamma:0" into ["bn/", "gamma"]. */
function split(key: string): [string, string] {
  const cut = Math.max(key.lastIndexOf("."), key.lastIndexOf("/"));
  const own = key.slice(cut + 1).replace(/:0$/, "");
  return [key.slice(0, cut + 1), own];
}

/**
 * The normalization layers of a whole-model state dict, in key order: for each,
 * its prefix, kind, naming, channel count and flags. Accepts a plain state dict
 * (typed arrays, arrays, Tensors, numbers), readSafetensors(...).tensors or
 * readSafetensors(...).state.
 */
export function listNormLayers(state: Record<string, unknown>): NormLayerEntry[] {
  if (typeof state !== "object" || state === null || Array.isArray(state)) fail("ERR_ARGUMENT", "state", `must be a state dict object, got ${describeValue(state)}`);
  const groups = new Map<string, Map<string, unknown>>();
  for (const key of Object.keys(state)) {
    const [prefix, own] = split(key);
    if (!OWN_KEYS.has(own)) {
      if (!groups.has(prefix)) groups.set(prefix, new Map());
      groups.get(prefix)!.set(`\0${own}`, null); // a foreign key: the group is not only a norm's
      continue;
    }
    if (!groups.has(prefix)) groups.set(prefix, new Map());
    groups.get(prefix)!.set(own, (state as Record<string, unknown>)[key]);
  }
  const entries: NormLayerEntry[] = [];
  for (const [prefix, members] of groups) {
    const keys = [...members.keys()].filter((k) => !k.startsWith("\0"));
    const foreign = keys.length !== members.size;
    const has = (k: string) => members.has(k);
    const naming = KERAS_BN.every(has) ? "keras" : "torch";
    const running = naming === "keras" ? KERAS_BN : TORCH_BN;
    const [weightKey, biasKey] = naming === "keras" ? ["gamma", "beta"] : ["weight", "bias"];
    if (running.every(has)) {
      const mean = measure(members.get(running[0]));
      if (!mean || (mean.rank !== null && mean.rank !== 1)) continue;
      entries.push({
        prefix, kind: "BatchNorm", alsoMatches: naming === "torch" ? ["InstanceNorm (track_running_stats=True)"] : [], naming,
        channels: mean.length, affine: has(weightKey) || has(biasKey), trackRunningStats: true, keys,
      });
    } else if (!foreign && naming === "torch" && has("weight")) {
      const weight = measure(members.get("weight"));
      const bias = has("bias") ? measure(members.get("bias")) : null;
      if (!weight || weight.rank !== 1 || (has("bias") && (!bias || bias.length !== weight.length))) continue; // conv/linear weights have rank >= 2
      if (keys.some((k) => k !== "weight" && k !== "bias")) continue;
      entries.push({
        prefix, kind: "Norm", alsoMatches: has("bias") ? ["LayerNorm", "GroupNorm", "InstanceNorm (affine=True)"] : ["RMSNorm", "LayerNorm (bias=False)"],
        naming, channels: weight.length, affine: true, trackRunningStats: false, keys,
      });
    }
  }
  return entries;
}

/**
 * A BatchNorm (eval mode) for every BatchNorm entry of `listNormLayers(state)`
 * with torch keys, loaded from `state`, by prefix. `options` (eps, momentum,
 * conventions) apply to all; a state dict does not hold them.
 */
export function loadBatchNorms(state: Record<string, unknown>, options?: Omit<BatchNormOptions, "affine" | "trackRunningStats">): Map<string, BatchNorm> {
  const layers = new Map<string, BatchNorm>();
  try {
    for (const entry of listNormLayers(state)) {
      if (entry.kind !== "BatchNorm" || entry.naming !== "torch") continue;
      const layer = new BatchNorm(entry.channels, { ...options, affine: entry.affine });
      layers.set(entry.prefix, layer);
      layer.loadStateDict(plainValues(state, entry), { prefix: entry.prefix });
      layer.eval();
    }
  } catch (error) {
    for (const layer of layers.values()) layer.dispose();
    throw error;
  }
  return layers;
}

/** The entry's values, with safetensors tensors ({ dtype, shape, data }) replaced by their data or count. */
function plainValues(state: Record<string, unknown>, entry: NormLayerEntry): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const own of entry.keys) {
    const key = entry.prefix + own;
    const value = state[key];
    const tensor = value as { shape?: unknown; data?: unknown; int64?: BigInt64Array };
    if (typeof value === "object" && value !== null && !ArrayBuffer.isView(value) && !Tensor.isTensor(value) && Array.isArray(tensor.shape) && tensor.data !== undefined) {
      values[key] = (tensor.shape as unknown[]).length === 0 ? (tensor.int64 ? tensor.int64[0] : (tensor.data as ArrayLike<number>)[0]) : tensor.data;
    } else {
      values[key] = value;
    }
  }
  return values;
}
