// The per-channel workspace block that kernels read and write (layout in
// assembly/workspace.ts). Slot numbers mirror that file.
import type { Kernels } from "./wasm.ts";

export const F64 = { MEAN: 0, MEAN_OFFSET: 1, VARIANCE: 2, INV_STD: 3, GRAD_WEIGHT: 6, GRAD_BIAS: 7, EVAL_INV_STD: 8 } as const;

export class ChannelWorkspace {
  readonly channels: number;
  readonly kernels: Kernels;
  #ptr: number;

  constructor(kernels: Kernels, channels: number) {
    this.kernels = kernels;
    this.channels = channels;
    this.#ptr = kernels.alloc(kernels.workspaceBytes(channels)) >>> 0;
    kernels.workspaceInit(channels, this.#ptr);
  }

  get ptr(): number {
    return this.#ptr;
  }

  /** A copy of float64 slot `slot` (one value per channel). */
  readF64(slot: number): Float64Array {
    const offset = this.#ptr + this.kernels.workspaceF64Offset(this.channels, slot);
    return new Float64Array(this.kernels.memory.buffer, offset, this.channels).slice();
  }

  dispose(): void {
    if (this.#ptr === 0) return;
    this.kernels.free(this.#ptr);
    this.#ptr = 0;
  }
}
