// Leak hunting: with setDebugTracking(true), every tensor created from then on
// records the call stack that created it, and liveTensorReport() lists the
// live ones with those stacks. Off by default: capturing a stack per tensor
// costs microseconds. Tensor's constructor and dispose() call the hooks below.
import { describeValue, fail } from "./errors.ts";
import type { Layout, Tensor } from "./tensor.ts";

export interface LiveTensorRecord {
  readonly shape: readonly number[];
  readonly layout: Layout | undefined;
  /** The first frame of `stack`: where your code created the tensor, when the library is its own file. */
  readonly createdAt: string;
  /**
   * The call stack at creation, innermost first, without the library's own
   * frames when the library is a file of its own (node_modules, dist/); in a
   * bundle that holds your code too, every frame is kept.
   */
  readonly stack: readonly string[];
}

interface Entry { readonly tensor: WeakRef<Tensor>; readonly stack: readonly string[] }

let tracking = false;
/** Insertion order is creation order; entries leave on dispose, or when the reference was collected. */
const entries = new Set<Entry>();
const entryOf = new WeakMap<Tensor, Entry>();

/** Turns creation-stack recording on or off for tensors created from now on. Turning it off forgets the records. */
export function setDebugTracking(on: boolean): void {
  if (typeof on !== "boolean") fail("ERR_ARGUMENT", "on", `must be a boolean, got ${describeValue(on)}`);
  if (on && typeof WeakRef === "undefined") fail("ERR_ARGUMENT", "on", "this engine has no WeakRef, which debug tracking needs");
  tracking = on;
  if (!on) entries.clear();
}

/** The live tensors created while tracking was on, oldest first, each with where it was created. */
export function liveTensorReport(): LiveTensorRecord[] {
  const report: LiveTensorRecord[] = [];
  for (const entry of entries) {
    const tensor = entry.tensor.deref();
    if (tensor === undefined || tensor.disposed) {
      entries.delete(entry);
      continue;
    }
    report.push({ shape: tensor.shape, layout: tensor.layout, createdAt: entry.stack[0] ?? "(no stack)", stack: entry.stack });
  }
  return report;
}

// ---- stack frames ----

/** The file (URL or path) a stack frame points into: V8's "at f (file:1:2)", SpiderMonkey's and JavaScriptCore's "f@file:1:2". */
function fileOf(frame: string): string | undefined {
  return /([^\s()@]+):\d+:\d+\)?\s*$/.exec(frame)?.[1];
}

const directoryOf = (file: string): string => file.slice(0, file.lastIndexOf("/") + 1);

/** The caller's frames, with those in the library's own directory (the one holding this file, or the bundle) removed. */
function callerFrames(): string[] {
  const frames = (new Error().stack ?? "").split("\n").map((line) => line.trim()).filter((line) => fileOf(line) !== undefined);
  const own = frames.length > 0 ? fileOf(frames[0]) : undefined;
  if (own === undefined) return frames;
  const libraryDirectory = directoryOf(own);
  const outside = frames.filter((frame) => !fileOf(frame)!.startsWith(libraryDirectory));
  return outside.length > 0 ? outside : frames.slice(1);
}

// ---- hooks called by Tensor ----

export function recordCreation(tensor: Tensor): void {
  if (!tracking) return;
  const entry: Entry = { tensor: new WeakRef(tensor), stack: callerFrames() };
  entries.add(entry);
  entryOf.set(tensor, entry);
}

export function forgetCreation(tensor: Tensor): void {
  if (!tracking) return;
  const entry = entryOf.get(tensor);
  if (entry !== undefined) entries.delete(entry);
}
