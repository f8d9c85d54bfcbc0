// The speed targets (issue 12's, and the peer factors before them), as ratios of medians measured in the same run.
// Each entry: what is compared, the ratio, the threshold, and whether it holds.
const MiB = 1 << 20;
export const TRAIN_FORWARD_TARGET = 1.25;

export function evaluateTargets(shape, medians) {
  const m = (name) => medians[name];
  const out = [];
  const add = (target, ratio, threshold, higherIsBetter, why = "") => {
    if (!Number.isFinite(ratio)) return;
    out.push({ shape: shape.label, target, ratio, threshold, met: higherIsBetter ? ratio >= threshold : ratio <= threshold, why });
  };
  const large = shape.bytes >= MiB;
  const channelsLastData = shape.layout === "channels-last";
  // Throughput ratios: baseline time / our time (higher is better).
  add("inference vs f32x4 stream (throughput)", m("f32x4 stream") / m("api eval"), 0.9, true);
  if (large) add("inference vs memory.copy (throughput)", m("memory.copy") / m("api eval"), 0.85, true);
  if (large && channelsLastData) add("channels-last inference vs f32x4 shifted stream (throughput)", m("f32x4 shifted stream") / m("api eval"), 0.9, true);
  // Time ratios: our time / minimum passes (lower is better). Issue 12: on every shape of 1 MiB and more.
  if (large) {
    add("train forward / (sum + stream)", m("api train forward") / (m("f32x4 sum") + m("f32x4 stream")), TRAIN_FORWARD_TARGET, false);
    add("train step / train forward", m("api train step") / m("api train forward"), 2.2, false);
  }
  add("backward / (2-in sum + 2-in stream)", m("raw backward") / (m("f32x4 sum (2 in)") + m("f32x4 stream (2 in)")), 1.2, false);
  // Peers: their time / ours (higher is better).
  add("tfjs-wasm eval / ours", m("tfjs-wasm eval") / m("api eval"), 20, true);
  add("tfjs-wasm train forward / ours", m("tfjs-wasm train forward") / m("api train forward"), 20, true);
  add("tfjs-wasm train step / ours", m("tfjs-wasm train step") / m("api train step"), 20, true);
  for (const which of ["web", "node"]) {
    add(`onnxruntime-${which} eval / ours`, m(`onnxruntime-${which} eval`) / m("api eval"), 5, true);
    add(`onnxruntime-${which} train forward / ours`, m(`onnxruntime-${which} train forward`) / m("api train forward"), 5, true);
  }
  if (m("onnxruntime-node 32-node chain")) add("onnxruntime-node in-graph per node / ours", inGraphPerNode(medians) / m("api eval"), 1, true);
  // The fixed cost of a call (issue 12): small tensors, where it is the whole cost.
  if (SMALL_SHAPES.has(shape.label)) {
    add("API eval / f32x4 shifted stream", m("api eval") / m("f32x4 shifted stream"), 1.5, false);
    add("API eval / raw kernel call", m("api eval") / m("raw eval"), 1.15, false);
    add("API train forward / raw kernel call", m("api train forward") / m("raw train forward"), 1.15, false);
  }
  return out;
}

const SMALL_SHAPES = new Set(["1x32x8x8", "1x1024"]);

/**
 * Issue 12's layout target, across two shapes of one run: channels-last eval
 * within 10% of channels-first eval on the same values. Appended to each
 * channels-last result whose dims also ran channels-first.
 */
export function evaluateLayoutPairs(results) {
  for (const last of results.filter((r) => r.layout === "channels-last")) {
    const first = results.find((r) => r.layout === "channels-first" && r.dims.join("x") === last.dims.join("x"));
    if (!first) continue;
    const evalTime = (r) => r.rows.find((row) => row.name === "api eval")?.medianMs;
    const ratio = evalTime(last) / evalTime(first);
    last.targets = last.targets.filter((t) => t.target !== LAYOUT_PAIR_TARGET);
    if (Number.isFinite(ratio)) last.targets.push({ shape: last.shape, target: LAYOUT_PAIR_TARGET, ratio, threshold: 1.1, met: ratio <= 1.1, why: "", pairedWith: first.shape });
  }
  return results;
}

export const LAYOUT_PAIR_TARGET = "channels-last eval / channels-first eval (time)";

/** Not targets: how far each pass is from its own least work, to explain the ratios above. */
export function diagnostics(medians) {
  const m = (name) => medians[name];
  return {
    "train forward / (sum and sum of squares + stream)": m("api train forward") / (m("f32x4 sum and sum of squares") + m("f32x4 stream")),
    "train forward / (f64x2 sum and sum of squares + f64x2 shifted stream)": m("api train forward") / (m("f64x2 sum and sum of squares") + m("f64x2 shifted stream")),
    "f64x2 passes / f32x4 passes (sum of squares + shifted stream)": (m("f64x2 sum and sum of squares") + m("f64x2 shifted stream")) / (m("f32x4 sum and sum of squares") + m("f32x4 shifted stream")),
    "train step / train forward": m("api train step") / m("api train forward"),
    "f32x4 sum and sum of squares / f32x4 sum": m("f32x4 sum and sum of squares") / m("f32x4 sum"),
    "api eval / f32x4 shifted stream": m("api eval") / m("f32x4 shifted stream"),
    "f32x4 shifted stream / f32x4 stream": m("f32x4 shifted stream") / m("f32x4 stream"),
    "api eval / raw eval": m("api eval") / m("raw eval"),
    "api train forward / raw train forward": m("api train forward") / m("raw train forward"),
    "scalar build eval / SIMD eval": m("scalar eval") / m("raw eval"),
  };
}

/** onnxruntime-node's cost of one BatchNormalization node inside a graph: (32-node chain - 1 node) / 31. */
export function inGraphPerNode(medians) {
  return (medians["onnxruntime-node 32-node chain"] - medians["onnxruntime-node eval"]) / 31;
}
