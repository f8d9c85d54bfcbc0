// The engine shared by GroupNorm and InstanceNorm (one channel per group):
// statistics per (sample n, group g), weight and bias per channel. Index space
// (see assembly/space.ts), with Cg = C / G channels per group and S spatial values:
//   channels-first (N, C, S): Q = N*G groups of one run of Cg*S contiguous values
//   channels-last (N, S, C):  Q = N*G, groupsPerBatch G, batchStride S*C,
//                             groupStride Cg, R = S rows, runStride C, B = Cg
import { fail } from "../errors.ts";
import { readFlag, readOptions } from "../options.ts";
import { checkLayoutTag, checkSameShape } from "../shape.ts";
import { checkTensor, Tensor, zerosFor, type Layout } from "../tensor.ts";
import { kernels } from "../wasm.ts";
import { MAX_CHANNELS } from "../workspace.ts";
import { allocateAll, checkOutput, ptrOf } from "./common.ts";
import { ArrayBlock, forwardState, makeNormSaved, type NormKind, type SavedNormStatistics } from "./saved.ts";

type GroupArray =
  | "pilot" | "sumA" | "sumB" | "laneShift" | "laneA" | "laneB" | "mean" | "variance" | "invStd" | "meanOffset"
  | "coefMean" | "coefA" | "coefB" | "coefC" | "shift" | "gradWeight" | "gradBias";

export interface GroupGeometry {
  N: number;
  C: number;
  S: number;
}

/** (N, C, S) of x in `layout`, with a rank check. */
export function groupGeometryOf(x: Tensor, layout: Layout, argument: string, minRank: number, maxRank: number, ranks: string): GroupGeometry {
  x.assertLive(argument);
  const shape = x.shape;
  if (shape.length < minRank || shape.length > maxRank) fail("ERR_RANK", argument, `expected ${ranks} input (got ${shape.length}D input)`);
  checkLayoutTag(x, layout, argument);
  const last = layout === "channels-last";
  const C = last ? shape[shape.length - 1] : shape[1];
  if (C === 0 || C > MAX_CHANNELS) fail("ERR_CHANNELS", argument, `must have 1 to ${MAX_CHANNELS} channels, got ${C} ([${shape.join(", ")}])`);
  let S = 1;
  for (let i = last ? 1 : 2, end = last ? shape.length - 1 : shape.length; i < end; i++) S *= shape[i];
  return { N: shape[0], C, S };
}

export function optionalPerChannelOf(value: unknown, C: number, argument: string): Tensor | null {
  if (value === undefined || value === null) return null;
  const t = checkTensor(value, argument);
  if (t.shape.length !== 1 || t.size !== C) fail("ERR_CHANNELS", argument, `must be a vector of one value per channel ([${C}]), got [${t.shape.join(", ")}]`);
  return t;
}

function groupBlock(N: number, C: number, G: number, argument: string): ArrayBlock<GroupArray> {
  const Q = N * G, P = N * C;
  const f64 = (n: number) => ["f64", n] as const, f32 = (n: number) => ["f32", n] as const;
  return new ArrayBlock<GroupArray>({
    pilot: f32(Q), sumA: f64(Math.max(Q, P)), sumB: f64(Math.max(Q, P)), laneShift: f32(P), laneA: f64(P), laneB: f64(P),
    mean: f64(Q), variance: f64(Q), invStd: f64(Q), meanOffset: f64(Q),
    coefMean: f64(P), coefA: f64(P), coefB: f64(P), coefC: f64(P), shift: f32(P), gradWeight: f64(C), gradBias: f64(C),
  }, argument);
}

export interface GroupForward {
  x: Tensor; layout: Layout; geometry: GroupGeometry; G: number;
  weight: Tensor | null; bias: Tensor | null; eps: number; out: Tensor | undefined;
  /** InstanceNorm with running statistics: updated from this batch (torch's rule). */
  running?: { mean: Tensor; variance: Tensor; momentum: number };
}

/** Runs a checked group forward: all allocations first, then the kernels. */
export function groupForward(kind: NormKind, f: GroupForward): { y: Tensor; saved: SavedNormStatistics } {
  const { x, layout, G, weight, bias, eps } = f;
  const { N, C, S } = f.geometry;
  const [made, block] = allocateAll<Tensor | ArrayBlock<GroupArray> | null>([
    () => (f.out ? null : zerosFor(x.shape, x.layout, "options.out")),
    () => groupBlock(N, C, G, "x"),
  ]) as [Tensor | null, ArrayBlock<GroupArray>];
  const y = f.out ?? made!;
  const Q = N * G, P = N * C, Cg = C / G, count = Cg * S;
  const k = kernels(), p = (name: GroupArray) => block.ptr(name), xp = x.byteOffset;
  if (Q > 0 && count > 0) {
    if (layout === "channels-first" || S === 1) {
      k.choosePilots(xp, Q, Q, 0, count, 1, 0, count, p("pilot"));
      k.reduceRuns(xp, 0, 0, Q, count, 1, 0, count, p("pilot"), p("sumA"), p("sumB"));
      k.finishGroups(xp, Q, Q, 0, count, 1, 0, count, p("pilot"), p("sumA"), p("sumB"), p("mean"), p("variance"));
    } else {
      k.choosePilots(xp, Q, G, S * C, Cg, S, C, Cg, p("pilot"));
      k.broadcastShift(Q, Cg, p("pilot"), p("laneShift"));
      k.reduceLanes(xp, 0, N, S * C, S, C, C, p("laneShift"), p("laneA"), p("laneB"));
      k.mergeLanes(Q, Cg, p("laneA"), p("sumA"));
      k.mergeLanes(Q, Cg, p("laneB"), p("sumB"));
      k.finishGroups(xp, Q, G, S * C, Cg, S, C, Cg, p("pilot"), p("sumA"), p("sumB"), p("mean"), p("variance"));
    }
    k.groupTrainingCoefficients(N, C, G, p("mean"), p("variance"), eps, ptrOf(weight), ptrOf(bias), p("invStd"), p("meanOffset"), p("coefMean"), p("coefA"), p("coefC"), p("shift"));
    if (layout === "channels-first" || S === 1) k.trainingAffineRuns(xp, y.byteOffset, P, S, P, p("coefMean"), p("coefA"), p("coefC"));
    else k.trainingAffineLanes(xp, y.byteOffset, N, S, C, C, p("coefMean"), p("coefA"), p("coefC"), -1);
    if (f.running) {
      k.instanceRunningUpdate(N, C, S, f.running.momentum, true, p("mean"), p("variance"), f.running.mean.byteOffset, f.running.variance.byteOffset);
      f.running.mean.markWritten();
      f.running.variance.markWritten();
    }
  } else {
    block.fillF64("mean", Number.NaN);
    block.fillF64("invStd", Number.NaN);
  }
  y.markWritten();
  const saved = makeNormSaved<GroupArray>({
    kind, x, xVersion: x.version, weight, weightVersion: weight?.version ?? 0, withBias: bias !== null, layout, block,
    groups: Q, count, geometry: { N, C, S, G }, parameterShape: [C], hasMean: true,
  });
  return { y, saved };
}

export interface GroupBackwardOptions {
  out?: Tensor;
  /** Whether to compute weight and bias gradients; default: when the forward had a weight. */
  parameterGradients?: boolean;
}

const BACKWARD_KEYS = ["out", "parameterGradients"] as const;

/** dx through the group statistics of `saved`'s forward; parameter gradients as new tensors or added to `accumulate`. */
export function groupBackward(
  kind: NormKind, dy: unknown, saved: unknown, options: unknown,
  accumulate?: { weightGrad: Tensor | null; biasGrad: Tensor | null },
): { dx: Tensor; weightGrad: Tensor | null; biasGrad: Tensor | null } {
  const state = forwardState<GroupArray>(saved, kind);
  const o = readOptions(options, "options", BACKWARD_KEYS);
  const layout = state.layout!;
  const gradient = checkTensor(dy, "dy");
  checkSameShape(gradient, state.x.shape, "dy", "the forward input");
  checkLayoutTag(gradient, layout, "dy");
  const wantParameters = accumulate ? accumulate.weightGrad !== null : readFlag(o.parameterGradients, "options.parameterGradients", state.weight !== null);
  const out = checkOutput(o.out, state.x, layout, "options.out", "the forward input");
  const { N, C, S, G } = state.geometry;
  const [made, newWeightGrad, newBiasGrad] = allocateAll<Tensor | null>([
    () => (out ? null : zerosFor(state.x.shape, state.x.layout, "options.out")),
    () => (wantParameters && !accumulate ? zerosFor([C], undefined, "weightGrad") : null),
    () => (wantParameters && state.withBias && !accumulate ? zerosFor([C], undefined, "biasGrad") : null),
  ]) as [Tensor | null, Tensor | null, Tensor | null];
  const dx = out ?? made!;
  const weightGrad = accumulate ? accumulate.weightGrad : newWeightGrad;
  const biasGrad = accumulate ? accumulate.biasGrad : newBiasGrad;
  const P = N * C, count = (C / G) * S;
  const k = kernels(), p = (name: GroupArray) => state.block.ptr(name);
  if (P > 0 && S > 0) {
    const xp = state.x.byteOffset, gp = gradient.byteOffset;
    const runs = layout === "channels-first" || S === 1;
    if (runs) k.reduceRuns(xp, gp, 0, P, S, 1, 0, S, p("shift"), p("sumA"), p("sumB"));
    else k.reduceLanes(xp, gp, N, S * C, S, C, C, p("shift"), p("sumA"), p("sumB"));
    k.groupGradientCoefficients(N, C, G, count, ptrOf(state.weight), p("invStd"), p("meanOffset"), p("sumA"), p("sumB"), p("coefA"), p("coefB"), p("coefC"), p("gradWeight"), p("gradBias"));
    if (runs) k.trainingGradientRuns(xp, gp, dx.byteOffset, P, S, P, p("coefMean"), p("coefA"), p("coefB"), p("coefC"));
    else k.trainingGradientLanes(xp, gp, dx.byteOffset, N, S, C, C, p("coefMean"), p("coefA"), p("coefB"), p("coefC"), -1);
    if (weightGrad) k.accumulateGradients(C, p("gradWeight"), weightGrad.byteOffset);
    if (biasGrad) k.accumulateGradients(C, p("gradBias"), biasGrad.byteOffset);
  }
  dx.markWritten();
  weightGrad?.markWritten();
  biasGrad?.markWritten();
  return { dx, weightGrad: accumulate ? null : weightGrad, biasGrad: accumulate ? null : biasGrad };
}
