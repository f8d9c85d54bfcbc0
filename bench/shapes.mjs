// The benchmark's shapes and their seeded data.
import { seededRandom } from "../shared/random.mjs";
import { transpose } from "./reference.mjs";

const SHAPES = [
  ["1x64x112x112", [1, 64, 112, 112], "channels-first"],
  ["1x256x14x14", [1, 256, 14, 14], "channels-first"],
  ["8x128x28x28", [8, 128, 28, 28], "channels-first"],
  ["32x512x7x7", [32, 512, 7, 7], "channels-first"],
  ["1x32x8x8", [1, 32, 8, 8], "channels-first"],
  // 64 MiB per tensor, twice this host's 32 MiB L3: every pass streams from DRAM.
  ["16x256x64x64", [16, 256, 64, 64], "channels-first"],
  ["4096x1024", [4096, 1024], "channels-first"],
  ["64x1024", [64, 1024], "channels-first"],
  ["1x1024", [1, 1024], "channels-first"],
  ["1x64x112x112 channels-last", [1, 64, 112, 112], "channels-last"],
  ["32x512x7x7 channels-last", [32, 512, 7, 7], "channels-last"],
  ["16x256x64x64 channels-last", [16, 256, 64, 64], "channels-last"],
];
const SMOKE = new Set(["1x32x8x8", "64x1024"]);

export function benchShapes({ smoke = false } = {}) {
  return SHAPES.filter(([label]) => !smoke || SMOKE.has(label)).map(([label, dims, layout]) => {
    const [N, C, ...spatial] = dims;
    const S = spatial.reduce((a, b) => a * b, 1);
    const channelsLast = layout === "channels-last" || S === 1; // as the façade reads it
    return {
      label, dims, layout, spatial,
      geometry: { N, C, S, channelsLast },
      tensorShape: layout === "channels-last" ? [N, ...spatial, C] : dims,
      bytes: N * C * S * 4,
    };
  });
}

/** Inputs with per-channel offsets and spreads, a gradient, and per-channel parameters. */
export function benchData(shape, seed = 7) {
  const random = seededRandom(seed);
  const { N, C, S } = shape.geometry;
  const normal = () => (random() + random() + random() + random() - 2) * 1.7320508075688772;
  const offset = Float64Array.from({ length: C }, () => (random() - 0.5) * 4);
  const spread = Float64Array.from({ length: C }, () => 0.5 + random());
  const xFirst = new Float32Array(N * C * S), dyFirst = new Float32Array(N * C * S);
  for (let i = 0; i < xFirst.length; i++) {
    const c = Math.floor(i / S) % C;
    xFirst[i] = offset[c] + spread[c] * normal();
    dyFirst[i] = normal();
  }
  const geometryFirst = { N, C, S };
  const xLast = S === 1 ? xFirst : transpose(xFirst, geometryFirst);
  const dyLast = S === 1 ? dyFirst : transpose(dyFirst, geometryFirst);
  const params = {
    weight: Float32Array.from({ length: C }, () => 0.5 + random()),
    bias: Float32Array.from({ length: C }, () => random() - 0.5),
    runningMean: Float32Array.from(offset, (o) => o + (random() - 0.5) * 0.1),
    runningVar: Float32Array.from(spread, (s) => s * s * (0.8 + random() * 0.4)),
    eps: 1e-5,
  };
  const channelsLastData = shape.layout === "channels-last";
  return {
    x: channelsLastData ? xLast : xFirst, dy: channelsLastData ? dyLast : dyFirst,
    xFirst, xLast, dyLast, params,
  };
}
