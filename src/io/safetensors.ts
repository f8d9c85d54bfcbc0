// safetensors, read and write, from and to bytes (runtime-neutral).
//
// The format: 8 bytes, the header's length N as a little-endian u64; N bytes of
// UTF-8 JSON, an object mapping each tensor name to { dtype, shape,
// data_offsets: [begin, end] } (byte offsets into the data that follows the
// header) plus an optional "__metadata__" map of strings to strings; then the
// raw little-endian data. Reading checks all of it before reading any value:
// the header length against the file, the JSON, every entry's keys, dtype,
// shape and offsets, that the offsets hold exactly shape x itemsize bytes, and
// that the tensors tile the data with no gap and no overlap (as the reference
// implementation requires). A malformed or hostile file gets ERR_FORMAT naming
// what is wrong; nothing is read out of range. The input is copied once first,
// so a caller changing the buffer during the call cannot change what is read.
import { describeValue, fail } from "../errors.ts";
import { MAX_TENSOR_ELEMENTS } from "../values.ts";

/** Element types of the format, with their sizes in bytes. */
const ITEM_SIZES = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
} as const;

export type SafetensorsDtype = keyof typeof ITEM_SIZES;

/** The dtypes readSafetensors converts to float32. */
export const SAFETENSORS_READ_DTYPES = ["F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"] as const;
/** The dtypes writeSafetensors writes. */
export const SAFETENSORS_WRITE_DTYPES = ["F32", "I64"] as const;

/** Largest header the reader accepts (the reference implementation's limit). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;
const MAX_RANK = 32;

export interface SafetensorsTensor {
  /** The dtype stored in the file. */
  dtype: SafetensorsDtype;
  shape: number[];
  /** The values converted to float32 (integers beyond 2^24 round). */
  data: Float32Array;
  /** For I64 tensors, the exact values. */
  int64?: BigInt64Array;
}

export interface SafetensorsFile {
  /** Tensors by name, in the file's data order (a null-prototype object: any name is safe). */
  tensors: Record<string, SafetensorsTensor>;
  /** The `__metadata__` map ({} when absent; null-prototype). */
  metadata: Record<string, string>;
  /**
   * The tensors as a state dict: each tensor's float32 data, except integer
   * scalars (num_batches_tracked), which become numbers. Ready for loadStateDict.
   */
  state: Record<string, Float32Array | number>;
}

const bad = (argument: string, message: string): never => fail("ERR_FORMAT", argument, message);

const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype), Symbol.toStringTag)!.get! as (this: unknown) => string | undefined;

/** A private copy of a Uint8Array or ArrayBuffer (read once: later changes by the caller cannot reach the parse). */
function copyBytes(bytes: unknown): Uint8Array {
  if (typedArrayTag.call(bytes) === "Uint8Array") return new Uint8Array(bytes as Uint8Array); // copies; runs no user code
  let isArrayBuffer = false;
  try {
    isArrayBuffer = bytes instanceof ArrayBuffer || Object.prototype.toString.call(bytes) === "[object ArrayBuffer]";
    if (isArrayBuffer) return new Uint8Array((bytes as ArrayBuffer).slice(0));
  } catch {
    // a detached or forged buffer: refused below
  }
  return fail("ERR_ARGUMENT", "bytes", `must be a Uint8Array or an ArrayBuffer, got ${describeValue(bytes)}`);
}

function readIndex(value: unknown, argument: string, limit: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > limit) {
    bad(argument, `must be an integer from 0 to ${limit}, got ${describeValue(value)}`);
  }
  return value as number;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

interface Entry { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }

/** Parses a safetensors file. Throws ERR_FORMAT (malformed file) or ERR_ARGUMENT (not bytes). */
export function readSafetensors(bytes: Uint8Array | ArrayBuffer): SafetensorsFile {
  const file = copyBytes(bytes);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.byteLength < 8) bad("bytes", `holds ${file.byteLength} bytes; a safetensors file starts with an 8-byte header length`);
  const low = view.getUint32(0, true), high = view.getUint32(4, true);
  const headerLength = high * 2 ** 32 + low;
  if (headerLength < 2) bad("header length", `is ${headerLength}; the header is a JSON object of at least 2 bytes`);
  if (headerLength > MAX_SAFETENSORS_HEADER_BYTES) bad("header length", `is ${headerLength} bytes, more than the ${MAX_SAFETENSORS_HEADER_BYTES} accepted`);
  if (headerLength > file.byteLength - 8) bad("header length", `is ${headerLength} bytes but the file holds only ${file.byteLength - 8} after the length (truncated?)`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(file.subarray(8, 8 + headerLength));
  } catch {
    return bad("header", "is not valid UTF-8");
  }
  if (text[0] !== "{") bad("header", `must be a JSON object starting with "{", starts with ${JSON.stringify(text.slice(0, 20))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    return bad("header", `is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) bad("header", "must be a JSON object");
  const dataStart = 8 + headerLength;
  const dataLength = file.byteLength - dataStart;
  const metadata: Record<string, string> = Object.create(null);
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    const argument = `header[${JSON.stringify(name)}]`;
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad(argument, `must be an object of strings, got ${describeValue(raw)}`);
      for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof value !== "string") bad(`${argument}[${JSON.stringify(key)}]`, `must be a string, got ${describeValue(value)}`);
        metadata[key] = value as string;
      }
      continue;
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad(argument, `must be an object { dtype, shape, data_offsets }, got ${describeValue(raw)}`);
    const record = raw as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (key !== "dtype" && key !== "shape" && key !== "data_offsets") bad(`${argument}.${key}`, "unknown key (expected dtype, shape, data_offsets)");
    }
    const dtype = record.dtype;
    if (typeof dtype !== "string" || !Object.prototype.hasOwnProperty.call(ITEM_SIZES, dtype)) {
      bad(`${argument}.dtype`, `must be one of ${Object.keys(ITEM_SIZES).join(", ")}, got ${describeValue(dtype)}`);
    }
    const shapeValue = record.shape;
    if (!Array.isArray(shapeValue) || shapeValue.length > MAX_RANK) bad(`${argument}.shape`, `must be an array of at most ${MAX_RANK} sizes, got ${describeValue(shapeValue)}`);
    const shape = (shapeValue as unknown[]).map((size, i) => readIndex(size, `${argument}.shape[${i}]`, MAX_TENSOR_ELEMENTS));
    let elements = 1;
    for (const size of shape) elements *= size; // each size <= 2^27 and the product is checked after every step
    if (elements > MAX_TENSOR_ELEMENTS) bad(`${argument}.shape`, `[${shape.join(", ")}] has more than ${MAX_TENSOR_ELEMENTS} elements`);
    const offsets = record.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2) bad(`${argument}.data_offsets`, `must be [begin, end], got ${describeValue(offsets)}`);
    const begin = readIndex((offsets as unknown[])[0], `${argument}.data_offsets[0]`, dataLength);
    const end = readIndex((offsets as unknown[])[1], `${argument}.data_offsets[1]`, dataLength);
    if (end < begin) bad(`${argument}.data_offsets`, `end ${end} is before begin ${begin}`);
    const expected = elements * ITEM_SIZES[dtype as SafetensorsDtype];
    if (end - begin !== expected) bad(`${argument}.data_offsets`, `[${begin}, ${end}] holds ${end - begin} bytes; ${dtype} [${shape.join(", ")}] needs ${expected}`);
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape, begin, end });
  }
  // The tensors must tile the data exactly: sorted by begin, each starts where the previous ended.
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  for (const entry of ordered) {
    if (entry.begin !== position) {
      bad(`header[${JSON.stringify(entry.name)}].data_offsets`, entry.begin < position ? `[${entry.begin}, ${entry.end}] overlaps another tensor's bytes (which end at ${position})` : `[${entry.begin}, ${entry.end}] leaves bytes ${position} to ${entry.begin} unused`);
    }
    position = entry.end;
  }
  if (position !== dataLength) bad("bytes", `hold ${dataLength} data bytes after the header but the tensors use ${position}`);
  for (const entry of ordered) {
    if (!(SAFETENSORS_READ_DTYPES as readonly string[]).includes(entry.dtype)) {
      bad(`header[${JSON.stringify(entry.name)}].dtype`, `${entry.dtype} is not supported (reads ${SAFETENSORS_READ_DTYPES.join(", ")})`);
    }
  }
  const tensors: Record<string, SafetensorsTensor> = Object.create(null);
  const state: Record<string, Float32Array | number> = Object.create(null);
  for (const entry of ordered) {
    const tensor = decode(view, dataStart + entry.begin, entry);
    tensors[entry.name] = tensor;
    state[entry.name] = entry.shape.length === 0 && tensor.int64 !== undefined ? scalarCount(tensor.int64[0], entry.name) : tensor.data;
  }
  return { tensors, metadata, state };
}

/** An integer scalar (num_batches_tracked) as a number; refused beyond the safe integers. */
function scalarCount(value: bigint, name: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) bad(`tensor ${JSON.stringify(name)}`, `the I64 scalar ${value} is beyond the safe integers`);
  return Number(value);
}

function decode(view: DataView, start: number, entry: Entry): SafetensorsTensor {
  const count = (entry.end - entry.begin) / ITEM_SIZES[entry.dtype];
  const data = new Float32Array(count);
  const tensor: SafetensorsTensor = { dtype: entry.dtype, shape: entry.shape, data };
  switch (entry.dtype) {
    case "F32":
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(start + 4 * i, true);
      break;
    case "F64":
      for (let i = 0; i < count; i++) {
        const value = view.getFloat64(start + 8 * i, true);
        const rounded = Math.fround(value);
        if (!Number.isFinite(rounded) && Number.isFinite(value)) {
          bad(`tensor ${JSON.stringify(entry.name)}`, `element ${i} is ${value}, beyond the float32 range`);
        }
        data[i] = rounded;
      }
      break;
    case "F16":
      for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(start + 2 * i, true));
      break;
    case "BF16": {
      const bits = new Uint32Array(data.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(start + 2 * i, true) << 16;
      break;
    }
    case "I64": {
      const exact = new BigInt64Array(count);
      for (let i = 0; i < count; i++) {
        exact[i] = view.getBigInt64(start + 8 * i, true);
        data[i] = Number(exact[i]);
      }
      tensor.int64 = exact;
      break;
    }
    case "I32":
      for (let i = 0; i < count; i++) data[i] = view.getInt32(start + 4 * i, true);
      break;
    case "I16":
      for (let i = 0; i < count; i++) data[i] = view.getInt16(start + 2 * i, true);
      break;
    case "I8":
      for (let i = 0; i < count; i++) data[i] = view.getInt8(start + i);
      break;
    case "U8":
      for (let i = 0; i < count; i++) data[i] = view.getUint8(start + i);
      break;
    case "BOOL":
      for (let i = 0; i < count; i++) {
        const byte = view.getUint8(start + i);
        if (byte > 1) bad(`tensor ${JSON.stringify(entry.name)}`, `BOOL element ${i} is ${byte}, not 0 or 1`);
        data[i] = byte;
      }
      break;
  }
  return tensor;
}

/** What writeSafetensors accepts per name. */
export type SafetensorsInput =
  | Float32Array | readonly number[] | ArrayLike<number>
  | number | bigint
  | { dtype?: "F32" | "I64"; shape?: readonly number[]; data: ArrayLike<number> | ArrayLike<bigint> | number | bigint; int64?: BigInt64Array }
  | SafetensorsTensor
  | { shape: readonly number[]; toFloat32Array(): Float32Array };

interface Staged { name: string; dtype: "F32" | "I64"; shape: number[]; bytes: Uint8Array }

function isTensorLike(value: object): value is { shape: readonly number[]; toFloat32Array(): Float32Array } {
  return typeof (value as { toFloat32Array?: unknown }).toFloat32Array === "function" && Array.isArray((value as { shape?: unknown }).shape);
}

function stageShape(shape: unknown, argument: string): number[] {
  if (!Array.isArray(shape) || shape.length > MAX_RANK) fail("ERR_SHAPE", argument, `must be an array of at most ${MAX_RANK} sizes, got ${describeValue(shape)}`);
  const sizes = (shape as unknown[]).map((size, i) => {
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0 || size > MAX_TENSOR_ELEMENTS) fail("ERR_SHAPE", `${argument}[${i}]`, `must be a non-negative integer, got ${describeValue(size)}`);
    return size as number;
  });
  if (sizes.reduce((a, b) => a * b, 1) > MAX_TENSOR_ELEMENTS) fail("ERR_SHAPE", argument, `has more than ${MAX_TENSOR_ELEMENTS} elements`);
  return sizes;
}

function stageF32(values: unknown, argument: string): Float32Array {
  const tag = typedArrayTag.call(values);
  if (tag === "Float32Array") return new Float32Array(values as Float32Array);
  if (tag !== undefined && tag !== "BigInt64Array" && tag !== "BigUint64Array") return Float32Array.from(new Float64Array(values as ArrayLike<number>), (v) => f32(v, argument));
  if (!Array.isArray(values)) fail("ERR_ARGUMENT", argument, `must be a Float32Array or an array of numbers, got ${describeValue(values)}`);
  const list = values as unknown[];
  if (list.length > MAX_TENSOR_ELEMENTS) fail("ERR_SHAPE", argument, `has more than ${MAX_TENSOR_ELEMENTS} elements`);
  const out = new Float32Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== "number") fail("ERR_ARGUMENT", `${argument}[${i}]`, `must be a number, got ${describeValue(v)}`);
    out[i] = f32(v as number, `${argument}[${i}]`);
  }
  return out;
}

function f32(value: number, argument: string): number {
  const rounded = Math.fround(value);
  if (!Number.isFinite(rounded) && Number.isFinite(value)) fail("ERR_ARGUMENT", argument, `${value} is beyond the float32 range`);
  return rounded;
}

function stageI64(values: unknown, argument: string): BigInt64Array {
  const one = (v: unknown, where: string): bigint => {
    if (typeof v === "bigint" && v >= -(2n ** 63n) && v < 2n ** 63n) return v;
    if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
    return fail("ERR_ARGUMENT", where, `must be a safe integer or an int64 bigint, got ${describeValue(v)}`);
  };
  if (typeof values === "number" || typeof values === "bigint") return BigInt64Array.of(one(values, argument));
  const tag = typedArrayTag.call(values);
  if (tag === "BigInt64Array") return new BigInt64Array(values as BigInt64Array);
  const list = tag !== undefined && tag !== "BigUint64Array" ? Array.from(values as ArrayLike<number>) : values;
  if (!Array.isArray(list)) fail("ERR_ARGUMENT", argument, `must be integers (an array, a BigInt64Array or one number), got ${describeValue(values)}`);
  const items = list as unknown[];
  if (items.length > MAX_TENSOR_ELEMENTS) fail("ERR_SHAPE", argument, `has more than ${MAX_TENSOR_ELEMENTS} elements`);
  return BigInt64Array.from(items.map((v, i) => one(v, `${argument}[${i}]`)));
}

function stageTensor(name: string, value: unknown): Staged {
  const argument = `tensors[${JSON.stringify(name)}]`;
  if (name === "__metadata__") fail("ERR_ARGUMENT", argument, "is the metadata key; pass metadata as the second argument");
  if (typeof value === "number" || typeof value === "bigint") {
    return { name, dtype: "I64", shape: [], bytes: int64Bytes(stageI64(value, argument)) };
  }
  if (typeof value !== "object" || value === null) fail("ERR_ARGUMENT", argument, `must be a Float32Array, an array of numbers, an integer, a Tensor or { dtype, shape, data }, got ${describeValue(value)}`);
  if (isTensorLike(value as object)) {
    const tensor = value as { shape: readonly number[]; toFloat32Array(): Float32Array };
    const data = tensor.toFloat32Array();
    return { name, dtype: "F32", shape: stageShape([...tensor.shape], `${argument}.shape`), bytes: float32Bytes(data) };
  }
  if (typedArrayTag.call(value) !== undefined || Array.isArray(value)) {
    const data = stageF32(value, argument);
    return { name, dtype: "F32", shape: [data.length], bytes: float32Bytes(data) };
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key !== "dtype" && key !== "shape" && key !== "data" && key !== "int64") fail("ERR_ARGUMENT", `${argument}.${key}`, "unknown key (expected dtype, shape, data)");
  }
  const dtypeValue = record.dtype, shapeValue = record.shape, exact = record.int64;
  // A tensor from readSafetensors: its exact int64 values when it has them.
  const dataValue = dtypeValue === "I64" && exact !== undefined ? exact : record.data;
  if (dtypeValue !== undefined && dtypeValue !== "F32" && dtypeValue !== "I64") {
    fail("ERR_ARGUMENT", `${argument}.dtype`, `writes ${SAFETENSORS_WRITE_DTYPES.join(" or ")}, got ${describeValue(dtypeValue)}`);
  }
  const dtype = (dtypeValue ?? (typedArrayTag.call(dataValue) === "BigInt64Array" || typeof dataValue === "bigint" ? "I64" : "F32")) as "F32" | "I64";
  let bytes: Uint8Array, count: number;
  if (dtype === "I64") {
    const ints = stageI64(dataValue, `${argument}.data`);
    [bytes, count] = [int64Bytes(ints), ints.length];
  } else {
    const floats = typeof dataValue === "number" ? Float32Array.of(f32(dataValue, `${argument}.data`)) : stageF32(dataValue, `${argument}.data`);
    [bytes, count] = [float32Bytes(floats), floats.length];
  }
  const scalar = typeof dataValue === "number" || typeof dataValue === "bigint";
  const shape = shapeValue === undefined ? (scalar ? [] : [count]) : stageShape(shapeValue, `${argument}.shape`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== count) fail("ERR_LENGTH", `${argument}.data`, `has ${count} values but shape [${shape.join(", ")}] needs ${size}`);
  return { name, dtype, shape, bytes };
}

function float32Bytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  return bytes;
}

function int64Bytes(values: BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(8 * i, values[i], true);
  return bytes;
}

/**
 * A safetensors file holding `tensors` (F32 from float arrays and tensors, I64
 * from integers and bigints, or as given by `{ dtype, shape, data }`), in the
 * given key order, with `metadata` (strings) as `__metadata__`. The header is
 * padded with spaces to a multiple of 8 bytes, as the reference writer does.
 */
export function writeSafetensors(tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Uint8Array {
  if (typeof tensors !== "object" || tensors === null || Array.isArray(tensors)) fail("ERR_ARGUMENT", "tensors", `must be an object of named tensors, got ${describeValue(tensors)}`);
  const staged = Object.keys(tensors).map((name) => stageTensor(name, (tensors as Record<string, unknown>)[name]));
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined) {
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) fail("ERR_ARGUMENT", "metadata", `must be an object of strings, got ${describeValue(metadata)}`);
    const copy: Record<string, string> = {};
    for (const key of Object.keys(metadata)) {
      const value: unknown = (metadata as Record<string, unknown>)[key];
      if (typeof value !== "string") fail("ERR_ARGUMENT", `metadata.${key}`, `must be a string, got ${describeValue(value)}`);
      copy[key] = value as string;
    }
    header.__metadata__ = copy;
  }
  let offset = 0;
  for (const t of staged) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  let position = 8 + json.length;
  for (const t of staged) {
    out.set(t.bytes, position);
    position += t.bytes.length;
  }
  return out;
}
