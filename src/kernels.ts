// The kernel interface: the raw exports of assembly/index.ts, declared once.
// Pointers are byte addresses in the module's memory, sizes and strides are in
// elements. test/conformance/builds.test.ts checks every name and parameter
// count here against both builds' exports.

/** Parameter count of every kernel export (the single declaration the interface and the test derive from). */
export const KERNEL_PARAMETERS = {
  isSimdBuild: 0, alloc: 1, free: 1,
  // BatchNorm: composite exports over a per-channel workspace (assembly/workspace.ts).
  workspaceBytes: 1, workspaceF64Offset: 2, workspaceF32Offset: 2, workspaceInit: 2,
  batchStatistics: 6, trainForward: 10, runningUpdate: 7, evalPrepare: 7, evalForward: 7, trainBackward: 11, evalBackward: 11,
  // The index space (assembly/space.ts): statistics groups of runs of contiguous elements.
  choosePilots: 9, finishGroups: 13, finishMeanSquares: 4, broadcastShift: 4, mergeLanes: 4,
  reduceRuns: 11, reduceLanes: 10, reduceColumns: 8,
  affineRuns: 8, affineLanes: 10, trainingAffineRuns: 8, trainingAffineLanes: 10, trainingGradientRuns: 10, trainingGradientLanes: 12,
  rowsAffine: 8, rowsGradient: 10,
  groupTrainingCoefficients: 14, groupGradientCoefficients: 14, instanceRunningUpdate: 9, accumulateGradients: 3,
  rowTrainingCoefficients: 7, rowGradientCoefficients: 10,
  // Given statistics (assembly/sync.ts): synchronized BN, renormalization, ghost batches.
  channelMoments: 7, normalizeChannels: 9, gradientSums: 10, gradientChannels: 11,
  // Optimizers (assembly/optim.ts): one call per parameter tensor.
  sgdStep: 11, adamStep: 15, fillValues: 3,
} as const;

export type KernelName = keyof typeof KERNEL_PARAMETERS;

type Ptr = number;

/** Typed signatures of the exports named in KERNEL_PARAMETERS. */
export interface Kernels {
  readonly memory: WebAssembly.Memory;
  readonly build: "simd" | "scalar";
  isSimdBuild(): number;
  alloc(bytes: number): Ptr;
  free(ptr: Ptr): void;
  workspaceBytes(C: number): number;
  workspaceF64Offset(C: number, slot: number): number;
  workspaceF32Offset(C: number, slot: number): number;
  workspaceInit(C: number, ws: Ptr): void;
  batchStatistics(x: Ptr, N: number, C: number, S: number, channelsLast: boolean, ws: Ptr): void;
  trainForward(x: Ptr, y: Ptr, N: number, C: number, S: number, channelsLast: boolean, weight: Ptr, bias: Ptr, eps: number, ws: Ptr): void;
  runningUpdate(C: number, count: number, factor: number, unbiased: boolean, runningMean: Ptr, runningVar: Ptr, ws: Ptr): void;
  evalPrepare(C: number, runningMean: Ptr, runningVar: Ptr, weight: Ptr, bias: Ptr, eps: number, ws: Ptr): void;
  evalForward(x: Ptr, y: Ptr, N: number, C: number, S: number, channelsLast: boolean, ws: Ptr): void;
  trainBackward(x: Ptr, dy: Ptr, dx: Ptr, N: number, C: number, S: number, channelsLast: boolean, weight: Ptr, weightGrad: Ptr, biasGrad: Ptr, ws: Ptr): void;
  evalBackward(x: Ptr, dy: Ptr, dx: Ptr, N: number, C: number, S: number, channelsLast: boolean, parameterGradients: boolean, weightGrad: Ptr, biasGrad: Ptr, ws: Ptr): void;

  choosePilots(x: Ptr, Q: number, groupsPerBatch: number, batchStride: number, groupStride: number, R: number, runStride: number, B: number, pilot: Ptr): void;
  finishGroups(x: Ptr, Q: number, groupsPerBatch: number, batchStride: number, groupStride: number, R: number, runStride: number, B: number, pilot: Ptr, sumA: Ptr, sumB: Ptr, mean: Ptr, variance: Ptr): void;
  finishMeanSquares(Q: number, count: number, sumB: Ptr, meanSquare: Ptr): void;
  broadcastShift(Q: number, lanes: number, groupShift: Ptr, laneShift: Ptr): void;
  mergeLanes(Q: number, lanes: number, laneSums: Ptr, groupSums: Ptr): void;
  reduceRuns(x: Ptr, dy: Ptr, weight: Ptr, Q: number, groupStride: number, R: number, runStride: number, B: number, shift: Ptr, sumA: Ptr, sumB: Ptr): void;
  reduceLanes(x: Ptr, dy: Ptr, batches: number, batchStride: number, R: number, rowStride: number, C: number, shift: Ptr, sumA: Ptr, sumB: Ptr): void;
  reduceColumns(x: Ptr, dy: Ptr, R: number, C: number, rowMean: Ptr, rowInv: Ptr, sumA: Ptr, sumB: Ptr): void;
  affineRuns(x: Ptr, y: Ptr, P: number, B: number, period: number, shift: Ptr, scale: Ptr, offset: Ptr): void;
  /** nanCheck: 1 the coefficients can create a NaN (canonicalize), 0 they cannot, -1 scan them. */
  affineLanes(x: Ptr, y: Ptr, batches: number, R: number, C: number, coefBatchStride: number, shift: Ptr, scale: Ptr, offset: Ptr, nanCheck: number): void;
  trainingAffineRuns(x: Ptr, y: Ptr, P: number, B: number, period: number, mean: Ptr, coefA: Ptr, coefC: Ptr): void;
  trainingAffineLanes(x: Ptr, y: Ptr, batches: number, R: number, C: number, coefBatchStride: number, mean: Ptr, coefA: Ptr, coefC: Ptr, nanCheck: number): void;
  trainingGradientRuns(x: Ptr, dy: Ptr, dx: Ptr, P: number, B: number, period: number, mean: Ptr, coefA: Ptr, coefB: Ptr, coefC: Ptr): void;
  trainingGradientLanes(x: Ptr, dy: Ptr, dx: Ptr, batches: number, R: number, C: number, coefBatchStride: number, mean: Ptr, coefA: Ptr, coefB: Ptr, coefC: Ptr, nanCheck: number): void;
  rowsAffine(x: Ptr, y: Ptr, R: number, D: number, rowMean: Ptr, rowInv: Ptr, weight: Ptr, bias: Ptr): void;
  rowsGradient(x: Ptr, dy: Ptr, dx: Ptr, R: number, D: number, rowMean: Ptr, rowA: Ptr, rowB: Ptr, rowC: Ptr, weight: Ptr): void;
  groupTrainingCoefficients(N: number, C: number, G: number, mean: Ptr, variance: Ptr, eps: number, weight: Ptr, bias: Ptr, invStd: Ptr, meanOffset: Ptr, coefMean: Ptr, coefA: Ptr, coefC: Ptr, shift: Ptr): void;
  groupGradientCoefficients(N: number, C: number, G: number, count: number, weight: Ptr, invStd: Ptr, meanOffset: Ptr, sumA: Ptr, sumB: Ptr, coefA: Ptr, coefB: Ptr, coefC: Ptr, gradWeight: Ptr, gradBias: Ptr): void;
  instanceRunningUpdate(N: number, C: number, count: number, factor: number, unbiased: boolean, mean: Ptr, variance: Ptr, runningMean: Ptr, runningVar: Ptr): void;
  accumulateGradients(count: number, gradient: Ptr, grad: Ptr): void;
  rowTrainingCoefficients(R: number, mean: Ptr, variance: Ptr, eps: number, invStd: Ptr, meanOffset: Ptr, shift: Ptr): void;
  rowGradientCoefficients(R: number, D: number, hasMean: boolean, invStd: Ptr, meanOffset: Ptr, sumA: Ptr, sumB: Ptr, coefA: Ptr, coefB: Ptr, coefC: Ptr): void;

  channelMoments(x: Ptr, N: number, C: number, S: number, channelsLast: boolean, mean: Ptr, m2: Ptr): void;
  normalizeChannels(x: Ptr, y: Ptr, N: number, C: number, S: number, channelsLast: boolean, mean: Ptr, scale: Ptr, shift: Ptr): void;
  gradientSums(x: Ptr, dy: Ptr, N: number, C: number, S: number, channelsLast: boolean, mean: Ptr, invStd: Ptr, sumDy: Ptr, sumDyXhat: Ptr): void;
  gradientChannels(x: Ptr, dy: Ptr, dx: Ptr, N: number, C: number, S: number, channelsLast: boolean, mean: Ptr, coefA: Ptr, coefB: Ptr, coefC: Ptr): void;

  sgdStep(param: Ptr, grad: Ptr, buf: Ptr, count: number, lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean, maximize: boolean, firstStep: boolean): void;
  adamStep(param: Ptr, grad: Ptr, expAvg: Ptr, expAvgSq: Ptr, maxExpAvgSq: Ptr, count: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, decoupled: boolean, amsgrad: boolean, maximize: boolean): void;
  fillValues(ptr: Ptr, count: number, value: number): void;
}

// The interface and the table must name the same exports.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const namesAgree: Exact<KernelName, Exclude<keyof Kernels, "memory" | "build">> = true;
void namesAgree;
