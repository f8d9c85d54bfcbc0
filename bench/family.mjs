// The normalization family in `npm run bench`: the shapes (issue 11's
// realistic ones), their seeded data and the float64 references every cell
// is checked against before it is timed. Channels-first throughout, so every
// statistics group is one contiguous run: LayerNorm's and RMSNorm's rows,
// GroupNorm's (sample, group) blocks of C / G channels, InstanceNorm's
// (sample, channel) planes. The affine index of element i is
// floor(i / stride) % period: the element of the row (LayerNorm, RMSNorm,
// stride 1) or the channel (GroupNorm, InstanceNorm, stride S).
import { seededRandom } from "../shared/random.mjs";

const RMS_EPS = 2 ** -23; // RMSNorm's default for float32 input (torch 2.4, and this library)

const SHAPES = [
  ["LayerNorm", [1, 197, 768], "ViT-B/16"],
  ["LayerNorm", [8, 128, 768], "BERT-base batch"],
  ["LayerNorm", [1, 1500, 384], "Whisper-tiny encoder"],
  ["LayerNorm", [1, 4096], "decoder row"],
  ["LayerNorm", [32, 4096], "decoder rows"],
  ["RMSNorm", [1, 4096], "decoder row"],
  ["RMSNorm", [16, 2048], "decoder rows"],
  ["GroupNorm", [1, 320, 64, 64], "diffusion UNet", 32],
  ["GroupNorm", [2, 640, 32, 32], "diffusion UNet", 32],
  ["InstanceNorm2d", [1, 64, 256, 256], "style transfer"],
  ["InstanceNorm2d", [1, 128, 128, 128], "style transfer"],
];
// --smoke: the two small decoder rows and, to stay fast, small GroupNorm and InstanceNorm shapes of its own.
const SMOKE = new Set(["LayerNorm 1x4096", "RMSNorm 1x4096"]);
const SMOKE_ONLY = [
  ["GroupNorm", [1, 64, 16, 16], "smoke check", 32],
  ["InstanceNorm2d", [1, 8, 32, 32], "smoke check"],
];

export function familyShapes({ smoke = false } = {}) {
  return (smoke ? [...SHAPES.filter(([norm, dims]) => SMOKE.has(`${norm} ${dims.join("x")}`)), ...SMOKE_ONLY] : SHAPES).map(([norm, dims, model, numGroups]) => {
    const label = `${norm}${numGroups ? `(${numGroups})` : ""} ${dims.join("x")}`;
    const size = dims.reduce((a, b) => a * b, 1);
    const rowwise = norm === "LayerNorm" || norm === "RMSNorm";
    const D = dims.at(-1), [N, C] = dims, S = rowwise ? 1 : dims.slice(2).reduce((a, b) => a * b, 1);
    const groupLength = rowwise ? D : norm === "GroupNorm" ? (C / numGroups) * S : S;
    return {
      label, norm, dims, model, numGroups: numGroups ?? null, bytes: size * 4,
      geometry: {
        N, C: rowwise ? null : C, S: rowwise ? null : S,
        groups: { count: size / groupLength, length: groupLength },
        affine: rowwise ? { period: D, stride: 1 } : { period: C, stride: S },
        rms: norm === "RMSNorm",
      },
      eps: norm === "RMSNorm" ? RMS_EPS : 1e-5,
    };
  });
}

/**
 * x with an offset and a spread per affine index (feature or channel), a
 * gradient, the affine parameters and (InstanceNorm) running statistics near
 * the data's per-channel moments.
 */
export function familyData(shape, seed = 11) {
  const random = seededRandom(seed);
  const { period, stride } = shape.geometry.affine;
  const normal = () => (random() + random() + random() + random() - 2) * 1.7320508075688772;
  const offset = Float64Array.from({ length: period }, () => (random() - 0.5) * 4);
  const spread = Float64Array.from({ length: period }, () => 0.5 + random());
  const n = shape.bytes / 4, x = new Float32Array(n), dy = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = Math.floor(i / stride) % period;
    x[i] = offset[a] + spread[a] * normal();
    dy[i] = normal();
  }
  return {
    x, dy,
    params: {
      weight: Float32Array.from({ length: period }, () => 0.5 + random()),
      bias: shape.geometry.rms ? null : Float32Array.from({ length: period }, () => random() - 0.5),
      runningMean: Float32Array.from(offset, (o) => o + (random() - 0.5) * 0.1),
      runningVar: Float32Array.from(spread, (s) => s * s * (0.8 + random() * 0.4)),
      eps: shape.eps,
    },
  };
}

/** Per statistics group: mean (0 for RMSNorm) and 1 / sqrt(variance (mean square for RMSNorm) + eps), in float64. */
function groupStatistics(x, g, eps) {
  const { count, length } = g.groups;
  const mean = new Float64Array(count), invStd = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const base = k * length;
    let sum = 0;
    if (!g.rms) for (let i = 0; i < length; i++) sum += x[base + i];
    mean[k] = sum / length;
    let squares = 0;
    for (let i = 0; i < length; i++) squares += (x[base + i] - mean[k]) ** 2;
    invStd[k] = 1 / Math.sqrt(squares / length + eps);
  }
  return { mean, invStd };
}

const affineIndex = ({ period, stride }) => (i) => Math.floor(i / stride) % period;

/** The training-mode forward (statistics of the input), which is also eval for LayerNorm, RMSNorm, GroupNorm and InstanceNorm without running statistics. */
export function referenceForward(x, g, p) {
  const { mean, invStd } = groupStatistics(x, g, p.eps), at = affineIndex(g.affine), y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const k = Math.floor(i / g.groups.length), a = at(i);
    y[i] = (x[i] - mean[k]) * invStd[k] * p.weight[a] + (p.bias ? p.bias[a] : 0);
  }
  return y;
}

/** InstanceNorm in eval mode with running statistics: per channel. */
export function referenceRunning(x, g, p) {
  const at = affineIndex(g.affine), y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = at(i);
    y[i] = ((x[i] - p.runningMean[c]) / Math.sqrt(p.runningVar[c] + p.eps)) * p.weight[c] + p.bias[c];
  }
  return y;
}

/** dx through the statistics: invStd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * weight (no mean(g) term for RMSNorm). */
export function referenceBackward(x, dy, g, p) {
  const { mean, invStd } = groupStatistics(x, g, p.eps), at = affineIndex(g.affine), dx = new Float64Array(x.length);
  const { count, length } = g.groups;
  for (let k = 0; k < count; k++) {
    const base = k * length;
    let sumG = 0, sumGXhat = 0;
    for (let i = base; i < base + length; i++) {
      const grad = dy[i] * p.weight[at(i)];
      sumG += grad;
      sumGXhat += grad * (x[i] - mean[k]) * invStd[k];
    }
    const meanG = g.rms ? 0 : sumG / length;
    for (let i = base; i < base + length; i++) {
      const xHat = (x[i] - mean[k]) * invStd[k];
      dx[i] = invStd[k] * (dy[i] * p.weight[at(i)] - meanG - (xHat * sumGXhat) / length);
    }
  }
  return dx;
}
