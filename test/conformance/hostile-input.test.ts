// A bad-input battery over every public entry point. Each case builds a fresh
// "world" (a trained layer with a pending forward, its untouched twin, user
// tensors, a functional forward's saved statistics), snapshots all of it (every
// tensor's bytes and version, counters, mode, memoryStats, live tensors), makes
// the call, and expects a BatchNormError with the case's code and argument, the
// same snapshot bit for bit, intact guard bytes, and that a later backward,
// forward and backward give the twin's bytes. Out-of-memory cases fail every
// allocation of each allocating call in turn through setMemoryLimit.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BatchNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormError, SavedBatchStatistics, Tensor, batchNormBackward, batchNormEval,
  batchNormTrain, batchStatistics, checkGuardBytes, enableGuardBytes, init, liveTensorCount, memoryStats, setMemoryLimit,
  MAX_CHANNELS, type BatchNormErrorCode,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { seededRandom } from "../support/random.ts";

const C = 3;
const SHAPE = [4, C, 5];
const SIZE = 60;

type LayerClass = typeof BatchNorm | typeof BatchNorm1d | typeof BatchNorm2d | typeof BatchNorm3d;

interface WorldOptions {
  layer?: LayerClass;
  shape?: number[];
  /** Run one forward+backward before the pending forward, so gradient buffers exist (default true). */
  withGrads?: boolean;
}

interface World {
  bn: BatchNorm;
  twin: BatchNorm;
  x: Tensor;
  dy: Tensor;
  /** Per-channel user tensors: weight, bias, running mean, running var for the functional calls. */
  w: Tensor;
  b: Tensor;
  rm: Tensor;
  rv: Tensor;
  saved: SavedBatchStatistics;
  savedY: Tensor;
  /** Tensors the setup made (disposed with the world; not compared byte by byte). */
  extra: Tensor[];
  shape: number[];
}

function makeWorld(options: WorldOptions = {}): World {
  const Layer = options.layer ?? BatchNorm;
  const shape = options.shape ?? SHAPE;
  const size = shape.reduce((a, b) => a * b, 1);
  const random = seededRandom(17);
  const data = (n: number, scale: number) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale);
  const x = Tensor.from(data(size, 3), shape);
  const dy = Tensor.from(data(size, 1), shape);
  const layers = [new Layer(C, { momentum: 0.2 }), new Layer(C, { momentum: 0.2 })];
  for (const layer of layers) {
    layer.weight!.set([1.5, -0.5, 2]);
    layer.bias!.set([0.1, 0.2, -0.3]);
    if (options.withGrads ?? true) {
      layer.forward(x).dispose();
      layer.backward(dy).dispose();
    }
    layer.forward(x).dispose(); // the pending forward each case must leave valid
  }
  const w = Tensor.from([0.5, 1, 1.5]), b = Tensor.from([0, 0.5, -0.5]);
  const rm = Tensor.from([0.1, -0.1, 0.2]), rv = Tensor.from([1, 2, 0.5]);
  const { y: savedY, saved } = batchNormTrain(x, { weight: w, bias: b });
  return { bn: layers[0], twin: layers[1], x, dy, w, b, rm, rv, saved, savedY, extra: [], shape };
}

function disposeWorld(world: World): void {
  world.bn.dispose();
  world.twin.dispose();
  for (const t of [world.x, world.dy, world.w, world.b, world.rm, world.rv, world.savedY, ...world.extra]) t.dispose();
  world.saved.dispose();
}

function bits(t: Tensor | null): string {
  if (t === null) return "none";
  if (t.disposed) return "disposed";
  return `${t.version}:${Array.from(new Uint32Array(t.toFloat32Array().buffer)).join(",")}`;
}

function f64Bits(values: Float64Array): string {
  return Array.from(new Uint32Array(values.buffer)).join(",");
}

/** Everything a rejected call must leave as it was, except memory. */
function stateOf(world: World): string {
  const { bn } = world;
  const layerTensors = bn.disposed ? ["layer disposed"] : [bn.weight, bn.bias, bn.runningMean, bn.runningVar, bn.weightGrad, bn.biasGrad].map(bits);
  const last = bn.lastBatchStatistics;
  const saved = world.saved.disposed ? "saved disposed" : `${f64Bits(world.saved.mean)}|${f64Bits(world.saved.variance)}`;
  return [
    ...layerTensors, bn.numBatchesTracked, bn.training, bn.skippedBatches,
    last ? `${last.count}:${f64Bits(last.mean)}:${f64Bits(last.variance)}` : "no stats",
    ...[world.x, world.dy, world.w, world.b, world.rm, world.rv, world.savedY].map(bits), saved,
  ].join("|");
}

function memoryOf(): string {
  return `${JSON.stringify(memoryStats())}|live ${liveTensorCount()}`;
}

/** Bytes (or error code) of an action, disposing what it returned. */
function outcome(action: () => Tensor): string {
  try {
    const t = action();
    const result = bits(t);
    t.dispose();
    return result;
  } catch (error) {
    return error instanceof BatchNormError ? `error ${error.code}` : `untyped ${String(error)}`;
  }
}

/**
 * The layer and its untouched twin agree on the pending backward, then on a
 * new forward and backward ("backward": only the pending backward, for cases
 * whose setup disposed a running statistic, which the backward does not use).
 */
function twinAgrees(world: World, scope: true | "backward"): boolean {
  const { bn, twin, x, dy } = world;
  const steps: ((layer: BatchNorm) => Tensor)[] = [
    (layer) => layer.backward(dy),
    (layer) => layer.forward(x),
    (layer) => layer.backward(dy),
  ];
  for (const step of scope === "backward" ? steps.slice(0, 1) : steps) {
    if (outcome(() => step(bn)) !== outcome(() => step(twin))) return false;
  }
  const tracked = (layer: BatchNorm) => (scope === "backward" ? [] : [layer.runningMean, layer.runningVar]);
  const state = (layer: BatchNorm) => [layer.weightGrad, layer.biasGrad, ...tracked(layer)].map(bits).join("|") + layer.numBatchesTracked;
  return state(bn) === state(twin);
}

interface Case {
  entry: string;
  name: string;
  code: BatchNormErrorCode;
  argument: string;
  call: (world: World) => unknown;
  setup?: (world: World) => void;
  world?: WorldOptions;
  /** Whether the twin comparison applies (false when the setup itself broke the layer; "backward": the pending backward only). */
  twin?: boolean | "backward";
}

interface Tally { cases: number; typed: number; stateChanges: number; leaks: number; outOfBounds: number; twinMismatches: number }

const tallies = new Map<string, Tally>();
const tally = (entry: string): Tally => {
  let t = tallies.get(entry);
  if (!t) tallies.set(entry, (t = { cases: 0, typed: 0, stateChanges: 0, leaks: 0, outOfBounds: 0, twinMismatches: 0 }));
  return t;
};

function disposeResult(result: unknown): void {
  if (Tensor.isTensor(result)) result.dispose();
  else if (result instanceof BatchNorm || result instanceof SavedBatchStatistics) result.dispose();
  else if (typeof result === "object" && result !== null) for (const value of Object.values(result)) disposeResult(value);
}

function describeError(error: unknown): string {
  if (error === undefined) return "no error";
  return error instanceof BatchNormError ? `${error.code} (${error.argument}): ${error.message}` : `untyped ${String(error)}`;
}

/** Runs one case; returns failure descriptions (empty when it holds). */
function runCase(c: Case, limitExtra?: number): { failures: string[]; error: unknown } {
  const world = makeWorld(c.world);
  const failures: string[] = [];
  let error: unknown;
  try {
    c.setup?.(world);
    const state = stateOf(world), memory = memoryOf();
    try {
      if (limitExtra !== undefined) setMemoryLimit(memoryStats().bytes + limitExtra);
      disposeResult(c.call(world));
    } catch (caught) {
      error = caught;
    } finally {
      setMemoryLimit(null);
    }
    const t = tally(c.entry);
    t.cases++;
    const label = `${c.entry}: ${c.name}`;
    if (error instanceof BatchNormError && error.code === c.code && error.argument === c.argument && error.message.includes(c.argument)) t.typed++;
    else failures.push(`${label}: expected ${c.code} (${c.argument}), got ${describeError(error)}`);
    if (stateOf(world) !== state) { t.stateChanges++; failures.push(`${label}: state changed`); }
    if (memoryOf() !== memory) { t.leaks++; failures.push(`${label}: memory changed ${memory} -> ${memoryOf()}`); }
    const damaged = checkGuardBytes();
    if (damaged.length > 0) { t.outOfBounds++; failures.push(`${label}: ${damaged.join("; ")}`); }
    const scope = c.twin ?? true;
    if (scope !== false && !twinAgrees(world, scope)) { t.twinMismatches++; failures.push(`${label}: later calls differ from the twin's`); }
  } finally {
    disposeWorld(world);
  }
  return { failures, error };
}

/**
 * Out-of-memory cases for one allocating call: the budget first allows no new
 * byte, then each time the bytes the last failure asked for, so every
 * allocation of the call fails once, until the call succeeds.
 */
function oomCases(c: Omit<Case, "code" | "name">, allowedArguments: string[]): string[] {
  const failures: string[] = [];
  let extra = 0;
  for (let attempt = 0; attempt < 12; attempt++) {
    const probe = makeWorld(c.world);
    let succeeded = false;
    try {
      c.setup?.(probe);
      setMemoryLimit(memoryStats().bytes + extra);
      disposeResult(c.call(probe));
      succeeded = true;
    } catch {
      // the case below checks it
    } finally {
      setMemoryLimit(null);
      disposeWorld(probe);
    }
    if (succeeded) {
      if (attempt === 0) failures.push(`${c.entry}: allocates nothing, so it has no out-of-memory case`);
      return failures;
    }
    const argument = allowedArguments[Math.min(attempt, allowedArguments.length - 1)];
    const { failures: caseFailures, error } = runCase({ ...c, name: `out of memory at allocation ${attempt + 1}`, code: "ERR_OUT_OF_MEMORY", argument }, extra);
    failures.push(...caseFailures);
    const asked = error instanceof Error ? /allocate (\d+) bytes/.exec(error.message) : null;
    if (!asked) return [...failures, `${c.entry}: out-of-memory error without the bytes asked`];
    extra += Number(asked[1]);
  }
  return [...failures, `${c.entry}: still failing after 12 allocations`];
}

// ---- the cases ----

const forged = <T>(prototype: object): T => Object.create(prototype) as T;
const cyclic = (): unknown[] => {
  const a: unknown[] = [1];
  a.push(a);
  return a;
};
const throwingValueOf = { valueOf(): number { throw new Error("valueOf called"); } };
// eslint-disable-next-line no-sparse-arrays
const holey = [1, , 3];

function badData(entry: string, call: (world: World, data: unknown) => unknown, argument: string, nested: boolean): Case[] {
  const rows: [string, unknown, BatchNormErrorCode][] = [
    ["a string", "123", "ERR_ARGUMENT"],
    ["a string element", [1, "2", 3], "ERR_ARGUMENT"],
    ["a bigint element", [1, 2n, 3], "ERR_ARGUMENT"],
    ["a symbol element", [1, Symbol("s"), 3], "ERR_ARGUMENT"],
    ["a hole", holey, "ERR_ARGUMENT"],
    ["a null element", [1, null, 3], "ERR_ARGUMENT"],
    ["boolean elements", [true, false, true], "ERR_ARGUMENT"],
    ["an undefined element", [1, undefined, 3], "ERR_ARGUMENT"],
    ["an object with valueOf", [1, throwingValueOf, 3], "ERR_ARGUMENT"],
    ["a {length} object", { length: 3 }, "ERR_ARGUMENT"],
    ["an indexed array-like", { 0: 1, 1: 2, 2: 3, length: 3 }, "ERR_ARGUMENT"],
    ["a BigInt64Array", new BigInt64Array(3), "ERR_ARGUMENT"],
    ["a forged Float32Array", forged(Float32Array.prototype), "ERR_ARGUMENT"],
    ["null", null, "ERR_ARGUMENT"],
    ["a number", 3, "ERR_ARGUMENT"],
    ["a finite value beyond float32", [1, 1e39, 3], "ERR_ARGUMENT"],
    ["a Float64Array beyond float32", new Float64Array([1, -4e38, 3]), "ERR_ARGUMENT"],
    ["a DataView", new DataView(new ArrayBuffer(12)), "ERR_ARGUMENT"],
  ];
  if (nested) {
    rows.push(["ragged nested arrays", [[1, 2], [3]], "ERR_SHAPE"], ["mixed nesting", [[1, 2], 3], "ERR_SHAPE"], ["a string leaf", [[1, "2"]], "ERR_ARGUMENT"], ["a cyclic array", cyclic(), "ERR_SHAPE"]);
  } else {
    rows.push(["nested arrays", [[1, 2, 3]], "ERR_ARGUMENT"]);
  }
  return rows.map(([name, data, code]) => ({ entry, name, code, argument, call: (world: World) => call(world, data) }));
}

const cases: Case[] = [];
const add = (entry: string, rows: [string, BatchNormErrorCode, string, (world: World) => unknown, ((world: World) => void)?, (boolean | "backward")?][]) => {
  for (const [name, code, argument, call, setup, twin] of rows) cases.push({ entry, name, code, argument, call, setup, twin });
};
const both = (world: World, action: (layer: BatchNorm) => unknown) => {
  action(world.bn);
  action(world.twin);
};
const disposeOwn = (name: "weight" | "bias" | "runningMean" | "runningVar" | "weightGrad" | "biasGrad") => (world: World) => world.bn[name]!.dispose();
const other = () => Tensor.zeros([4, 5, C], "channels-last");

// Tensor.from
cases.push(...badData("Tensor.from", (_w, data) => Tensor.from(data as number[]), "data", true));
add("Tensor.from", [
  ["length not matching the shape", "ERR_LENGTH", "data", () => Tensor.from(new Float32Array(6), [4])],
  ["a negative size", "ERR_SHAPE", "shape", () => Tensor.from([1, 2], [2, -1])],
  ["a fractional size", "ERR_SHAPE", "shape", () => Tensor.from([1, 2], [2.5])],
  ["a string shape", "ERR_SHAPE", "shape", () => Tensor.from([1, 2], "2" as never)],
  ["a string size", "ERR_SHAPE", "shape", () => Tensor.from([1, 2], ["2"] as never)],
  ["a shape of 2^31", "ERR_SHAPE", "shape", () => Tensor.from([1, 2], [2 ** 31])],
  ["an unknown layout", "ERR_LAYOUT", "layout", () => Tensor.from([1, 2], [2], "NHWC" as never)],
  ["a layout that is not a string", "ERR_LAYOUT", "layout", () => Tensor.from([1, 2], [2], 1 as never)],
  ["an empty shape", "ERR_SHAPE", "shape", () => Tensor.from([1], [])],
]);

// Tensor.zeros
add("Tensor.zeros", [
  ["2^31 elements", "ERR_SHAPE", "shape", () => Tensor.zeros([2 ** 31])],
  ["[65536, 32768]", "ERR_SHAPE", "shape", () => Tensor.zeros([65536, 32768])],
  ["one more than the largest tensor", "ERR_SHAPE", "shape", () => Tensor.zeros([2 ** 27 + 1])],
  ["a product past 2^53", "ERR_SHAPE", "shape", () => Tensor.zeros([2 ** 27, 2 ** 27, 2 ** 27])],
  ["an empty shape", "ERR_SHAPE", "shape", () => Tensor.zeros([])],
  ["a negative size", "ERR_SHAPE", "shape", () => Tensor.zeros([-1])],
  ["NaN", "ERR_SHAPE", "shape", () => Tensor.zeros([Number.NaN])],
  ["Infinity", "ERR_SHAPE", "shape", () => Tensor.zeros([Infinity])],
  ["a string size", "ERR_SHAPE", "shape", () => Tensor.zeros(["3"] as never)],
  ["a bigint size", "ERR_SHAPE", "shape", () => Tensor.zeros([3n] as never)],
  ["a hole", "ERR_SHAPE", "shape", () => Tensor.zeros(holey as number[])],
  ["a string", "ERR_SHAPE", "shape", () => Tensor.zeros("3" as never)],
  ["null", "ERR_SHAPE", "shape", () => Tensor.zeros(null as never)],
  ["a {length} object", "ERR_SHAPE", "shape", () => Tensor.zeros({ length: 2 } as never)],
  ["33 axes", "ERR_SHAPE", "shape", () => Tensor.zeros(new Array(33).fill(1))],
  ["an unknown layout", "ERR_LAYOUT", "layout", () => Tensor.zeros([2, 3], "nchw" as never)],
  ["the constructor called directly", "ERR_ARGUMENT", "Tensor", () => new (Tensor as unknown as new (...a: unknown[]) => Tensor)([3])],
]);

// t.set: on a user tensor and on the layer's own weight (whose eval coefficients must stay right)
cases.push(...badData("set", (world, data) => world.w.set(data as number[]), "data", false));
cases.push(...badData("set", (world, data) => world.bn.weight!.set(data as number[]), "data", false).slice(0, 6).map((c) => ({ ...c, name: `${c.name}, on bn.weight` })));
add("set", [
  ["too few values", "ERR_LENGTH", "data", (w) => w.w.set([1, 2])],
  ["too many values", "ERR_LENGTH", "data", (w) => w.w.set(new Float32Array(4))],
  ["a disposed tensor", "ERR_DISPOSED", "tensor", (w) => w.extra[0].set([1])],
].map(([name, code, argument, call]) => [name, code, argument, call, name === "a disposed tensor" ? (w: World) => {
  w.extra.push(Tensor.zeros([1]));
  w.extra[0].dispose();
} : undefined] as [string, BatchNormErrorCode, string, (world: World) => unknown, ((world: World) => void)?]));

// reading a disposed tensor
const disposedExtra = (w: World) => {
  w.extra.push(Tensor.zeros([2, 3]));
  w.extra[0].dispose();
};
add("toArray", [
  ["a disposed tensor", "ERR_DISPOSED", "tensor", (w) => w.extra[0].toArray(), disposedExtra],
  ["toFloat32Array of a disposed tensor", "ERR_DISPOSED", "tensor", (w) => w.extra[0].toFloat32Array(), disposedExtra],
  ["a disposed layer weight", "ERR_DISPOSED", "tensor", (w) => w.bn.weight!.toArray(), disposeOwn("weight"), false],
]);
add("view", [
  ["a disposed tensor", "ERR_DISPOSED", "tensor", (w) => w.extra[0].view(), disposedExtra],
  ["byteOffset of a disposed tensor", "ERR_DISPOSED", "tensor", (w) => w.extra[0].byteOffset, disposedExtra],
]);

// constructors
const constructorRows = (Layer: LayerClass): [string, BatchNormErrorCode, string, (world: World) => unknown][] => [
  ["numFeatures as a string", "ERR_ARGUMENT", "numFeatures", () => new Layer("3" as never)],
  ["fractional numFeatures", "ERR_ARGUMENT", "numFeatures", () => new Layer(3.5)],
  ["zero numFeatures", "ERR_ARGUMENT", "numFeatures", () => new Layer(0)],
  ["numFeatures NaN", "ERR_ARGUMENT", "numFeatures", () => new Layer(Number.NaN)],
  ["numFeatures as a bigint", "ERR_ARGUMENT", "numFeatures", () => new Layer(3n as never)],
  ["38 million channels", "ERR_ARGUMENT", "numFeatures", () => new Layer(38_000_000)],
  ["one more than MAX_CHANNELS", "ERR_ARGUMENT", "numFeatures", () => new Layer(MAX_CHANNELS + 1)],
  ["null options", "ERR_ARGUMENT", "options", () => new Layer(3, null as never)],
  ["string options", "ERR_ARGUMENT", "options", () => new Layer(3, "affine" as never)],
  ["array options", "ERR_ARGUMENT", "options", () => new Layer(3, [] as never)],
  ["epsilon (eps)", "ERR_ARGUMENT", "options.epsilon", () => new Layer(3, { epsilon: 1e-3 } as never)],
  ["track_running_stats", "ERR_ARGUMENT", "options.track_running_stats", () => new Layer(3, { track_running_stats: false } as never)],
  ["running_variance", "ERR_ARGUMENT", "options.running_variance", () => new Layer(3, { running_variance: "biased" } as never)],
  ["affine: \"yes\"", "ERR_ARGUMENT", "options.affine", () => new Layer(3, { affine: "yes" } as never)],
  ["affine: 1", "ERR_ARGUMENT", "options.affine", () => new Layer(3, { affine: 1 } as never)],
  ["trackRunningStats: \"false\"", "ERR_ARGUMENT", "options.trackRunningStats", () => new Layer(3, { trackRunningStats: "false" } as never)],
  ["skipNonFiniteBatches: \"true\"", "ERR_ARGUMENT", "options.skipNonFiniteBatches", () => new Layer(3, { skipNonFiniteBatches: "true" } as never)],
  ["eps as a string", "ERR_EPS", "options.eps", () => new Layer(3, { eps: "1e-5" } as never)],
  ["negative eps", "ERR_EPS", "options.eps", () => new Layer(3, { eps: -1 })],
  ["momentum as a string", "ERR_MOMENTUM", "options.momentum", () => new Layer(3, { momentum: "0.1" } as never)],
  ["momentum 2", "ERR_MOMENTUM", "options.momentum", () => new Layer(3, { momentum: 2 })],
  ["layout NHWC", "ERR_LAYOUT", "options.layout", () => new Layer(3, { layout: "NHWC" } as never)],
  ["runningVariance population", "ERR_ARGUMENT", "options.runningVariance", () => new Layer(3, { runningVariance: "population" } as never)],
];
add("BatchNorm constructor", constructorRows(BatchNorm));
add("BatchNorm1d/2d/3d constructors", [BatchNorm1d, BatchNorm2d, BatchNorm3d].flatMap((Layer) => constructorRows(Layer).filter((_, i) => i % 3 === 0).map(([name, ...rest]) => [`${Layer.name}: ${name}`, ...rest] as [string, BatchNormErrorCode, string, (world: World) => unknown])));

// forward
add("forward", [
  ["x a Float32Array", "ERR_ARGUMENT", "x", (w) => w.bn.forward(new Float32Array(SIZE) as never)],
  ["x forged from Tensor.prototype", "ERR_ARGUMENT", "x", (w) => w.bn.forward(forged(Tensor.prototype))],
  ["x null", "ERR_ARGUMENT", "x", (w) => w.bn.forward(null as never)],
  ["x disposed", "ERR_DISPOSED", "x", (w) => w.bn.forward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros(SHAPE)); w.extra[0].dispose(); }],
  ["x of rank 1", "ERR_RANK", "x", (w) => w.bn.forward(w.w)],
  ["x of rank 6", "ERR_RANK", "x", (w) => w.bn.forward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros([2, C, 1, 1, 1, 2])); }],
  ["x with 4 channels", "ERR_CHANNELS", "x", (w) => w.bn.forward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros([2, 4, 5])); }],
  ["x tagged channels-last", "ERR_LAYOUT", "x", (w) => w.bn.forward(w.extra[0]), (w) => { w.extra.push(other()); }],
  ["one value per channel", "ERR_SINGLE_VALUE", "x", (w) => w.bn.forward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros([1, C])); }],
  ["out of another shape", "ERR_SHAPE", "out", (w) => w.bn.forward(w.x, w.extra[0]), (w) => { w.extra.push(Tensor.zeros([4, C, 6])); }],
  ["out tagged with the other layout", "ERR_LAYOUT", "out", (w) => w.bn.forward(w.x, w.extra[0]), (w) => { w.extra.push(Tensor.zeros(SHAPE, "channels-last")); }],
  ["out disposed", "ERR_DISPOSED", "out", (w) => w.bn.forward(w.x, w.extra[0]), (w) => { w.extra.push(Tensor.zeros(SHAPE)); w.extra[0].dispose(); }],
  ["out a Float32Array", "ERR_ARGUMENT", "out", (w) => w.bn.forward(w.x, new Float32Array(SIZE) as never)],
  ["bn.runningVar disposed", "ERR_DISPOSED", "this.runningVar", (w) => w.bn.forward(w.x), disposeOwn("runningVar"), "backward"],
  ["bn.runningMean disposed", "ERR_DISPOSED", "this.runningMean", (w) => w.bn.forward(w.x), disposeOwn("runningMean"), "backward"],
  ["bn.weight disposed", "ERR_DISPOSED", "this.weight", (w) => w.bn.forward(w.x), disposeOwn("weight"), false],
  ["bn.bias disposed", "ERR_DISPOSED", "this.bias", (w) => w.bn.forward(w.x), disposeOwn("bias"), false],
  ["eval with bn.runningVar disposed", "ERR_DISPOSED", "this.runningVar", (w) => w.bn.forward(w.x), (w) => { both(w, (l) => l.eval()); w.bn.runningVar!.dispose(); }, "backward"],
  ["a disposed layer", "ERR_DISPOSED", "this", (w) => w.bn.forward(w.x), (w) => w.bn.dispose(), false],
]);
add("forward", [
  ["BatchNorm1d given rank 4", "ERR_RANK", "x", (w) => w.bn.forward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros([2, C, 2, 2])); }],
].map((row) => row as [string, BatchNormErrorCode, string, (world: World) => unknown, ((world: World) => void)?]));
cases[cases.length - 1].world = { layer: BatchNorm1d };
add("forward", [["BatchNorm2d given rank 3", "ERR_RANK", "x", (w) => w.bn.forward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros([2, C, 4])); }]]);
cases[cases.length - 1].world = { layer: BatchNorm2d, shape: [2, C, 2, 3] };
add("forward", [["BatchNorm3d given rank 4", "ERR_RANK", "x", (w) => w.bn.forward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros([2, C, 2, 2])); }]]);
cases[cases.length - 1].world = { layer: BatchNorm3d, shape: [2, C, 2, 3, 1] };

// backward
add("backward", [
  ["no pending forward", "ERR_NO_FORWARD", "dy", (w) => w.bn.backward(w.dy), (w) => both(w, (l) => l.backward(w.dy).dispose())],
  ["the input modified since", "ERR_NO_FORWARD", "dy", (w) => w.bn.backward(w.dy), (w) => w.x.set(new Float32Array(SIZE).fill(1))],
  ["the input disposed since", "ERR_NO_FORWARD", "dy", (w) => w.bn.backward(w.dy), (w) => {
    const x2 = Tensor.from(w.x.toFloat32Array(), SHAPE);
    w.extra.push(x2);
    both(w, (l) => l.forward(x2).dispose());
    x2.dispose();
  }],
  ["the weight modified since", "ERR_NO_FORWARD", "dy", (w) => w.bn.backward(w.dy), (w) => both(w, (l) => l.weight!.set([1, 1, 1]))],
  ["dy a Float32Array", "ERR_ARGUMENT", "dy", (w) => w.bn.backward(new Float32Array(SIZE) as never)],
  ["dy forged", "ERR_ARGUMENT", "dy", (w) => w.bn.backward(forged(Tensor.prototype))],
  ["dy disposed", "ERR_DISPOSED", "dy", (w) => w.bn.backward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros(SHAPE)); w.extra[0].dispose(); }],
  ["dy of another shape", "ERR_SHAPE", "dy", (w) => w.bn.backward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros([4, C, 6])); }],
  ["dy tagged with the other layout", "ERR_LAYOUT", "dy", (w) => w.bn.backward(w.extra[0]), (w) => { w.extra.push(Tensor.zeros(SHAPE, "channels-last")); }],
  ["out of another shape", "ERR_SHAPE", "out", (w) => w.bn.backward(w.dy, w.extra[0]), (w) => { w.extra.push(Tensor.zeros([4, C])); }],
  ["out tagged with the other layout", "ERR_LAYOUT", "out", (w) => w.bn.backward(w.dy, w.extra[0]), (w) => { w.extra.push(Tensor.zeros(SHAPE, "channels-last")); }],
  ["out disposed", "ERR_DISPOSED", "out", (w) => w.bn.backward(w.dy, w.extra[0]), (w) => { w.extra.push(Tensor.zeros(SHAPE)); w.extra[0].dispose(); }],
  ["bn.weightGrad disposed", "ERR_DISPOSED", "this.weightGrad", (w) => w.bn.backward(w.dy), disposeOwn("weightGrad"), false],
  ["bn.biasGrad disposed", "ERR_DISPOSED", "this.biasGrad", (w) => w.bn.backward(w.dy), disposeOwn("biasGrad"), false],
  ["bn.bias disposed", "ERR_DISPOSED", "this.bias", (w) => w.bn.backward(w.dy), disposeOwn("bias"), false],
  ["a disposed layer", "ERR_DISPOSED", "this", (w) => w.bn.backward(w.dy), (w) => w.bn.dispose(), false],
]);

// train, eval, zeroGrad
add("train", [
  ["\"false\"", "ERR_ARGUMENT", "mode", (w) => w.bn.train("false" as never)],
  ["\"true\"", "ERR_ARGUMENT", "mode", (w) => w.bn.train("true" as never)],
  ["0", "ERR_ARGUMENT", "mode", (w) => w.bn.train(0 as never)],
  ["1", "ERR_ARGUMENT", "mode", (w) => w.bn.train(1 as never)],
  ["null", "ERR_ARGUMENT", "mode", (w) => w.bn.train(null as never)],
  ["\"false\" in eval mode", "ERR_ARGUMENT", "mode", (w) => w.bn.train("false" as never), (w) => both(w, (l) => l.eval())],
  ["a disposed layer", "ERR_DISPOSED", "this", (w) => w.bn.train(), (w) => w.bn.dispose(), false],
]);
add("eval", [["a disposed layer", "ERR_DISPOSED", "this", (w) => w.bn.eval(), (w) => w.bn.dispose(), false]]);
add("zeroGrad", [
  ["a disposed layer", "ERR_DISPOSED", "this", (w) => w.bn.zeroGrad(), (w) => w.bn.dispose(), false],
  ["bn.biasGrad disposed", "ERR_DISPOSED", "this.biasGrad", (w) => w.bn.zeroGrad(), disposeOwn("biasGrad"), false],
]);
add("stateDict", [
  ["a disposed layer", "ERR_DISPOSED", "this", (w) => w.bn.stateDict(), (w) => w.bn.dispose(), false],
  ["bn.runningMean disposed", "ERR_DISPOSED", "this.runningMean", (w) => w.bn.stateDict(), disposeOwn("runningMean"), false],
]);

// loadStateDict: every value converted before any is written
const good = () => ({ weight: [2, 3, 4], bias: [0.5, 0.5, 0.5], running_mean: [1, 1, 1], running_var: [3, 3, 3], num_batches_tracked: 9 });
const load = (patch: Record<string, unknown>) => (w: World) => w.bn.loadStateDict({ ...good(), ...patch } as never);
add("loadStateDict", [
  ["null", "ERR_ARGUMENT", "state", (w) => w.bn.loadStateDict(null as never)],
  ["a string", "ERR_ARGUMENT", "state", (w) => w.bn.loadStateDict("state" as never)],
  ["an array", "ERR_ARGUMENT", "state", (w) => w.bn.loadStateDict([] as never)],
  ["a missing key", "ERR_STATE_DICT", "state.running_mean", load({ running_mean: undefined })],
  ["an unexpected key", "ERR_STATE_DICT", "state.epsilon", load({ epsilon: 1e-3 })],
  ["a bigint in the last tensor key", "ERR_ARGUMENT", "state.running_var", load({ running_var: [1, 2n, 3] })],
  ["a symbol in running_var", "ERR_ARGUMENT", "state.running_var", load({ running_var: [1, Symbol("v"), 3] })],
  ["a string in weight", "ERR_ARGUMENT", "state.weight", load({ weight: [1, "2", 3] })],
  ["a hole in bias", "ERR_ARGUMENT", "state.bias", load({ bias: holey })],
  ["a {length} weight", "ERR_ARGUMENT", "state.weight", load({ weight: { length: 3 } })],
  ["a string weight", "ERR_ARGUMENT", "state.weight", load({ weight: "abc" })],
  ["a value beyond float32", "ERR_ARGUMENT", "state.running_var", load({ running_var: [1, 1e39, 1] })],
  ["a short running_var", "ERR_CHANNELS", "state.running_var", load({ running_var: new Float32Array(2) })],
  ["a tensor of the wrong size", "ERR_CHANNELS", "state.running_mean", (w) => w.bn.loadStateDict({ ...good(), running_mean: w.extra[0] }), (w) => { w.extra.push(Tensor.zeros([4])); }],
  ["a disposed tensor", "ERR_DISPOSED", "state.running_mean", (w) => w.bn.loadStateDict({ ...good(), running_mean: w.extra[0] }), (w) => { w.extra.push(Tensor.zeros([3])); w.extra[0].dispose(); }],
  ["num_batches_tracked -1", "ERR_ARGUMENT", "state.num_batches_tracked", load({ num_batches_tracked: -1 })],
  ["num_batches_tracked 1.5", "ERR_ARGUMENT", "state.num_batches_tracked", load({ num_batches_tracked: 1.5 })],
  ["num_batches_tracked \"3\"", "ERR_ARGUMENT", "state.num_batches_tracked", load({ num_batches_tracked: "3" })],
  ["num_batches_tracked -1n", "ERR_ARGUMENT", "state.num_batches_tracked", load({ num_batches_tracked: -1n })],
  ["num_batches_tracked 2^60n", "ERR_ARGUMENT", "state.num_batches_tracked", load({ num_batches_tracked: 2n ** 60n })],
  ["num_batches_tracked NaN", "ERR_ARGUMENT", "state.num_batches_tracked", load({ num_batches_tracked: Number.NaN })],
  ["num_batches_tracked null", "ERR_ARGUMENT", "state.num_batches_tracked", load({ num_batches_tracked: null })],
  ["bn.runningVar disposed", "ERR_DISPOSED", "this.runningVar", load({}), disposeOwn("runningVar"), "backward"],
  ["a disposed layer", "ERR_DISPOSED", "this", load({}), (w) => w.bn.dispose(), false],
]);
add("resetRunningStats", [
  ["a disposed layer", "ERR_DISPOSED", "this", (w) => w.bn.resetRunningStats(), (w) => w.bn.dispose(), false],
  ["bn.runningMean disposed", "ERR_DISPOSED", "this.runningMean", (w) => w.bn.resetRunningStats(), disposeOwn("runningMean"), false],
  ["bn.runningVar disposed", "ERR_DISPOSED", "this.runningVar", (w) => w.bn.resetRunningStats(), disposeOwn("runningVar"), false],
]);
add("resetParameters", [
  ["a disposed layer", "ERR_DISPOSED", "this", (w) => w.bn.resetParameters(), (w) => w.bn.dispose(), false],
  ["bn.weight disposed", "ERR_DISPOSED", "this.weight", (w) => w.bn.resetParameters(), disposeOwn("weight"), false],
  ["bn.runningVar disposed", "ERR_DISPOSED", "this.runningVar", (w) => w.bn.resetParameters(), disposeOwn("runningVar"), false],
]);

// functional
add("batchNormTrain", [
  ["x a Float32Array", "ERR_ARGUMENT", "x", () => batchNormTrain(new Float32Array(SIZE) as never)],
  ["x forged", "ERR_ARGUMENT", "x", () => batchNormTrain(forged(Tensor.prototype))],
  ["null options", "ERR_ARGUMENT", "options", (w) => batchNormTrain(w.x, null as never)],
  ["string options", "ERR_ARGUMENT", "options", (w) => batchNormTrain(w.x, "train" as never)],
  ["epsilon", "ERR_ARGUMENT", "options.epsilon", (w) => batchNormTrain(w.x, { epsilon: 1e-3 } as never)],
  ["running_mean", "ERR_ARGUMENT", "options.running_mean", (w) => batchNormTrain(w.x, { running_mean: w.rm } as never)],
  ["negative eps", "ERR_EPS", "options.eps", (w) => batchNormTrain(w.x, { eps: -1 })],
  ["a weight of 2 values", "ERR_CHANNELS", "options.weight", (w) => batchNormTrain(w.x, { weight: w.extra[0] }), (w) => { w.extra.push(Tensor.zeros([2])); }],
  ["a weight of shape [1, 3]", "ERR_CHANNELS", "options.weight", (w) => batchNormTrain(w.x, { weight: w.extra[0] }), (w) => { w.extra.push(Tensor.zeros([1, 3])); }],
  ["a weight that is a Float32Array", "ERR_ARGUMENT", "options.weight", (w) => batchNormTrain(w.x, { weight: new Float32Array(3) as never })],
  ["a disposed bias", "ERR_DISPOSED", "options.bias", (w) => batchNormTrain(w.x, { bias: w.extra[0] }), (w) => { w.extra.push(Tensor.zeros([3])); w.extra[0].dispose(); }],
  ["runningMean without runningVar", "ERR_ARGUMENT", "options.runningVar", (w) => batchNormTrain(w.x, { runningMean: w.rm })],
  ["runningVar without runningMean", "ERR_ARGUMENT", "options.runningMean", (w) => batchNormTrain(w.x, { runningVar: w.rv })],
  ["one tensor as both running statistics", "ERR_ARGUMENT", "options.runningVar", (w) => batchNormTrain(w.x, { runningMean: w.rm, runningVar: w.rm })],
  ["a disposed runningVar", "ERR_DISPOSED", "options.runningVar", (w) => batchNormTrain(w.x, { runningMean: w.rm, runningVar: w.extra[0] }), (w) => { w.extra.push(Tensor.zeros([3])); w.extra[0].dispose(); }],
  ["momentum 2", "ERR_MOMENTUM", "options.momentum", (w) => batchNormTrain(w.x, { runningMean: w.rm, runningVar: w.rv, momentum: 2 })],
  ["momentum null", "ERR_MOMENTUM", "options.momentum", (w) => batchNormTrain(w.x, { runningMean: w.rm, runningVar: w.rv, momentum: null as never })],
  ["runningVariance population", "ERR_ARGUMENT", "options.runningVariance", (w) => batchNormTrain(w.x, { runningVariance: "population" as never })],
  ["layout NHWC", "ERR_LAYOUT", "options.layout", (w) => batchNormTrain(w.x, { layout: "NHWC" as never })],
  ["x tagged with the other layout", "ERR_LAYOUT", "x", (w) => batchNormTrain(w.extra[0]), (w) => { w.extra.push(other()); }],
  ["out of another shape", "ERR_SHAPE", "options.out", (w) => batchNormTrain(w.x, { out: w.extra[0] }), (w) => { w.extra.push(Tensor.zeros([4, C, 6])); }],
  ["out tagged with the other layout", "ERR_LAYOUT", "options.out", (w) => batchNormTrain(w.x, { out: w.extra[0] }), (w) => { w.extra.push(Tensor.zeros(SHAPE, "channels-last")); }],
  ["one value per channel", "ERR_SINGLE_VALUE", "x", (w) => batchNormTrain(w.extra[0], { runningMean: w.rm, runningVar: w.rv }), (w) => { w.extra.push(Tensor.zeros([1, C])); }],
  ["more channels than MAX_CHANNELS", "ERR_CHANNELS", "x", (w) => batchNormTrain(w.extra[0]), (w) => { w.extra.push(Tensor.zeros([0, MAX_CHANNELS + 1])); }],
]);
add("batchNormEval", [
  ["runningMean a Float32Array", "ERR_ARGUMENT", "runningMean", (w) => batchNormEval(w.x, new Float32Array(3) as never, w.rv)],
  ["runningVar of 4 values", "ERR_CHANNELS", "runningVar", (w) => batchNormEval(w.x, w.rm, w.extra[0]), (w) => { w.extra.push(Tensor.zeros([4])); }],
  ["runningVar disposed", "ERR_DISPOSED", "runningVar", (w) => batchNormEval(w.x, w.rm, w.extra[0]), (w) => { w.extra.push(Tensor.zeros([3])); w.extra[0].dispose(); }],
  ["null options", "ERR_ARGUMENT", "options", (w) => batchNormEval(w.x, w.rm, w.rv, null as never)],
  ["an unknown option", "ERR_ARGUMENT", "options.epsilon", (w) => batchNormEval(w.x, w.rm, w.rv, { epsilon: 1 } as never)],
  ["eps Infinity", "ERR_EPS", "options.eps", (w) => batchNormEval(w.x, w.rm, w.rv, { eps: Infinity })],
  ["out of another shape", "ERR_SHAPE", "options.out", (w) => batchNormEval(w.x, w.rm, w.rv, { out: w.w })],
  ["out tagged with the other layout", "ERR_LAYOUT", "options.out", (w) => batchNormEval(w.x, w.rm, w.rv, { out: w.extra[0] }), (w) => { w.extra.push(Tensor.zeros(SHAPE, "channels-last")); }],
  ["x of rank 1", "ERR_RANK", "x", (w) => batchNormEval(w.w, w.rm, w.rv)],
]);
add("batchNormBackward", [
  ["saved forged from the prototype", "ERR_ARGUMENT", "saved", (w) => batchNormBackward(w.dy, forged(SavedBatchStatistics.prototype))],
  ["saved a plain object", "ERR_ARGUMENT", "saved", (w) => batchNormBackward(w.dy, { mean: new Float64Array(3) } as never)],
  ["saved null", "ERR_ARGUMENT", "saved", (w) => batchNormBackward(w.dy, null as never)],
  ["saved disposed", "ERR_DISPOSED", "saved", (w) => batchNormBackward(w.dy, w.saved), (w) => w.saved.dispose()],
  ["the input modified since", "ERR_NO_FORWARD", "saved", (w) => batchNormBackward(w.dy, w.saved), (w) => w.x.set(new Float32Array(SIZE))],
  ["the weight modified since", "ERR_NO_FORWARD", "saved", (w) => batchNormBackward(w.dy, w.saved), (w) => w.w.set([1, 1, 1])],
  ["dy of another shape", "ERR_SHAPE", "dy", (w) => batchNormBackward(w.w, w.saved)],
  ["dy forged", "ERR_ARGUMENT", "dy", (w) => batchNormBackward(forged(Tensor.prototype), w.saved)],
  ["parameterGradients \"yes\"", "ERR_ARGUMENT", "options.parameterGradients", (w) => batchNormBackward(w.dy, w.saved, { parameterGradients: "yes" as never })],
  ["an unknown option", "ERR_ARGUMENT", "options.parameter_gradients", (w) => batchNormBackward(w.dy, w.saved, { parameter_gradients: false } as never)],
  ["null options", "ERR_ARGUMENT", "options", (w) => batchNormBackward(w.dy, w.saved, null as never)],
  ["out of another shape", "ERR_SHAPE", "options.out", (w) => batchNormBackward(w.dy, w.saved, { out: w.w })],
]);
add("batchStatistics", [
  ["x a Float32Array", "ERR_ARGUMENT", "x", () => batchStatistics(new Float32Array(6) as never)],
  ["x disposed", "ERR_DISPOSED", "x", (w) => batchStatistics(w.extra[0]), (w) => { w.extra.push(Tensor.zeros(SHAPE)); w.extra[0].dispose(); }],
  ["layout NHWC", "ERR_LAYOUT", "options.layout", (w) => batchStatistics(w.x, { layout: "NHWC" as never })],
  ["an unknown option", "ERR_ARGUMENT", "options.data_format", (w) => batchStatistics(w.x, { data_format: "channels-last" } as never)],
  ["string options", "ERR_ARGUMENT", "options", (w) => batchStatistics(w.x, "channels-last" as never)],
  ["more channels than MAX_CHANNELS", "ERR_CHANNELS", "x", (w) => batchStatistics(w.extra[0]), (w) => { w.extra.push(Tensor.zeros([1, MAX_CHANNELS + 1])); }],
]);
add("SavedBatchStatistics", [
  ["mean after dispose", "ERR_DISPOSED", "saved.mean", (w) => w.saved.mean, (w) => w.saved.dispose()],
  ["variance after dispose", "ERR_DISPOSED", "saved.variance", (w) => w.saved.variance, (w) => w.saved.dispose()],
  ["invStd after dispose", "ERR_DISPOSED", "saved.invStd", (w) => w.saved.invStd, (w) => w.saved.dispose()],
  ["the constructor called directly", "ERR_ARGUMENT", "SavedBatchStatistics", () => new (SavedBatchStatistics as unknown as new (...a: unknown[]) => unknown)(Symbol("forged"), {})],
]);
add("setMemoryLimit", [
  ["-1", "ERR_ARGUMENT", "bytes", () => setMemoryLimit(-1)],
  ["1.5", "ERR_ARGUMENT", "bytes", () => setMemoryLimit(1.5)],
  ["\"100\"", "ERR_ARGUMENT", "bytes", () => setMemoryLimit("100" as never)],
  ["NaN", "ERR_ARGUMENT", "bytes", () => setMemoryLimit(Number.NaN)],
  ["Infinity", "ERR_ARGUMENT", "bytes", () => setMemoryLimit(Infinity)],
  ["100n", "ERR_ARGUMENT", "bytes", () => setMemoryLimit(100n as never)],
  ["undefined", "ERR_ARGUMENT", "bytes", () => setMemoryLimit(undefined as never)],
]);

// Allocating calls, each failed at every allocation in turn.
interface OomCase { entry: string; call: (w: World) => unknown; setup?: (w: World) => void; world?: WorldOptions; twin?: boolean; arguments: string[] }
const oom: OomCase[] = [
  { entry: "Tensor.from", call: () => Tensor.from([[1, 2], [3, 4]]), arguments: ["data"] },
  { entry: "Tensor.from", call: () => Tensor.from(new Float64Array(40), [4, 10], "channels-last"), arguments: ["data"] },
  { entry: "Tensor.zeros", call: () => Tensor.zeros([64, 64]), arguments: ["shape"] },
  { entry: "BatchNorm constructor", call: () => new BatchNorm(C), arguments: ["numFeatures"] },
  { entry: "BatchNorm1d/2d/3d constructors", call: () => new BatchNorm2d(7, { affine: false }), arguments: ["numFeatures"] },
  { entry: "BatchNorm1d/2d/3d constructors", call: () => new BatchNorm3d(2, { trackRunningStats: false }), arguments: ["numFeatures"] },
  { entry: "forward", call: (w) => w.bn.forward(w.x), arguments: ["out"] },
  { entry: "forward", call: (w) => w.bn.forward(w.x), setup: (w) => both(w, (l) => l.eval()), arguments: ["out"] },
  { entry: "backward", call: (w) => w.bn.backward(w.dy), world: { withGrads: false }, arguments: ["out", "this.weightGrad", "this.biasGrad"] },
  { entry: "backward", call: (w) => w.bn.backward(w.dy, w.extra[0]), setup: (w) => { w.extra.push(Tensor.zeros(SHAPE)); }, world: { withGrads: false }, arguments: ["this.weightGrad", "this.biasGrad"] },
  { entry: "batchNormTrain", call: (w) => batchNormTrain(w.x, { weight: w.w, runningMean: w.rm, runningVar: w.rv }), arguments: ["options.out", "x"] },
  { entry: "batchNormTrain", call: (w) => batchNormTrain(w.x, { out: w.extra[0] }), setup: (w) => { w.extra.push(Tensor.zeros(SHAPE)); }, arguments: ["x"] },
  { entry: "batchNormEval", call: (w) => batchNormEval(w.x, w.rm, w.rv), arguments: ["options.out", "x"] },
  { entry: "batchNormEval", call: (w) => batchNormEval(w.x, w.rm, w.rv, { out: w.extra[0] }), setup: (w) => { w.extra.push(Tensor.zeros(SHAPE)); }, arguments: ["x"] },
  { entry: "batchNormBackward", call: (w) => batchNormBackward(w.dy, w.saved), arguments: ["options.out", "weightGrad", "biasGrad"] },
  { entry: "batchNormBackward", call: (w) => batchNormBackward(w.dy, w.saved, { parameterGradients: false }), arguments: ["options.out"] },
  { entry: "batchStatistics", call: (w) => batchStatistics(w.x), arguments: ["x"] },
];

beforeAll(async () => {
  await init({ build: testBuild() });
  enableGuardBytes(true);
});

afterAll(() => {
  enableGuardBytes(false);
});

const entries = [...new Set([...cases.map((c) => c.entry), ...oom.map((c) => c.entry)])];

describe("hostile input: every rejected call throws a typed error and changes nothing", () => {
  for (const entry of entries) {
    it(entry, () => {
      const failures: string[] = [];
      for (const c of cases.filter((k) => k.entry === entry)) failures.push(...runCase(c).failures);
      for (const c of oom.filter((k) => k.entry === entry)) failures.push(...oomCases({ ...c }, c.arguments));
      expect(failures).toEqual([]);
    });
  }

  it("init: bad options reject with a typed error and keep the build", async () => {
    const before = memoryOf();
    const rows: [unknown, BatchNormErrorCode, string][] = [
      ["scalar", "ERR_ARGUMENT", "options"],
      [null, "ERR_ARGUMENT", "options"],
      [{ bild: "simd" }, "ERR_ARGUMENT", "options.bild"],
      [{ build: "gpu" }, "ERR_BUILD", "options.build"],
      [{ build: testBuild() === "simd" ? "scalar" : "simd" }, "ERR_BUILD", "options.build"],
    ];
    const t = tally("init");
    for (const [options, code, argument] of rows) {
      t.cases++;
      let error: unknown;
      try {
        await init(options as never);
      } catch (caught) {
        error = caught;
      }
      if (error instanceof BatchNormError && error.code === code && error.argument === argument) t.typed++;
      expect(error, `init(${String(options)})`).toMatchObject({ code, argument });
    }
    expect((await init()).build).toBe(testBuild());
    expect(memoryOf()).toBe(before);
  });

  it("prints the battery table", () => {
    const rows = [...tallies.entries()];
    const total = rows.reduce((sum, [, t]) => ({
      cases: sum.cases + t.cases, typed: sum.typed + t.typed, stateChanges: sum.stateChanges + t.stateChanges,
      leaks: sum.leaks + t.leaks, outOfBounds: sum.outOfBounds + t.outOfBounds, twinMismatches: sum.twinMismatches + t.twinMismatches,
    }), { cases: 0, typed: 0, stateChanges: 0, leaks: 0, outOfBounds: 0, twinMismatches: 0 });
    const line = (name: string, t: Tally) => `| ${name} | ${t.cases} | ${t.typed} | ${t.stateChanges} | ${t.leaks} | ${t.outOfBounds} | ${t.twinMismatches} |`;
    console.log([
      `hostile-input battery (${testBuild()} build)`,
      "| entry point | cases | typed errors | state changes | leaks | out-of-bounds writes | later calls differ from twin |",
      "|---|---:|---:|---:|---:|---:|---:|",
      ...rows.map(([name, t]) => line(name, t)),
      line("total", total),
    ].join("\n"));
    expect(total.typed).toBe(total.cases);
    expect(total.stateChanges + total.leaks + total.outOfBounds + total.twinMismatches).toBe(0);
    expect(total.cases).toBeGreaterThan(250);
  });
});
