// batchnorm-wasm/node: file helpers for Node (and Deno, Bun with node:fs).
// The core ("batchnorm-wasm") stays runtime-neutral and works from bytes; this
// entry point only reads and writes files around it, and imports the core
// itself, so errors are the same BatchNormError class.
// @ts-ignore -- src/ is compiled without Node's types on purpose
import { readFile, writeFile } from "node:fs/promises";
import { readSafetensors, writeSafetensors, type SafetensorsFile, type SafetensorsInput } from "./index.ts";

/** readSafetensors on a file's bytes. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const bytes: Uint8Array = await readFile(path);
  return readSafetensors(bytes);
}

/** writeSafetensors to a file; resolves to the number of bytes written. */
export async function writeSafetensorsFile(path: string, tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Promise<number> {
  const bytes = writeSafetensors(tensors, metadata);
  await writeFile(path, bytes);
  return bytes.length;
}
