// Per-channel workspace: one block the facade allocates per layer (or per
// functional call) and passes to every kernel as `ws` with the channel count.
// Layout, Cp = C rounded up to a multiple of 4 (so every array is 16-byte aligned):
//   [f64 slots: F64_SLOTS arrays of Cp doubles][f32 slots: F32_SLOTS arrays of Cp floats]

// float64 per-channel arrays
export const MEAN: i32 = 0;        // batch mean
export const MEAN_OFFSET: i32 = 1; // batch mean minus the channel's SHIFT
export const VARIANCE: i32 = 2;    // biased batch variance
export const INV_STD: i32 = 3;     // 1 / sqrt(variance + eps) of the last training forward (0 when both are 0)
export const SUM_A: i32 = 4;       // reduction outputs
export const SUM_B: i32 = 5;
export const GRAD_WEIGHT: i32 = 6; // dgamma of the last backward
export const GRAD_BIAS: i32 = 7;   // dbeta of the last backward
export const EVAL_INV_STD: i32 = 8;
export const COEF_A: i32 = 9;      // training passes: y = (x - mean) * A + C; dx = (dy * A + (x - mean) * B) + C
export const COEF_B: i32 = 10;
export const COEF_C: i32 = 11;
export const RISK: i32 = 12;       // [0] eval, [1] eval backward, [2] training forward, [3] backward: 1 when some channel's coefficients can create a NaN
export const F64_SLOTS: i32 = 13;

// float32 per-channel arrays
export const SHIFT: i32 = 0;       // training: float32(mean), the backward reduction's shift
export const EVAL_SHIFT: i32 = 1;  // cached inference coefficients: y = (x - shift) * scale + offset
export const EVAL_SCALE: i32 = 2;
export const EVAL_OFFSET: i32 = 3;
export const ZERO: i32 = 4;        // all zeros, for "no shift / no offset"
export const PILOT: i32 = 5;       // the statistics reduction's shift: median of three samples of the channel
export const F32_SLOTS: i32 = 6;

@inline function paddedChannels(channels: i32): usize {
  return (<usize>channels + 3) & ~(<usize>3);
}

/** Bytes the facade must allocate for a workspace of `channels` channels. */
export function workspaceBytes(channels: i32): usize {
  return paddedChannels(channels) * (F64_SLOTS * 8 + F32_SLOTS * 4);
}

/** Address of float64 slot `slot` inside workspace `ws`. */
@inline export function f64Slot(ws: usize, channels: i32, slot: i32): usize {
  return ws + paddedChannels(channels) * 8 * <usize>slot;
}

/** Address of float32 slot `slot` inside workspace `ws`. */
@inline export function f32Slot(ws: usize, channels: i32, slot: i32): usize {
  return ws + paddedChannels(channels) * (F64_SLOTS * 8 + 4 * <usize>slot);
}
