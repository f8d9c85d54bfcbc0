// Per-channel workspace: one block the facade allocates per layer (or per
// functional call) and passes to every kernel as `ws` with the channel count.
// Layout, Cp = C rounded up to a multiple of 4 (so every array is 16-byte aligned):
//   [f64 slots: F64_SLOTS arrays of Cp doubles][f32 slots: F32_SLOTS arrays of Cp floats]

// float64 per-channel arrays
export const MEAN: i32 = 0;        // batch mean (shift + meanOffset)
export const MEAN_OFFSET: i32 = 1; // batch mean minus the channel's shift
export const VARIANCE: i32 = 2;    // biased batch variance
export const INV_STD: i32 = 3;     // 1 / sqrt(variance + eps) of the last training forward
export const SUM_A: i32 = 4;       // reduction outputs
export const SUM_B: i32 = 5;
export const GRAD_WEIGHT: i32 = 6; // dgamma of the last backward
export const GRAD_BIAS: i32 = 7;   // dbeta of the last backward
export const EVAL_INV_STD: i32 = 8;
export const F64_SLOTS: i32 = 9;

// float32 per-channel arrays
export const SHIFT: i32 = 0;       // value subtracted before scaling (training: a pilot sample of the channel)
export const SCALE: i32 = 1;
export const OFFSET: i32 = 2;
export const DX_DY: i32 = 3;       // dx = dy * DX_DY + (x - SHIFT) * DX_X + DX_CONST
export const DX_X: i32 = 4;
export const DX_CONST: i32 = 5;
export const EVAL_SHIFT: i32 = 6;  // cached inference coefficients
export const EVAL_SCALE: i32 = 7;
export const EVAL_OFFSET: i32 = 8;
export const ZERO: i32 = 9;        // all zeros, for "no shift / no offset"
export const F32_SLOTS: i32 = 10;

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
