// This library's family cells, through the public API with tensors resident in
// wasm memory and caller-given outputs: the eval forward (for LayerNorm,
// RMSNorm and GroupNorm the same computation as the training forward: the
// statistics are the input's; for InstanceNorm2d the running statistics), for
// InstanceNorm also the forward with instance statistics (torch's default
// trackRunningStats: false, what ONNX's InstanceNormalization computes), and
// the train step (training-mode forward + backward into dx, parameter
// gradients accumulating as autograd's).
import { referenceBackward, referenceForward, referenceRunning } from "../family.mjs";

/** `lib`: the built package (dist/index.js), already initialised, one instance per shape. */
export function familyCells(lib, shape, data) {
  const { Tensor } = lib;
  const { dims, norm, geometry } = shape;
  const p = data.params;
  const make = (options) => {
    let layer;
    if (norm === "LayerNorm") layer = new lib.LayerNorm([dims.at(-1)]);
    else if (norm === "RMSNorm") layer = new lib.RMSNorm([dims.at(-1)]);
    else if (norm === "GroupNorm") layer = new lib.GroupNorm(shape.numGroups, geometry.C);
    else layer = new lib.InstanceNorm2d(geometry.C, { affine: true, ...options });
    layer.weight.set(p.weight);
    if (layer.bias) layer.bias.set(p.bias);
    if (options?.trackRunningStats) {
      layer.runningMean.set(p.runningMean);
      layer.runningVar.set(p.runningVar);
    }
    return layer;
  };
  const instance = norm === "InstanceNorm2d";
  const x = Tensor.from(data.x, dims), dy = Tensor.from(data.dy, dims), y = Tensor.zeros(dims), dx = Tensor.zeros(dims);
  const inference = make(instance ? { trackRunningStats: true } : undefined).eval();
  const training = make(instance ? { trackRunningStats: true } : undefined).train();
  const layers = [inference, training];
  const expectForward = () => referenceForward(data.x, geometry, p);
  const cells = [
    {
      name: "api eval", kind: "eval", run: () => inference.forward(x, y), output: () => y.toFloat32Array(),
      expected: instance ? () => referenceRunning(data.x, geometry, p) : expectForward,
    },
    {
      name: "api train step", kind: "step", run: () => { training.forward(x, y); training.backward(dy, dx); },
      output: () => dx.toFloat32Array(), expected: () => referenceBackward(data.x, data.dy, geometry, p),
    },
  ];
  if (instance) {
    const perInstance = make().eval(); // trackRunningStats false: instance statistics in eval too, as torch
    layers.push(perInstance);
    cells.splice(1, 0, { name: "api forward (instance statistics)", kind: "instance", run: () => perInstance.forward(x, y), output: () => y.toFloat32Array(), expected: expectForward });
  }
  const dispose = () => {
    for (const t of [x, dy, y, dx]) t.dispose();
    for (const layer of layers) layer.dispose();
  };
  return { cells, dispose };
}

/** The cell a peer's normalization is compared with: the same computation of ours. */
export const oursFor = (shape) => (shape.norm === "InstanceNorm2d" ? "api forward (instance statistics)" : "api eval");
