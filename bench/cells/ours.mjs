// This library's cells: the public API with tensors resident in wasm memory,
// the same with copies from and to JS arrays, and the raw kernel exports of
// the SIMD and scalar builds (separate instances, called directly).
import { maxError, referenceBackward, referenceEval, referenceTrain } from "../reference.mjs";

/** Public-API cells. `lib` is the built package (dist/index.js), already initialised. */
export function apiCells(lib, shape, data) {
  const { Tensor, BatchNorm } = lib;
  const { N, C, S, channelsLast } = shape.geometry;
  const layout = channelsLast ? "channels-last" : "channels-first";
  const tensor = (values) => Tensor.from(values, shape.tensorShape, layout);
  const x = tensor(data.x), dy = tensor(data.dy), y = Tensor.zeros(shape.tensorShape, layout), dx = Tensor.zeros(shape.tensorShape, layout);
  const layer = (mode) => {
    const bn = new BatchNorm(C, { layout });
    bn.weight.set(data.params.weight);
    bn.bias.set(data.params.bias);
    bn.runningMean.set(data.params.runningMean);
    bn.runningVar.set(data.params.runningVar);
    return mode === "eval" ? bn.eval() : bn.train();
  };
  const inference = layer("eval"), training = layer("train");
  const jsOut = new Float32Array(data.x.length);
  const expectEval = () => referenceEval(data.x, shape.geometry, data.params);
  const expectTrain = () => referenceTrain(data.x, shape.geometry, data.params);
  const expectDx = () => referenceBackward(data.x, data.dy, shape.geometry, data.params);
  const cells = [
    { name: "api eval", kind: "eval", run: () => inference.forward(x, y), output: () => y.toFloat32Array(), expected: expectEval },
    { name: "api train forward", kind: "train", run: () => training.forward(x, y), output: () => y.toFloat32Array(), expected: expectTrain },
    { name: "api train step", kind: "step", run: () => { training.forward(x, y); training.backward(dy, dx); }, output: () => dx.toFloat32Array(), expected: expectDx },
    { name: "api eval + copies", kind: "eval", run: () => { x.set(data.x); inference.forward(x, y); jsOut.set(y.view()); }, output: () => jsOut, expected: expectEval },
    {
      name: "api train step + copies", kind: "step",
      run: () => { x.set(data.x); dy.set(data.dy); training.forward(x, y); training.backward(dy, dx); jsOut.set(dx.view()); },
      output: () => jsOut, expected: expectDx,
    },
  ];
  const dispose = () => {
    for (const t of [x, dy, y, dx]) t.dispose();
    inference.dispose();
    training.dispose();
  };
  return { cells, dispose, memoryBytes: () => lib.wasmMemoryBytes() };
}

/** Instantiates a build's .wasm bytes for direct export calls. */
export async function rawInstance(bytes) {
  const { instance } = await WebAssembly.instantiate(bytes, { env: { abort: () => { throw new Error("abort"); } } });
  return instance.exports;
}

/** Raw kernel cells of one instance (`label`: "raw" for SIMD, "scalar" for the scalar build). */
export function rawCells(k, label, shape, data) {
  const { N, C, S, channelsLast } = shape.geometry;
  const bytes = data.x.length * 4;
  // Tensors placed as the façade places them (src/memory.ts): on cache lines, 5 lines apart modulo 4 KiB.
  const blocks = [];
  const placed = (slot) => {
    const block = k.alloc(bytes + 4096);
    blocks.push(block);
    return block + ((slot * 320 - (block % 4096) + 4096) % 4096);
  };
  const p = {
    x: placed(0), dy: placed(1), y: placed(2), dx: placed(3),
    weight: k.alloc(C * 4), bias: k.alloc(C * 4), rm: k.alloc(C * 4), rv: k.alloc(C * 4), gw: k.alloc(C * 4), gb: k.alloc(C * 4),
    evalWs: k.alloc(k.workspaceBytes(C)), trainWs: k.alloc(k.workspaceBytes(C)),
  };
  const f32 = (ptr, n) => new Float32Array(k.memory.buffer, ptr, n);
  f32(p.x, data.x.length).set(data.x);
  f32(p.dy, data.x.length).set(data.dy);
  f32(p.weight, C).set(data.params.weight);
  f32(p.bias, C).set(data.params.bias);
  f32(p.rm, C).set(data.params.runningMean);
  f32(p.rv, C).set(data.params.runningVar);
  f32(p.gw, C).fill(0);
  f32(p.gb, C).fill(0);
  k.workspaceInit(C, p.evalWs);
  k.workspaceInit(C, p.trainWs);
  k.evalPrepare(C, p.rm, p.rv, p.weight, p.bias, data.params.eps, p.evalWs);
  const eps = data.params.eps;
  const train = () => k.trainForward(p.x, p.y, N, C, S, channelsLast, p.weight, p.bias, eps, p.trainWs);
  train(); // backward reads the statistics of a forward
  const read = (ptr) => () => f32(ptr, data.x.length).slice();
  const cells = [
    { name: `${label} eval`, kind: "eval", run: () => k.evalForward(p.x, p.y, N, C, S, channelsLast, p.evalWs), output: read(p.y), expected: () => referenceEval(data.x, shape.geometry, data.params) },
    { name: `${label} train forward`, kind: "train", run: train, output: read(p.y), expected: () => referenceTrain(data.x, shape.geometry, data.params) },
    {
      name: `${label} backward`, kind: "backward",
      run: () => k.trainBackward(p.x, p.dy, p.dx, N, C, S, channelsLast, p.weight, p.gw, p.gb, p.trainWs),
      output: read(p.dx), expected: () => referenceBackward(data.x, data.dy, shape.geometry, data.params),
    },
  ];
  const { x, dy, y, dx, ...rest } = p;
  return { cells, dispose: () => { for (const ptr of [...blocks, ...Object.values(rest)]) k.free(ptr); } };
}

export { maxError };
