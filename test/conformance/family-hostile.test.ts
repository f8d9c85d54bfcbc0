// Bad inputs to the family's entry points (LayerNorm, RMSNorm, GroupNorm,
// InstanceNorm layers and their functional forms), out of memory included.
// Each case builds a fresh layer with a pending forward, snapshots every byte
// the layer owns plus the live count and memoryStats, makes the call, expects a
// BatchNormError with the case's code, the same snapshot, intact guard bytes,
// and that the pending backward then gives the bytes an untouched twin gives.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BatchNormError, GroupNorm, InstanceNorm2d, LayerNorm, RMSNorm, Tensor, checkGuardBytes, enableGuardBytes, groupNorm, groupNormBackward,
  init, instanceNorm, layerNorm, layerNormBackward, liveTensorCount, memoryStats, rmsNorm, setMemoryLimit, type BatchNormErrorCode,
} from "../../src/index.ts";
import { testBuild } from "../support/build.ts";
import { seededRandom } from "../support/random.ts";

type Layer = LayerNorm | RMSNorm | GroupNorm | InstanceNorm2d;

interface World { layer: Layer; twin: Layer; x: Tensor; dy: Tensor; shape: number[] }

const KINDS = {
  LayerNorm: { make: () => new LayerNorm([5]), shape: [3, 4, 5] },
  RMSNorm: { make: () => new RMSNorm([5]), shape: [3, 4, 5] },
  GroupNorm: { make: () => new GroupNorm(2, 4), shape: [3, 4, 5] },
  InstanceNorm2d: { make: () => new InstanceNorm2d(4, { affine: true, trackRunningStats: true }), shape: [3, 4, 5, 2] },
} as const;
type Kind = keyof typeof KINDS;

beforeAll(async () => {
  await init({ build: testBuild() });
  enableGuardBytes(true);
});

afterAll(() => {
  setMemoryLimit(null);
  enableGuardBytes(false);
});

function makeWorld(kind: Kind): World {
  const random = seededRandom(23);
  const { shape } = KINDS[kind];
  const size = shape.reduce((a, b) => a * b, 1);
  const data = (scale: number) => Float32Array.from({ length: size }, () => (random() * 2 - 1) * scale);
  const x = Tensor.from(data(3), shape), dy = Tensor.from(data(1), shape);
  const [layer, twin] = [KINDS[kind].make(), KINDS[kind].make()];
  for (const l of [layer, twin]) {
    l.weight!.set(Float32Array.from({ length: l.weight!.size }, (_, i) => 1 + 0.25 * i));
    l.forward(x).dispose();
    l.backward(dy).dispose(); // gradient buffers exist
    l.forward(x).dispose(); // a pending forward
  }
  return { layer, twin, x, dy, shape };
}

function snapshot(w: World): string {
  const own = [w.layer.weight, w.layer.bias, w.layer.weightGrad, w.layer.biasGrad];
  if (w.layer instanceof InstanceNorm2d) own.push(w.layer.runningMean, w.layer.runningVar);
  const bytes = [...own, w.x, w.dy].map((t) => (t ? `${t.version}:${Array.from(new Uint32Array(t.toFloat32Array().buffer)).join(",")}` : "-"));
  const saved = w.layer.saved;
  const stats = memoryStats();
  return JSON.stringify({
    bytes, training: w.layer.training, live: liveTensorCount(),
    saved: saved ? [Array.from(saved.invStd), saved.mean ? Array.from(saved.mean) : null] : null,
    memory: [stats.tensors, stats.workspaces, stats.savedStatistics, stats.bytes],
  });
}

interface Case { kind: Kind; name: string; code: BatchNormErrorCode; call: (w: World) => unknown }

/** LayerNorm/RMSNorm: another trailing size; GroupNorm/InstanceNorm: another channel count. */
const wrongShape = (w: World) => Tensor.zeros(w.layer instanceof LayerNorm || w.layer instanceof RMSNorm
  ? [...w.shape.slice(0, -1), w.shape[w.shape.length - 1] + 1]
  : [w.shape[0], w.shape[1] + 1, ...w.shape.slice(2)]);

const CASES: Case[] = [];
for (const kind of Object.keys(KINDS) as Kind[]) {
  CASES.push(
    { kind, name: "forward of a non-tensor", code: "ERR_ARGUMENT", call: (w) => w.layer.forward({} as Tensor) },
    { kind, name: "forward with a wrong shape", code: kind === "LayerNorm" || kind === "RMSNorm" ? "ERR_SHAPE" : "ERR_CHANNELS", call: (w) => tempCall(wrongShape(w), (t) => w.layer.forward(t)) },
    { kind, name: "forward into an out of another shape", code: "ERR_SHAPE", call: (w) => tempCall(Tensor.zeros([2, 2]), (t) => w.layer.forward(w.x, t)) },
    { kind, name: "forward with a disposed weight", code: "ERR_DISPOSED", call: (w) => { w.layer.weight!.dispose(); return w.layer.forward(w.x); } },
    { kind, name: "backward with a wrong-shaped dy", code: "ERR_SHAPE", call: (w) => tempCall(Tensor.zeros([2, 2]), (t) => w.layer.backward(t)) },
    { kind, name: "backward into a disposed out", code: "ERR_DISPOSED", call: (w) => tempCall(Tensor.zeros(w.shape), (t) => { t.dispose(); return w.layer.backward(w.dy, t); }) },
    { kind, name: "loadStateDict with a short weight", code: "ERR_SHAPE", call: (w) => w.layer.loadStateDict({ ...w.layer.stateDict(), weight: [1, 2] }) },
    { kind, name: "loadStateDict with a string value", code: "ERR_ARGUMENT", call: (w) => w.layer.loadStateDict({ ...w.layer.stateDict(), weight: Array.from(w.layer.weight!.toFloat32Array(), (v, i) => (i === 1 ? "2" : v)) }) },
    { kind, name: "loadStateDict with an unexpected key", code: "ERR_STATE_DICT", call: (w) => w.layer.loadStateDict({ ...w.layer.stateDict(), running_means: [0] }) },
    { kind, name: "train with a string", code: "ERR_ARGUMENT", call: (w) => w.layer.train("false" as unknown as boolean) },
    { kind, name: "forward out of memory", code: "ERR_OUT_OF_MEMORY", call: (w) => limited(() => w.layer.forward(w.x)) },
    { kind, name: "backward out of memory", code: "ERR_OUT_OF_MEMORY", call: (w) => limited(() => w.layer.backward(w.dy)) },
  );
}
CASES.push(
  { kind: "LayerNorm", name: "layerNorm with an unknown option", code: "ERR_ARGUMENT", call: (w) => layerNorm(w.x, [5], { epsilon: 1e-3 } as never) },
  { kind: "LayerNorm", name: "layerNorm with a bad normalizedShape", code: "ERR_SHAPE", call: (w) => layerNorm(w.x, [0]) },
  { kind: "LayerNorm", name: "layerNorm with a weight of another shape", code: "ERR_SHAPE", call: (w) => tempCall(Tensor.zeros([4]), (t) => layerNorm(w.x, [5], { weight: t })) },
  { kind: "LayerNorm", name: "layerNormBackward with forged saved statistics", code: "ERR_ARGUMENT", call: (w) => layerNormBackward(w.dy, { mean: null, invStd: new Float64Array(3) } as never) },
  { kind: "RMSNorm", name: "rmsNorm with a negative eps", code: "ERR_EPS", call: (w) => rmsNorm(w.x, [5], { eps: -1 }) },
  { kind: "RMSNorm", name: "RMSNorm with eps NaN", code: "ERR_EPS", call: () => new RMSNorm([5], { eps: Number.NaN }) },
  { kind: "GroupNorm", name: "GroupNorm with groups not dividing channels", code: "ERR_CHANNELS", call: () => new GroupNorm(3, 4) },
  { kind: "GroupNorm", name: "groupNorm with a fractional group count", code: "ERR_ARGUMENT", call: (w) => groupNorm(w.x, 1.5) },
  { kind: "GroupNorm", name: "groupNorm with an unknown layout", code: "ERR_LAYOUT", call: (w) => groupNorm(w.x, 2, { layout: "nhwc" as never }) },
  { kind: "GroupNorm", name: "groupNormBackward with LayerNorm's saved statistics", code: "ERR_ARGUMENT", call: (w) => {
    const { y, saved } = layerNorm(w.x, [5]);
    try { return groupNormBackward(w.dy, saved); } finally { y.dispose(); saved.dispose(); }
  } },
  { kind: "InstanceNorm2d", name: "InstanceNorm2d with a rank-3 input", code: "ERR_RANK", call: (w) => tempCall(Tensor.zeros([3, 4, 5]), (t) => w.layer.forward(t)) },
  { kind: "InstanceNorm2d", name: "instanceNorm with only a running mean", code: "ERR_ARGUMENT", call: (w) => tempCall(Tensor.zeros([4]), (t) => instanceNorm(w.x, { runningMean: t })) },
  { kind: "InstanceNorm2d", name: "instanceNorm with one spatial value", code: "ERR_SINGLE_VALUE", call: () => tempCall(Tensor.zeros([2, 4, 1, 1]), (t) => instanceNorm(t)) },
  { kind: "InstanceNorm2d", name: "InstanceNorm2d with momentum 2", code: "ERR_MOMENTUM", call: () => new InstanceNorm2d(4, { momentum: 2 }) },
);

/** Calls with a temporary tensor made before the snapshot's comparison and disposed after the call. */
let temporaries: Tensor[] = [];
function tempCall(t: Tensor, action: (t: Tensor) => unknown): unknown {
  temporaries.push(t);
  return action(t);
}

/** Runs `action` with a memory limit that leaves no room for one more allocation. */
function limited(action: () => unknown): unknown {
  setMemoryLimit(memoryStats().bytes);
  try {
    return action();
  } finally {
    setMemoryLimit(null);
  }
}

describe("family bad-input battery", () => {
  it.each(CASES.map((c) => [`${c.kind}: ${c.name}`, c] as const))("%s", (_name, c) => {
    const w = makeWorld(c.kind);
    temporaries = [];
    const liveBefore = liveTensorCount();
    const before = snapshot(w);
    let error: unknown;
    try {
      c.call(w);
    } catch (caught) {
      error = caught;
    }
    expect(error, "a BatchNormError").toBeInstanceOf(BatchNormError);
    expect((error as BatchNormError).code).toBe(c.code);
    for (const t of temporaries) t.dispose();
    if (c.name === "forward with a disposed weight") {
      // The user disposed a layer tensor on purpose; everything else must be as it was.
      expect(liveTensorCount()).toBe(liveBefore - 1);
    } else {
      expect(liveTensorCount(), "live tensors").toBe(liveBefore);
      expect(snapshot(w), "state after the rejected call").toBe(before);
      // The pending forward still gives the twin's backward.
      const dx = w.layer.backward(w.dy), twinDx = w.twin.backward(w.dy);
      expect(Array.from(dx.toFloat32Array())).toEqual(Array.from(twinDx.toFloat32Array()));
      dx.dispose();
      twinDx.dispose();
    }
    expect(checkGuardBytes()).toEqual([]);
    for (const t of [w.x, w.dy]) t.dispose();
    w.layer.dispose();
    w.twin.dispose();
  });

  it(`covers every family entry point (${CASES.length} cases)`, () => {
    const counts = new Map<Kind, number>();
    for (const c of CASES) counts.set(c.kind, (counts.get(c.kind) ?? 0) + 1);
    console.log(`family battery: ${[...counts].map(([k, n]) => `${k} ${n}`).join(", ")}; ${CASES.length} cases`);
    expect(CASES.length).toBeGreaterThanOrEqual(60);
  });
});
