// The speed targets, as ratios of medians measured in the same run.
// Each entry: what is compared, the ratio, the threshold, and whether it holds.
const MiB = 1 << 20;

export function evaluateTargets(shape, medians) {
  const m = (name) => medians[name];
  const out = [];
  const add = (target, ratio, threshold, higherIsBetter, why = "") => {
    if (!Number.isFinite(ratio)) return;
    out.push({ shape: shape.label, target, ratio, threshold, met: higherIsBetter ? ratio >= threshold : ratio <= threshold, why });
  };
  // Throughput ratios: baseline time / our time (higher is better).
  add("inference vs f32x4 stream (throughput)", m("f32x4 stream") / m("api eval"), 0.9, true);
  if (shape.bytes >= MiB) add("inference vs memory.copy (throughput)", m("memory.copy") / m("api eval"), 0.85, true);
  // Time ratios: our time / minimum passes (lower is better).
  add("train forward / (sum + stream)", m("api train forward") / (m("f32x4 sum") + m("f32x4 stream")), 1.15, false);
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
  if (shape.label === "1x32x8x8") {
    add("API eval / raw kernel call", m("api eval") / m("raw eval"), 1.5, false);
    add("API train forward / raw kernel call", m("api train forward") / m("raw train forward"), 1.5, false);
  }
  return out;
}

/** Not targets: how far each pass is from its own least work, to explain the ratios above. */
export function diagnostics(medians) {
  const m = (name) => medians[name];
  return {
    "train forward / (sum and sum of squares + stream)": m("api train forward") / (m("f32x4 sum and sum of squares") + m("f32x4 stream")),
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
