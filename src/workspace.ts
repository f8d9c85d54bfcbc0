// The per-channel workspace block that kernels read and write (layout in
// assembly/workspace.ts). Slot numbers mirror that file.
import { fail } from "./errors.ts";
import { allocate, release, type AllocationKind } from "./memory.ts";
import type { Kernels } from "./wasm.ts";

export const F64 = { MEAN: 0, MEAN_OFFSET: 1, VARIANCE: 2, INV_STD: 3, GRAD_WEIGHT: 6, GRAD_BIAS: 7, EVAL_INV_STD: 8 } as const;

/** Most channels a layer or a functional call takes; keeps every workspace far below 2^32 bytes. */
export const MAX_CHANNELS = 2 ** 22;

const bytesPerChannel = new WeakMap<Kernels, number>();

/**
 * Bytes of a workspace for `channels` channels, computed in doubles:
 * paddedChannels(C) * (bytes per padded channel), the latter read from the
 * kernels at C = 4 where their 32-bit arithmetic cannot wrap. Refuses when the
 * kernels' own figure for C disagrees, so JS and wasm can never size it differently.
 */
export function workspaceBytes(k: Kernels, channels: number, argument: string): number {
  if (!Number.isSafeInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    fail("ERR_CHANNELS", argument, `must have 1 to ${MAX_CHANNELS} channels, got ${channels}`);
  }
  let perChannel = bytesPerChannel.get(k);
  if (perChannel === undefined) {
    perChannel = (k.workspaceBytes(4) >>> 0) / 4;
    bytesPerChannel.set(k, perChannel);
  }
  const bytes = (Math.ceil(channels / 4) * 4) * perChannel;
  const kernelBytes = k.workspaceBytes(channels) >>> 0;
  if (bytes !== kernelBytes) fail("ERR_CHANNELS", argument, `workspace size disagrees between JS (${bytes} bytes) and the kernels (${kernelBytes}) for ${channels} channels`);
  return bytes;
}

export class ChannelWorkspace {
  readonly channels: number;
  readonly kernels: Kernels;
  #ptr: number;
  #f64Offsets = new Map<number, number>();

  /** Allocates and clears a workspace; throws ERR_CHANNELS or ERR_OUT_OF_MEMORY (naming `argument`) with nothing held. */
  constructor(kernels: Kernels, channels: number, argument: string, kind: AllocationKind = "workspace") {
    const bytes = workspaceBytes(kernels, channels, argument);
    this.kernels = kernels;
    this.channels = channels;
    this.#ptr = allocate(bytes, argument, kind);
    kernels.workspaceInit(channels, this.#ptr);
  }

  get ptr(): number {
    return this.#ptr;
  }

  get disposed(): boolean {
    return this.#ptr === 0;
  }

  /** A copy of float64 slot `slot` (one value per channel). */
  readF64(slot: number): Float64Array {
    return this.viewF64(slot).slice();
  }

  /** A view of float64 slot `slot`, valid until the next allocation. */
  viewF64(slot: number): Float64Array {
    let offset = this.#f64Offsets.get(slot);
    if (offset === undefined) this.#f64Offsets.set(slot, (offset = this.kernels.workspaceF64Offset(this.channels, slot)));
    return new Float64Array(this.kernels.memory.buffer, this.#ptr + offset, this.channels);
  }

  dispose(): void {
    if (this.#ptr === 0) return;
    release(this.#ptr);
    this.#ptr = 0;
  }
}
