// Peer cells for the family on the same data (channels-first, as ONNX's):
// ONNX Runtime Web (wasm, one thread) and ONNX Runtime Node (native CPU, one
// thread) running single-node graphs of LayerNormalization (opset 17),
// RMSNormalization (opset 23), GroupNormalization (opset 21: per-channel scale
// and bias, as torch's) and InstanceNormalization (opset 17; instance
// statistics: ONNX has no running-statistics form), plus onnxruntime-node's
// 32-node chain for its in-graph cost per node. TensorFlow.js: tfjs-core 4.22
// has no layer-norm, RMS-norm, group-norm or instance-norm op (tfjs-layers'
// layerNormalization is not installed), so its cells are LayerNorm composed
// from tfjs-core ops, marked as a composition: tf.moments over the last axis,
// then elementwise sub, rsqrt, mul and add (tf.batchNorm takes per-channel
// statistics only: its wasm kernel gave wrong rows with per-row means), and
// its gradient for the train step. The other three norms have no tfjs cell.
import { normModel } from "../onnx-model.mjs";
import { referenceBackward, referenceForward } from "../family.mjs";

/** The single-node model spec of a family shape. */
function onnxSpec(shape, params) {
  const { norm, dims, eps } = shape;
  const axis = ["int", dims.length - 1];
  if (norm === "LayerNorm") return { op: "LayerNormalization", opset: 17, initializers: [["scale", params.weight], ["B", params.bias]], attributes: { axis, epsilon: ["float", eps] } };
  if (norm === "RMSNorm") return { op: "RMSNormalization", opset: 23, initializers: [["scale", params.weight]], attributes: { axis, epsilon: ["float", eps] } };
  if (norm === "GroupNorm") return { op: "GroupNormalization", opset: 21, initializers: [["scale", params.weight], ["bias", params.bias]], attributes: { num_groups: ["int", shape.numGroups], epsilon: ["float", eps] } };
  return { op: "InstanceNormalization", opset: 17, initializers: [["scale", params.weight], ["B", params.bias]], attributes: { epsilon: ["float", eps] } };
}

export const onnxOperator = (shape) => { const { op, opset } = onnxSpec(shape, { weight: [], bias: [] }); return `${op} (opset ${opset})`; };

/** ONNX Runtime cells (`which`: "web" or "node"); async, as session.run is. */
export async function familyOrtCells(peers, which, shape, data) {
  const ort = which === "web" ? peers.ortWeb : peers.ortNode;
  const spec = { ...onnxSpec(shape, data.params), shape: shape.dims };
  const options = which === "web"
    ? { executionProviders: ["wasm"], graphOptimizationLevel: "all" }
    : { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" };
  const sessions = { one: await ort.InferenceSession.create(normModel(spec), options) };
  if (which === "node") sessions.chain = await ort.InferenceSession.create(normModel({ ...spec, nodes: 32 }), options);
  const feeds = { X: new ort.Tensor("float32", data.x, shape.dims) };
  let last = null;
  const run = (session) => async () => { last = await session.run(feeds); };
  const name = `onnxruntime-${which}`;
  const cells = [{ name: `${name} ${spec.op}`, kind: "peer", run: run(sessions.one), async: true, expected: () => referenceForward(data.x, shape.geometry, data.params) }];
  if (sessions.chain) cells.push({ name: `${name} 32-node chain`, kind: "chain", run: run(sessions.chain), async: true });
  for (const cell of cells) cell.output = () => last.Y.data;
  const dispose = async () => { for (const s of Object.values(sessions)) await s.release(); };
  return { cells, dispose };
}

/** TensorFlow.js cells (LayerNorm only, composed from tfjs-core ops; see above). */
export function familyTfjsCells({ tf }, shape, data) {
  if (shape.norm !== "LayerNorm") return { cells: [], dispose: () => {} };
  const axis = shape.dims.length - 1, { weight, bias, eps } = data.params;
  const x = tf.tensor(data.x, shape.dims), dy = tf.tensor(data.dy, shape.dims);
  const scale = tf.tensor1d(weight), offset = tf.tensor1d(bias);
  // tf.batchNorm takes per-channel statistics only (its wasm kernel and its gradient), so LayerNorm is the elementwise form.
  const layerNorm = (input, s, o) => {
    const { mean, variance } = tf.moments(input, [axis], true);
    return tf.add(tf.mul(tf.mul(tf.sub(input, mean), tf.rsqrt(tf.add(variance, eps))), s), o);
  };
  const gradients = tf.grads(layerNorm);
  let last = null;
  const keep = (t) => { last?.dispose(); last = t; };
  const cells = [
    { name: "tfjs-wasm LN composed (moments + elementwise)", kind: "peer", run: () => keep(tf.tidy(() => layerNorm(x, scale, offset))), expected: () => referenceForward(data.x, shape.geometry, data.params) },
    {
      name: "tfjs-wasm LN composed (moments + elementwise), train step", kind: "peer-step",
      run: () => {
        const [dxT, dScale, dOffset] = gradients([x, scale, offset], dy);
        dScale.dispose();
        dOffset.dispose();
        keep(dxT);
      },
      expected: () => referenceBackward(data.x, data.dy, shape.geometry, data.params),
    },
  ];
  for (const cell of cells) cell.output = () => last.dataSync();
  return { cells, dispose: () => { keep(null); for (const t of [x, dy, scale, offset]) t.dispose(); } };
}
