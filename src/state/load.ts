// Loading a layer from a state dict, torch's way: keys under a prefix (a layer
// inside a whole-model dict, "features.1."), strict or not. Each key of the
// state is listed once and each value read once, here, before the layer stages
// and checks them; a rejected call changes nothing.
import { describeValue, fail } from "../errors.ts";
import { readFlag, readOptions } from "../options.ts";

export interface LoadStateDictOptions {
  /** Prefix of this layer's keys in the state dict, e.g. "features.1." (default ""). */
  prefix?: string;
  /**
   * true (default): a missing key, or a key under the prefix that the layer
   * does not have, is ERR_STATE_DICT. false: both are reported and skipped;
   * keys present are still checked (a wrong size is an error), as in torch.
   */
  strict?: boolean;
}

/** What torch's load_state_dict returns: full keys, prefix included. */
export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export interface StatePlan extends LoadStateDictResult {
  /** The value of each expected key found (read once), by the layer's own key. */
  values: Map<string, unknown>;
  prefix: string;
}

const OPTION_KEYS = ["prefix", "strict"] as const;

/**
 * Reads `state` for a layer whose own keys are `expected`. With a prefix, only
 * keys starting with it belong to the layer (the rest belong to other layers
 * and are not "unexpected"); `Object.keys` is read once, each value once.
 */
export function planStateLoad(state: unknown, options: unknown, expected: readonly string[]): StatePlan {
  if (typeof state !== "object" || state === null || Array.isArray(state)) {
    fail("ERR_ARGUMENT", "state", `must be a state dict object, got ${describeValue(state)}`);
  }
  const o = readOptions(options, "options", OPTION_KEYS);
  const prefix = o.prefix === undefined ? "" : o.prefix;
  if (typeof prefix !== "string") fail("ERR_ARGUMENT", "options.prefix", `must be a string, got ${describeValue(prefix)}`);
  const strict = readFlag(o.strict, "options.strict", true);
  const values = new Map<string, unknown>();
  const unexpectedKeys: string[] = [];
  const keys = Object.keys(state);
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const own = key.slice(prefix.length);
    if (!expected.includes(own)) {
      const hint = prefix === "" && keys.length > 0 && !expected.some((k) => keys.includes(k)) ? nestedHint(keys, expected) : "";
      if (strict) fail("ERR_STATE_DICT", `state.${key}`, `unexpected key (expected ${expected.map((k) => prefix + k).join(", ") || "none"})${hint}`);
      unexpectedKeys.push(key);
      continue;
    }
    const value: unknown = (state as Record<string, unknown>)[key];
    if (value === undefined) continue; // an own key holding undefined counts as missing
    values.set(own, value);
  }
  const missingKeys = expected.filter((k) => !values.has(k)).map((k) => prefix + k);
  if (strict && missingKeys.length > 0) {
    const hint = prefix === "" ? nestedHint(keys, expected) : "";
    fail("ERR_STATE_DICT", `state.${missingKeys[0]}`, `missing key${missingKeys.length > 1 ? ` (and ${missingKeys.slice(1).join(", ")})` : ""}${hint}`);
  }
  return { values, missingKeys, unexpectedKeys, prefix };
}

/** ` (keys under "features.1." match: pass { prefix: "features.1." })` when a whole-model dict was passed without a prefix. */
function nestedHint(keys: readonly string[], expected: readonly string[]): string {
  const prefixes = new Set<string>();
  for (const key of keys) {
    for (const own of expected) {
      if (key.length > own.length && key.endsWith(`.${own}`)) prefixes.add(key.slice(0, key.length - own.length));
    }
  }
  if (prefixes.size === 0) return "";
  const shown = [...prefixes].slice(0, 3).map((p) => JSON.stringify(p)).join(", ");
  return `; this looks like a whole-model state dict: pass { prefix } (layers under ${shown}${prefixes.size > 3 ? ", …" : ""})`;
}
