// The fixed battery whose output bits every runtime and build must reproduce.
// Inputs use only integer hashing and correctly rounded + - * /, never
// Math.log or Math.cos (their last bit differs between engines).
import { BatchNorm, GroupNorm, InstanceNorm, LayerNorm, RMSNorm, Tensor, type Layout } from "../../src/index.ts";
import { seededRandom } from "./random.ts";

export interface BatteryCase {
  readonly layout: Layout;
  readonly shape: readonly number[];
  readonly momentum: number | null;
  readonly affine: boolean;
}

const SHAPES_CHANNELS_FIRST: number[][] = [[4, 3], [2, 5, 7], [3, 19, 40], [2, 3, 5, 4], [8, 13, 9, 9], [2, 3, 2, 3, 5]];
const SHAPES_CHANNELS_LAST: number[][] = [[64, 33], [2, 7, 5], [3, 40, 19], [2, 5, 4, 3], [8, 9, 9, 13], [2, 2, 3, 5, 3]];

export const BATTERY: readonly BatteryCase[] = [
  ...SHAPES_CHANNELS_FIRST.map((shape) => ({ layout: "channels-first" as const, shape, momentum: 0.1, affine: true })),
  ...SHAPES_CHANNELS_LAST.map((shape) => ({ layout: "channels-last" as const, shape, momentum: 0.1, affine: true })),
  { layout: "channels-first", shape: [5, 6, 11], momentum: null, affine: false },
  { layout: "channels-last", shape: [5, 11, 6], momentum: null, affine: false },
];

export const TRAINING_STEPS = 10;

export function caseName(c: BatteryCase): string {
  return `${c.layout} [${c.shape.join("x")}] momentum ${c.momentum} affine ${c.affine}`;
}

/** FNV-1a (32 bit) over the bytes of float32 values, chained through `hash`. */
export function fnv1a(values: Float32Array, hash = 0x811c9dc5): number {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193) >>> 0;
  return hash;
}

const hex = (hash: number) => hash.toString(16).padStart(8, "0");

/** Roughly normal float32 values (sum of four uniforms) with per-channel offsets and scales. */
function batteryInput(random: () => number, c: BatteryCase): Float32Array {
  const size = c.shape.reduce((a, b) => a * b, 1);
  const channels = c.layout === "channels-first" ? c.shape[1] : c.shape[c.shape.length - 1];
  const inner = c.layout === "channels-first" ? size / (c.shape[0] * channels) : 1;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const channel = Math.floor(i / inner) % channels;
    const centred = random() + random() + random() + random() - 2;
    out[i] = centred * (1 + channel * 0.75) + (channel - 2) * 3.5;
  }
  return out;
}

/**
 * Runs one case: ten training steps (forward, backward) then eval forward and
 * backward. Returns a digest per output kind, each over every step.
 */
export function runCase(c: BatteryCase, seed: number): Record<string, string> {
  const random = seededRandom(seed);
  const bn = new BatchNorm(c.layout === "channels-first" ? c.shape[1] : c.shape[c.shape.length - 1], {
    momentum: c.momentum, affine: c.affine, layout: c.layout,
  });
  const C = bn.numFeatures;
  if (c.affine) {
    bn.weight!.set(Float32Array.from({ length: C }, () => 0.5 + random()));
    bn.bias!.set(Float32Array.from({ length: C }, () => random() - 0.5));
  }
  const x = Tensor.zeros(c.shape, c.layout);
  const dy = Tensor.zeros(c.shape, c.layout);
  const y = Tensor.zeros(c.shape, c.layout);
  const dx = Tensor.zeros(c.shape, c.layout);
  let trainForward = 0x811c9dc5, backward = 0x811c9dc5, running = 0x811c9dc5, grads = 0x811c9dc5;
  try {
    bn.train();
    for (let step = 0; step < TRAINING_STEPS; step++) {
      x.set(batteryInput(random, c));
      dy.set(batteryInput(random, c));
      bn.forward(x, y);
      bn.backward(dy, dx);
      trainForward = fnv1a(y.toFloat32Array(), trainForward);
      backward = fnv1a(dx.toFloat32Array(), backward);
      running = fnv1a(bn.runningMean!.toFloat32Array(), running);
      running = fnv1a(bn.runningVar!.toFloat32Array(), running);
    }
    if (c.affine) grads = fnv1a(bn.weightGrad!.toFloat32Array(), fnv1a(bn.biasGrad!.toFloat32Array()));
    bn.eval();
    x.set(batteryInput(random, c));
    dy.set(batteryInput(random, c));
    bn.forward(x, y);
    bn.backward(dy, dx);
    return {
      "train forward": hex(trainForward),
      "train backward": hex(backward),
      "running statistics": `${hex(running)}/${bn.numBatchesTracked}`,
      "parameter gradients": c.affine ? hex(grads) : "none",
      "eval forward": hex(fnv1a(y.toFloat32Array())),
      "eval backward": hex(fnv1a(dx.toFloat32Array())),
    };
  } finally {
    for (const t of [x, dy, y, dx]) t.dispose();
    bn.dispose();
  }
}

/** The family's cases: each norm on sizes that are not multiples of 4, both layouts where it has a channel axis. */
export interface FamilyCase {
  readonly norm: "LayerNorm" | "RMSNorm" | "GroupNorm" | "InstanceNorm";
  readonly shape: readonly number[];
  readonly layout: Layout;
  /** LayerNorm/RMSNorm: the normalized shape; GroupNorm: [groups]. */
  readonly parameter: readonly number[];
}

export const FAMILY_BATTERY: readonly FamilyCase[] = [
  { norm: "LayerNorm", shape: [3, 5, 7], layout: "channels-first", parameter: [7] },
  { norm: "LayerNorm", shape: [2, 3, 5, 6], layout: "channels-first", parameter: [5, 6] },
  { norm: "RMSNorm", shape: [4, 13], layout: "channels-first", parameter: [13] },
  { norm: "RMSNorm", shape: [2, 3, 33], layout: "channels-first", parameter: [33] },
  { norm: "GroupNorm", shape: [2, 6, 5, 3], layout: "channels-first", parameter: [3] },
  { norm: "GroupNorm", shape: [2, 5, 3, 6], layout: "channels-last", parameter: [2] },
  { norm: "InstanceNorm", shape: [3, 5, 9], layout: "channels-first", parameter: [] },
  { norm: "InstanceNorm", shape: [2, 4, 3, 5], layout: "channels-last", parameter: [] },
];

export function familyCaseName(c: FamilyCase): string {
  return `${c.norm} ${c.layout} [${c.shape.join("x")}] (${c.parameter.join("x") || "-"})`;
}

/** Six training steps (forward, backward; InstanceNorm tracks running statistics), then one eval forward. */
export function runFamilyCase(c: FamilyCase, seed: number): Record<string, string> {
  const random = seededRandom(seed);
  const channels = c.layout === "channels-first" ? c.shape[1] : c.shape[c.shape.length - 1];
  const layer = c.norm === "LayerNorm" ? new LayerNorm(c.parameter)
    : c.norm === "RMSNorm" ? new RMSNorm(c.parameter)
    : c.norm === "GroupNorm" ? new GroupNorm(c.parameter[0], channels, { layout: c.layout })
    : new InstanceNorm(channels, { affine: true, trackRunningStats: true, layout: c.layout });
  const size = layer.weight!.size;
  layer.weight!.set(Float32Array.from({ length: size }, () => 0.5 + random()));
  layer.bias?.set(Float32Array.from({ length: size }, () => random() - 0.5));
  const x = Tensor.zeros(c.shape, c.layout), dy = Tensor.zeros(c.shape, c.layout);
  const y = Tensor.zeros(c.shape, c.layout), dx = Tensor.zeros(c.shape, c.layout);
  const asBattery: BatteryCase = { layout: c.layout, shape: c.shape, momentum: 0.1, affine: true };
  let forward = 0x811c9dc5, backward = 0x811c9dc5, statistics = 0x811c9dc5;
  try {
    for (let step = 0; step < 6; step++) {
      x.set(batteryInput(random, asBattery));
      dy.set(batteryInput(random, asBattery));
      layer.forward(x, y);
      const saved = layer.saved!;
      statistics = fnv1a(Float32Array.from(saved.invStd), statistics);
      if (saved.mean) statistics = fnv1a(Float32Array.from(saved.mean), statistics);
      layer.backward(dy, dx);
      forward = fnv1a(y.toFloat32Array(), forward);
      backward = fnv1a(dx.toFloat32Array(), backward);
    }
    let grads = fnv1a(layer.weightGrad!.toFloat32Array());
    if (layer.biasGrad) grads = fnv1a(layer.biasGrad.toFloat32Array(), grads);
    const running = layer instanceof InstanceNorm
      ? hex(fnv1a(layer.runningVar!.toFloat32Array(), fnv1a(layer.runningMean!.toFloat32Array()))) : "none";
    layer.eval();
    x.set(batteryInput(random, asBattery));
    layer.forward(x, y);
    return {
      "train forward": hex(forward),
      "train backward": hex(backward),
      "statistics": hex(statistics),
      "parameter gradients": hex(grads),
      "running statistics": running,
      "eval forward": hex(fnv1a(y.toFloat32Array())),
    };
  } finally {
    for (const t of [x, dy, y, dx]) t.dispose();
    layer.dispose();
  }
}

/** Every case's digests, keyed by case name. */
export function runBattery(): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  BATTERY.forEach((c, index) => {
    out[caseName(c)] = runCase(c, 1000 + index);
  });
  FAMILY_BATTERY.forEach((c, index) => {
    out[familyCaseName(c)] = runFamilyCase(c, 2000 + index);
  });
  return out;
}
