// The example page's experiment, runtime-neutral so the page and its test
// compute the same numbers: a BatchNorm2d over four channels whose inputs
// have very different offsets and spreads, trained for a number of steps,
// then evaluated on a fresh batch with the running statistics.
import { seededRandom } from "../../shared/random.mjs";

export const CHANNELS = [
  { name: "red", mean: 120, std: 30 },
  { name: "green", mean: -4, std: 0.5 },
  { name: "blue", mean: 0.5, std: 0.05 },
  { name: "depth", mean: 1e4, std: 250 },
];
export const SHAPE = [16, CHANNELS.length, 8, 8];

/** Seeded normal-ish values: sum of four uniforms (mulberry32), exact arithmetic only. */
function sampler(seed) {
  const uniform = seededRandom(seed);
  // The sum of four uniforms has variance 1/3; scale it to unit variance.
  return () => (uniform() + uniform() + uniform() + uniform() - 2) * 1.7320508075688772;
}

export function makeBatch(next) {
  const [N, C, H, W] = SHAPE;
  const data = new Float32Array(N * C * H * W);
  for (let i = 0; i < data.length; i++) {
    const channel = CHANNELS[Math.floor(i / (H * W)) % C];
    data[i] = channel.mean + channel.std * next();
  }
  return data;
}

/** Per-channel mean and standard deviation (biased) in float64. */
export function channelSummary(values) {
  const [N, C, H, W] = SHAPE;
  const S = H * W;
  return CHANNELS.map((_, c) => {
    let sum = 0;
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) sum += values[(n * C + c) * S + s];
    const mean = sum / (N * S);
    let squares = 0;
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) squares += (values[(n * C + c) * S + s] - mean) ** 2;
    return { mean, std: Math.sqrt(squares / (N * S)) };
  });
}

/**
 * Runs `steps` training-mode forwards, then one eval-mode forward on a fresh
 * batch. `lib` is the batchnorm-wasm module. Returns what the page shows.
 */
export async function runExperiment(lib, steps = 200) {
  const { init, BatchNorm, Tensor } = lib;
  const { build } = await init();
  const next = sampler(7);
  const bn = new BatchNorm(CHANNELS.length);
  // Gamma and beta as a trained layer might have them, so the output is visibly affine.
  bn.weight.set(Float32Array.from([1, 2, 0.5, 1]));
  bn.bias.set(Float32Array.from([0, 1, -1, 3]));
  const x = Tensor.zeros(SHAPE);
  const y = Tensor.zeros(SHAPE);
  let trainInput, trainOutput;
  for (let step = 0; step < steps; step++) {
    x.set(makeBatch(next));
    bn.forward(x, y);
    if (step === steps - 1) {
      trainInput = channelSummary(x.toFloat32Array());
      trainOutput = channelSummary(y.toFloat32Array());
    }
  }
  bn.eval();
  x.set(makeBatch(next));
  bn.forward(x, y);
  const result = {
    build, steps,
    trainInput, trainOutput,
    evalInput: channelSummary(x.toFloat32Array()),
    evalOutput: channelSummary(y.toFloat32Array()),
    runningMean: Array.from(bn.runningMean.toFloat32Array()),
    runningVar: Array.from(bn.runningVar.toFloat32Array()),
    weight: Array.from(bn.weight.toFloat32Array()),
    bias: Array.from(bn.bias.toFloat32Array()),
    sampleInput: Array.from(x.toFloat32Array().subarray(0, 8 * 8 * CHANNELS.length)),
    sampleOutput: Array.from(y.toFloat32Array().subarray(0, 8 * 8 * CHANNELS.length)),
  };
  x.dispose();
  y.dispose();
  bn.dispose();
  return result;
}
