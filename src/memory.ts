// The one allocator of the façade: every tensor, workspace and saved-statistics
// block goes through allocate/release, so the library can account for what it
// holds, enforce a byte budget, turn a failed wasm allocation into
// ERR_OUT_OF_MEMORY, free what a program dropped, and (in tests) fence every
// block with guard bytes.
import { describeValue, fail } from "./errors.ts";
import { kernels, type Kernels } from "./wasm.ts";

export type AllocationKind = "tensor" | "workspace" | "savedStatistics";

/**
 * Largest single allocation. AssemblyScript's TLSF allocator refuses blocks of
 * 2^30 bytes and more (it aborts), so every block, guards included, stays below.
 */
export const MAX_ALLOCATION_BYTES = 2 ** 30 - 4096;

/**
 * Placement of large tensors: each starts on a cache line, at an offset modulo
 * 4 KiB that steps by 5 lines per allocation (5 is coprime to 64, so 64
 * consecutive tensors get 64 distinct offsets). Without it consecutive blocks
 * land 16 bytes apart modulo 4 KiB, where a kernel's loads from one and stores
 * to the next can alias in the CPU's 4 KiB address check (reported 1.4-2.1x
 * slower on a 256 MiB tensor on one AMD host; no difference measured on
 * another). The padding costs at most 4 KiB per tensor of STAGGER_MIN_BYTES and more.
 */
const STAGGER_MIN_BYTES = 64 * 1024;
const STAGGER_STEP_BYTES = 5 * 64;
const PAGE_BYTES = 4096;
let staggerSlot = 0;

/** Bytes of each guard fence in guard mode, before and after the block. */
const GUARD_BYTES = 64;
const guardByte = (i: number): number => (0xa5 ^ (i * 29)) & 0xff;

interface Allocation {
  readonly id: number;
  readonly bytes: number;
  readonly kind: AllocationKind;
  /** Start of the underlying wasm block (before the front guard in guard mode). */
  readonly block: number;
  readonly guarded: boolean;
  readonly kernels: Kernels;
}

const allocations = new Map<number, Allocation>();
const counts: Record<AllocationKind, number> = { tensor: 0, workspace: 0, savedStatistics: 0 };
let heldBytes = 0;
let nextId = 1;
let limit: number | null = null;
let guardMode = false;

export interface MemoryStats {
  /** Live tensors (the same number as liveTensorCount()). */
  tensors: number;
  /** Live per-channel workspaces (one per layer, and temporaries inside a call). */
  workspaces: number;
  /** Live SavedBatchStatistics handles. */
  savedStatistics: number;
  /** Bytes the library holds in wasm memory (requested sizes, without allocator overhead or guards). */
  bytes: number;
  /** Current size of the wasm memory. */
  wasmMemoryBytes: number;
}

export function memoryStats(): MemoryStats {
  return {
    tensors: counts.tensor, workspaces: counts.workspace, savedStatistics: counts.savedStatistics,
    bytes: heldBytes, wasmMemoryBytes: kernels().memory.buffer.byteLength,
  };
}

/** Tensors created and not yet disposed (or collected). */
export function liveTensorCount(): number {
  return counts.tensor;
}

/**
 * A budget for the bytes the library holds (memoryStats().bytes): an allocation
 * that would go over it throws ERR_OUT_OF_MEMORY. null removes the budget.
 * Lowering it below what is held frees nothing; later allocations fail.
 */
export function setMemoryLimit(bytes: number | null): void {
  if (bytes !== null && !(typeof bytes === "number" && Number.isSafeInteger(bytes) && bytes >= 0)) {
    fail("ERR_ARGUMENT", "bytes", `must be a non-negative integer number of bytes or null, got ${describeValue(bytes)}`);
  }
  limit = bytes;
}

/**
 * Allocates `bytes` bytes (16-byte aligned) of wasm memory for `argument`.
 * Throws ERR_OUT_OF_MEMORY, with nothing allocated, when the budget or the
 * wasm memory cannot hold it.
 */
export function allocate(bytes: number, argument: string, kind: AllocationKind): number {
  const k = kernels();
  const guarded = guardMode;
  const staggered = kind === "tensor" && bytes >= STAGGER_MIN_BYTES;
  const front = guarded ? GUARD_BYTES : 0;
  const blockBytes = bytes + 2 * front + (staggered ? PAGE_BYTES : 0);
  if (!Number.isSafeInteger(bytes) || bytes < 0 || blockBytes > MAX_ALLOCATION_BYTES) {
    fail("ERR_OUT_OF_MEMORY", argument, `cannot allocate ${bytes} bytes for a ${kind}: more than the largest block (${MAX_ALLOCATION_BYTES} bytes)`);
  }
  if (limit !== null && heldBytes + bytes > limit) {
    fail("ERR_OUT_OF_MEMORY", argument, `cannot allocate ${bytes} bytes for a ${kind}: the memory limit is ${limit} bytes and ${heldBytes} are held`);
  }
  let block: number;
  try {
    block = k.alloc(blockBytes) >>> 0;
  } catch (error) {
    // TLSF traps ("unreachable") when memory.grow fails and aborts on oversized
    // blocks; both happen before it changes its own state.
    const reason = error instanceof Error ? error.message : String(error);
    fail("ERR_OUT_OF_MEMORY", argument, `cannot allocate ${bytes} bytes for a ${kind}: the wasm memory cannot grow (${reason})`);
  }
  let ptr = block + front;
  if (staggered) {
    const target = (staggerSlot * STAGGER_STEP_BYTES) % PAGE_BYTES;
    staggerSlot = (staggerSlot + 1) % (PAGE_BYTES / 64);
    ptr += (target - (ptr % PAGE_BYTES) + PAGE_BYTES) % PAGE_BYTES;
  }
  if (guarded) writeGuards(k, ptr, bytes);
  allocations.set(ptr, { id: nextId++, bytes, kind, block, guarded, kernels: k });
  counts[kind]++;
  heldBytes += bytes;
  return ptr;
}

/** Frees a block from allocate(). Unknown addresses (already freed) are ignored. */
export function release(ptr: number): void {
  const allocation = allocations.get(ptr);
  if (allocation === undefined) return;
  allocations.delete(ptr);
  counts[allocation.kind]--;
  heldBytes -= allocation.bytes;
  allocation.kernels.free(allocation.block);
}

// ---- safety net for objects dropped without dispose() ----

interface Held { ptrs: number[]; ids: number[] }

const collector = typeof FinalizationRegistry !== "undefined"
  ? new FinalizationRegistry<Held>((held) => {
    held.ptrs.forEach((ptr, i) => {
      if (allocations.get(ptr)?.id === held.ids[i]) release(ptr);
    });
  })
  : undefined;

/** Frees `ptrs` when `owner` is garbage-collected without having called forget(owner). */
export function releaseWhenCollected(owner: object, ptrs: number[]): void {
  if (collector === undefined) return;
  const ids = ptrs.map((ptr) => allocations.get(ptr)?.id ?? 0);
  collector.register(owner, { ptrs, ids }, owner);
}

/** Called by dispose(): the owner freed its memory itself. */
export function forget(owner: object): void {
  collector?.unregister(owner);
}

// ---- guard bytes (tests) ----

function writeGuards(k: Kernels, ptr: number, bytes: number): void {
  const memory = new Uint8Array(k.memory.buffer);
  for (let i = 0; i < GUARD_BYTES; i++) {
    memory[ptr - GUARD_BYTES + i] = guardByte(i);
    memory[ptr + bytes + i] = guardByte(i + GUARD_BYTES);
  }
}

/**
 * Test mode: later allocations get 64 guard bytes before and after, filled with
 * a pattern that checkGuardBytes() verifies. Blocks allocated before the switch
 * keep the mode they were made with, so switching is allowed at any time.
 */
export function enableGuardBytes(on: boolean): void {
  if (typeof on !== "boolean") fail("ERR_ARGUMENT", "on", `must be a boolean, got ${describeValue(on)}`);
  guardMode = on;
}

/** One line per damaged guard byte run over all live guarded blocks; empty when all are intact. */
export function checkGuardBytes(): string[] {
  const violations: string[] = [];
  for (const [ptr, allocation] of allocations) {
    if (!allocation.guarded) continue;
    const memory = new Uint8Array(allocation.kernels.memory.buffer);
    for (const [side, start, patternStart] of [["before", ptr - GUARD_BYTES, 0], ["after", ptr + allocation.bytes, GUARD_BYTES]] as const) {
      const damaged: number[] = [];
      for (let i = 0; i < GUARD_BYTES; i++) if (memory[start + i] !== guardByte(i + patternStart)) damaged.push(i);
      if (damaged.length > 0) {
        violations.push(`${allocation.kind} at ${ptr} (${allocation.bytes} bytes): ${damaged.length} guard bytes ${side} it overwritten (first at offset ${damaged[0]})`);
      }
    }
  }
  return violations;
}
