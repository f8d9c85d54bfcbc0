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
