// One error class for every rejected call. `code` is stable across versions;
// `argument` names the offending argument (e.g. "x", "options.eps", "state.running_var").

export type BatchNormErrorCode =
  | "ERR_RANK"          // tensor rank outside 2..5
  | "ERR_CHANNELS"      // channel count does not match numFeatures / a per-channel argument
  | "ERR_LENGTH"        // data length does not match the shape
  | "ERR_SHAPE"         // invalid shape, or a tensor whose shape must match another's
  | "ERR_EPS"           // eps not finite or negative
  | "ERR_MOMENTUM"      // momentum outside [0, 1] (and not null)
  | "ERR_SINGLE_VALUE"  // one value per channel while normalizing with batch statistics
  | "ERR_NO_FORWARD"    // backward without a matching forward (or its inputs changed since)
  | "ERR_DISPOSED"      // use of a disposed tensor or module
  | "ERR_LAYOUT"        // unknown layout, or a tensor tagged with the other layout
  | "ERR_ARGUMENT"      // any other invalid argument (type, range)
  | "ERR_STATE_DICT"    // missing or unexpected key in loadStateDict
  | "ERR_FORMAT"        // a malformed file (safetensors header, offsets, dtypes)
  | "ERR_OUT_OF_MEMORY" // an allocation the memory limit or the wasm memory cannot hold
  | "ERR_NOT_INITIALIZED" // an op before init() resolved
  | "ERR_BUILD";        // unknown build, unsupported build, or a different build than the one initialised

export class BatchNormError extends Error {
  readonly code: BatchNormErrorCode;
  readonly argument: string;

  constructor(code: BatchNormErrorCode, argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = "BatchNormError";
    this.code = code;
    this.argument = argument;
  }
}

export function fail(code: BatchNormErrorCode, argument: string, message: string): never {
  throw new BatchNormError(code, argument, message);
}

/** A value as error messages show it: its type, then the value (`string "3"`, `bigint 2n`, `array of length 4`). */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "number": return `number ${Object.is(value, -0) ? "-0" : String(value)}`;
    case "string": return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case "bigint": return `bigint ${value}n`;
    case "boolean": return `boolean ${value}`;
    case "symbol": return `symbol ${value.description === undefined ? "Symbol()" : `Symbol(${value.description})`}`;
    case "undefined": return "undefined";
    case "function": return "a function";
  }
  if (value === null) return "null";
  try {
    if (Array.isArray(value)) return `an array of length ${value.length}`;
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return typeof name === "string" && name !== "Object" ? `an object (${name})` : "an object";
  } catch {
    return "an object"; // a revoked proxy, or a trap that throws
  }
}
