// safetensors read and write (src/io/safetensors.ts): the torch checkpoint of
// generate-checkpoints.py read and rewritten byte for byte, F16/BF16/F64/I64
// files against torch's own conversions, round trips, and a malformed-file
// battery (every truncation, every header field, seeded byte flips) that must
// give ERR_FORMAT and nothing else.
import { describe, expect, it } from "vitest";
import { BatchNormError, readSafetensors, writeSafetensors, MAX_SAFETENSORS_HEADER_BYTES } from "../../src/index.ts";
import { caughtError } from "../support/errors.ts";
import { seededRandom } from "../support/random.ts";
import { checkpointBytes, checkpointCases, decodeBytes, decodeFloat32 } from "../support/checkpoint.ts";

const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length && new Uint32Array(a.buffer, a.byteOffset, a.length).every((v, i) => v === new Uint32Array(b.buffer, b.byteOffset, b.length)[i]);

/** A file from a header object and data bytes, as a hostile writer would make it. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (n: number) => ({ dtype: "F32", shape: [n], data_offsets: [0, 4 * n] });

describe("safetensors: the torch checkpoint", () => {
  const file = readSafetensors(checkpointBytes());

  it("reads every tensor of torch's state_dict, in order, with its shape and the metadata", () => {
    expect(Object.keys(file.tensors)).toEqual(checkpointCases.keys);
    for (const key of checkpointCases.keys) expect(file.tensors[key].shape, key).toEqual(checkpointCases.shapes[key]);
    expect({ ...file.metadata }).toEqual(checkpointCases.metadata);
    expect(file.tensors["features.0.weight"].dtype).toBe("F32");
    expect(file.tensors["features.1.num_batches_tracked"].dtype).toBe("I64");
  });

  it("gives num_batches_tracked as a number in .state and float32 data for the rest", () => {
    const count = file.state["features.1.num_batches_tracked"];
    expect(typeof count).toBe("number");
    expect(count).toBe(Number(file.tensors["features.1.num_batches_tracked"].int64![0]));
    expect(count).toBeGreaterThan(0);
    expect(file.state["features.1.running_var"]).toBeInstanceOf(Float32Array);
    expect((file.state["features.6.weight"] as Float32Array).length).toBe(12 * 4 * 3 * 3);
  });

  it("writes the same bytes back (header order, compact JSON, space padding to 8 bytes)", () => {
    const again = writeSafetensors(file.tensors, file.metadata);
    const original = checkpointBytes();
    expect(again.length).toBe(original.length);
    expect(again.every((b, i) => b === original[i])).toBe(true);
  });

  it("reads from an ArrayBuffer and from a Uint8Array view at an offset", () => {
    const bytes = checkpointBytes();
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const fromView = readSafetensors(shifted.subarray(3));
    const fromBuffer = readSafetensors(bytes.buffer.slice(0));
    for (const key of checkpointCases.keys) {
      expect(sameBits(fromView.tensors[key].data, file.tensors[key].data), key).toBe(true);
      expect(sameBits(fromBuffer.tensors[key].data, file.tensors[key].data), key).toBe(true);
    }
  });
});

describe("safetensors: dtypes against torch's conversions", () => {
  it.each(checkpointCases.dtypeFiles.map((f) => [f.dtype, f] as const))("%s", (dtype, fixture) => {
    const file = readSafetensors(decodeBytes(fixture.bytes));
    for (const [key, shape] of Object.entries(fixture.shapes)) expect(file.tensors[key].shape, key).toEqual(shape);
    for (const [key, expected] of Object.entries(fixture.expected)) {
      expect(file.tensors[key].dtype, key).toBe(dtype);
      expect(sameBits(file.tensors[key].data, decodeFloat32(expected)), `${dtype} ${key}: bits of torch's .to(float32)`).toBe(true);
    }
    expect(file.state.num_batches_tracked).toBe(fixture.count);
    if (dtype === "I64") {
      expect([...file.tensors.vector.int64!]).toEqual([-3n, 0n, 7n, 2n ** 40n]);
      expect([...file.tensors.vector.data]).toEqual([-3, 0, 7, 2 ** 40]);
    }
  });

  it("reads F16 subnormals, infinities and NaN, BF16 NaN, and the small integer types", () => {
    const half = new Uint8Array(new Uint16Array([0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e00, 0x3c00, 0xc000, 0x8000]).buffer);
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0x7fc1, 0xff80]).buffer);
    const i32 = new Uint8Array(new Int32Array([-5, 2 ** 30]).buffer);
    const header = {
      h: { dtype: "F16", shape: [8], data_offsets: [0, 16] },
      b: { dtype: "BF16", shape: [3], data_offsets: [16, 22] },
      i: { dtype: "I32", shape: [2], data_offsets: [22, 30] },
      u: { dtype: "U8", shape: [1], data_offsets: [30, 31] },
      z: { dtype: "BOOL", shape: [1], data_offsets: [31, 32] },
    };
    const data = new Uint8Array(32);
    data.set(half, 0);
    data.set(bf16, 16);
    data.set(i32, 22);
    data[30] = 200;
    data[31] = 1;
    const file = readSafetensors(rawFile(header, data));
    const h = [...file.tensors.h.data];
    expect(h.slice(0, 2)).toEqual([2 ** -24, 1023 * 2 ** -24]);
    expect(h.slice(2, 4)).toEqual([Infinity, -Infinity]);
    expect(h[4]).toBeNaN();
    expect(h.slice(5)).toEqual([1, -2, -0]);
    expect(Object.is(h[7], -0)).toBe(true);
    expect(file.tensors.b.data[0]).toBe(1);
    expect(file.tensors.b.data[1]).toBeNaN();
    expect(file.tensors.b.data[2]).toBe(-Infinity);
    expect([...file.tensors.i.data]).toEqual([-5, 2 ** 30]);
    expect([...file.tensors.u.data, ...file.tensors.z.data]).toEqual([200, 1]);
  });
});

describe("safetensors: write and read back", () => {
  it("keeps F32 bits (NaN, -0, subnormals), I64 from numbers and bigints, shapes, scalars, empty tensors and metadata", () => {
    const odd = new Float32Array([NaN, -0, 1e-45, -3.4028234663852886e38, Infinity, 0.1]);
    const bytes = writeSafetensors({
      odd, list: [1, 2, 3], matrix: { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, scalar: { shape: [], data: 2.5 },
      count: 7, big: { dtype: "I64", data: [2n ** 62n, -1n] }, empty: { shape: [0, 4], data: [] }, ["__proto__"]: [9], "ünï.cödé": [1],
    }, { format: "pt", note: "ü" });
    const headerLength = new DataView(bytes.buffer).getUint32(0, true);
    expect(headerLength % 8).toBe(0);
    const file = readSafetensors(bytes);
    expect(sameBits(file.tensors.odd.data, odd)).toBe(true);
    expect(file.tensors.matrix.shape).toEqual([2, 3]);
    expect(file.tensors.scalar).toMatchObject({ dtype: "F32", shape: [] });
    expect(file.tensors.scalar.data[0]).toBe(2.5);
    expect(file.state.count).toBe(7);
    expect([...file.tensors.big.int64!]).toEqual([2n ** 62n, -1n]);
    expect(file.tensors.empty.shape).toEqual([0, 4]);
    expect(Object.keys(file.tensors)).toContain("__proto__");
    expect(Object.getPrototypeOf(file.tensors)).toBeNull();
    expect([...file.tensors["__proto__"].data]).toEqual([9]);
    expect([...file.tensors["ünï.cödé"].data]).toEqual([1]);
    expect({ ...file.metadata }).toEqual({ format: "pt", note: "ü" });
  });

  it.each([
    ["a non-object", () => writeSafetensors(null as never), "ERR_ARGUMENT", "tensors"],
    ["the metadata key as a tensor", () => writeSafetensors({ __metadata__: [1] }), "ERR_ARGUMENT", 'tensors["__metadata__"]'],
    ["a dtype it does not write", () => writeSafetensors({ a: { dtype: "F16", data: [1] } as never }), "ERR_ARGUMENT", 'tensors["a"].dtype'],
    ["a shape that does not match", () => writeSafetensors({ a: { shape: [2, 2], data: [1, 2, 3] } }), "ERR_LENGTH", 'tensors["a"].data'],
    ["a fractional integer", () => writeSafetensors({ a: 1.5 }), "ERR_ARGUMENT", 'tensors["a"]'],
    ["an unsafe integer", () => writeSafetensors({ a: 2 ** 60 }), "ERR_ARGUMENT", 'tensors["a"]'],
    ["a value beyond float32", () => writeSafetensors({ a: [1e39] }), "ERR_ARGUMENT", 'tensors["a"][0]'],
    ["a string element", () => writeSafetensors({ a: ["1"] as never }), "ERR_ARGUMENT", 'tensors["a"][0]'],
    ["an unknown key", () => writeSafetensors({ a: { data: [1], offset: 0 } as never }), "ERR_ARGUMENT", 'tensors["a"].offset'],
    ["a non-string metadata value", () => writeSafetensors({}, { a: 1 } as never), "ERR_ARGUMENT", "metadata.a"],
    ["a negative size", () => writeSafetensors({ a: { shape: [-1], data: [] } }), "ERR_SHAPE", 'tensors["a"].shape[0]'],
  ])("refuses %s", (_name, call, code, argument) => {
    expect(caughtError(call)).toMatchObject({ code, argument });
  });
});

describe("safetensors: malformed and hostile files", () => {
  const valid = writeSafetensors({ a: new Float32Array([1, 2, 3]), n: 5 }, { k: "v" });
  const expectFormat = (bytes: Uint8Array, argument?: string | RegExp, message?: string) => {
    const error = caughtError(() => readSafetensors(bytes));
    expect(error.code, error.message).toBe("ERR_FORMAT");
    if (typeof argument === "string") expect(error.argument).toBe(argument);
    else if (argument) expect(error.argument).toMatch(argument);
    if (message) expect(error.message).toContain(message);
  };

  it("refuses every truncation of a valid file", () => {
    for (let length = 0; length < valid.length; length++) expectFormat(valid.slice(0, length));
    expect(readSafetensors(valid).state.n).toBe(5);
  });

  it("refuses trailing bytes after the tensors", () => {
    const longer = new Uint8Array(valid.length + 1);
    longer.set(valid);
    expectFormat(longer, "bytes", "tensors use");
  });

  it("refuses header lengths beyond the file, beyond the limit, in the high word, and too small", () => {
    const withLength = (low: number, high: number) => {
      const copy = valid.slice();
      new DataView(copy.buffer).setUint32(0, low, true);
      new DataView(copy.buffer).setUint32(4, high, true);
      return copy;
    };
    expectFormat(withLength(0xffffffff, 0xffffffff), "header length");
    expectFormat(withLength(8, 1), "header length");
    expectFormat(withLength(MAX_SAFETENSORS_HEADER_BYTES + 1, 0), "header length");
    expectFormat(withLength(valid.length, 0), "header length", "truncated");
    expectFormat(withLength(0, 0), "header length");
    expectFormat(withLength(1, 0), "header length");
  });

  it.each([
    ["not UTF-8", rawFile(null, undefined, "{\"a\":\"\xff\"}").map((b, i, all) => (i === all.length - 3 ? 0xff : b)), "header"],
    ["not JSON", rawFile(null, undefined, "{not json}"), "header"],
    ["a JSON array", rawFile(null, undefined, "[1, 2]"), "header"],
    ["JSON null", rawFile(null, undefined, "null"), "header"],
    ["deeply nested JSON", rawFile(null, undefined, `{"a":${"[".repeat(100000)}${"]".repeat(100000)}}`), /header/],
    ["an entry that is not an object", rawFile({ a: 3 }), 'header["a"]'],
    ["an unknown entry key", rawFile({ a: { ...f32(0), extra: 1 } }), 'header["a"].extra'],
    ["an unknown dtype", rawFile({ a: { dtype: "F128", shape: [0], data_offsets: [0, 0] } }), 'header["a"].dtype'],
    ["a dtype it does not read", rawFile({ a: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), 'header["a"].dtype'],
    ["a missing dtype", rawFile({ a: { shape: [0], data_offsets: [0, 0] } }), 'header["a"].dtype'],
    ["a shape that is not an array", rawFile({ a: { dtype: "F32", shape: 3, data_offsets: [0, 12] } }, new Uint8Array(12)), 'header["a"].shape'],
    ["a negative size", rawFile({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }), 'header["a"].shape[0]'],
    ["a fractional size", rawFile({ a: { dtype: "F32", shape: [1.5], data_offsets: [0, 6] } }, new Uint8Array(6)), 'header["a"].shape[0]'],
    ["a string size", rawFile({ a: { dtype: "F32", shape: ["1"], data_offsets: [0, 4] } }, new Uint8Array(4)), 'header["a"].shape[0]'],
    ["sizes whose product is huge", rawFile({ a: { dtype: "F32", shape: [2 ** 27, 2 ** 27, 2 ** 27], data_offsets: [0, 0] } }), 'header["a"].shape'],
    ["more than 32 axes", rawFile({ a: { dtype: "F32", shape: new Array(33).fill(1), data_offsets: [0, 4] } }, new Uint8Array(4)), 'header["a"].shape'],
    ["offsets that are not a pair", rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [0] } }, new Uint8Array(4)), 'header["a"].data_offsets'],
    ["a negative offset", rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [-4, 0] } }, new Uint8Array(4)), 'header["a"].data_offsets[0]'],
    ["an offset beyond the data", rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(4)), 'header["a"].data_offsets[1]'],
    ["an offset of 2^53", rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 2 ** 53] } }, new Uint8Array(4)), 'header["a"].data_offsets[1]'],
    ["end before begin", rawFile({ a: { dtype: "F32", shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)), 'header["a"].data_offsets'],
    ["a byte range that does not match the shape", rawFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)), 'header["a"].data_offsets'],
    ["overlapping tensors", rawFile({ a: f32(2), b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)), /data_offsets/],
    ["a gap between tensors", rawFile({ a: f32(1), b: { dtype: "F32", shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)), 'header["b"].data_offsets'],
    ["two tensors on the same bytes", rawFile({ a: f32(1), b: f32(1) }, new Uint8Array(4)), /data_offsets/],
    ["metadata that is not an object", rawFile({ __metadata__: ["x"] }), 'header["__metadata__"]'],
    ["a metadata value that is not a string", rawFile({ __metadata__: { a: 1 } }), 'header["__metadata__"]["a"]'],
    ["a BOOL byte that is not 0 or 1", rawFile({ a: { dtype: "BOOL", shape: [1], data_offsets: [0, 1] } }, new Uint8Array([2])), 'tensor "a"'],
    ["an F64 beyond float32", rawFile({ a: { dtype: "F64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(new Float64Array([1e300]).buffer)), 'tensor "a"'],
    ["an I64 scalar beyond the safe integers", rawFile({ a: { dtype: "I64", shape: [], data_offsets: [0, 8] } }, new Uint8Array(new BigInt64Array([2n ** 60n]).buffer)), 'tensor "a"'],
  ])("refuses %s", (_name, bytes, argument) => {
    expectFormat(bytes as Uint8Array, argument as string | RegExp);
  });

  it("refuses what is not bytes with ERR_ARGUMENT", () => {
    for (const value of [null, "abc", [1, 2], new Float32Array(4), { byteLength: 8 }, 8]) {
      expect(caughtError(() => readSafetensors(value as never))).toMatchObject({ code: "ERR_ARGUMENT", argument: "bytes" });
    }
  });

  it("gives a result or ERR_FORMAT for 3000 seeded corruptions of the checkpoint (byte flips, stretched lengths, cut JSON)", () => {
    const random = seededRandom(13);
    const base = checkpointBytes();
    const headerLength = new DataView(base.buffer).getUint32(0, true);
    let refused = 0, read = 0;
    for (let round = 0; round < 3000; round++) {
      const bytes = base.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) {
        // Mostly inside the header (digits of offsets and shapes), sometimes the length, sometimes the data.
        const where = random() < 0.8 ? 8 + Math.floor(random() * headerLength) : Math.floor(random() * bytes.length);
        bytes[where] = random() < 0.5 ? Math.floor(random() * 256) : "0123456789[]{},\":-.e"[Math.floor(random() * 20)].charCodeAt(0);
      }
      try {
        const file = readSafetensors(bytes);
        for (const t of Object.values(file.tensors)) expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
        read += 1;
      } catch (error) {
        expect(error).toBeInstanceOf(BatchNormError);
        expect((error as BatchNormError).code, (error as Error).message).toBe("ERR_FORMAT");
        refused += 1;
      }
    }
    expect(refused).toBeGreaterThan(1000);
    expect(read + refused).toBe(3000);
  });
});
