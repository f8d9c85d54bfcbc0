// State dicts that survive JSON: stateDict() results carry a non-enumerable
// toJSON that writes each Float32Array as a plain array of numbers, so
// `loadStateDict(JSON.parse(JSON.stringify(layer.stateDict())))` round trips.
// (JSON has no NaN or Infinity: such values become null and loading refuses
// them with ERR_ARGUMENT instead of inventing a number. Use safetensors for
// exact round trips of any value.)

/** Plain arrays in place of typed arrays; other values as they are. */
export function stateToJSON(state: Record<string, unknown>): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  for (const key of Object.keys(state)) {
    const value = state[key];
    plain[key] = ArrayBuffer.isView(value) && !(value instanceof DataView) ? Array.from(value as unknown as ArrayLike<number>) : value;
  }
  return plain;
}

/** `state` with a non-enumerable toJSON (Object.keys and loadStateDict do not see it). */
export function withJSON<T extends object>(state: T): T {
  Object.defineProperty(state, "toJSON", { value: () => stateToJSON(state as Record<string, unknown>), enumerable: false, writable: true, configurable: true });
  return state;
}
