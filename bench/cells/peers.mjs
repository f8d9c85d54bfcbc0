// Peer cells on the same data: TensorFlow.js (wasm backend, one thread) on
// NHWC tensors, ONNX Runtime Web (wasm, one thread) and ONNX Runtime Node
// (native CPU, one thread) on NCHW tensors with one-node opset-15 models.
import { build } from "esbuild";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import { batchNormModel } from "../onnx-model.mjs";
import { referenceBackward, referenceEval, referenceTrain } from "../reference.mjs";

/**
 * tfjs-core registers no gradients by itself (the full tfjs package imports
 * register_all_gradients, whose ESM files use extensionless imports Node
 * cannot load). Bundling that one module registers them in tfjs's global registry.
 */
async function registerTfjsGradients() {
  const outfile = join(import.meta.dirname, "../out/tfjs-gradients.mjs");
  await build({
    stdin: { contents: `import "@tensorflow/tfjs-core/dist/register_all_gradients";`, resolveDir: import.meta.dirname },
    bundle: true, format: "esm", platform: "node", outfile, logLevel: "warning",
  });
  await import(pathToFileURL(outfile).href);
}

export async function loadPeers() {
  const require = createRequire(import.meta.url);
  const tf = await import("@tensorflow/tfjs-core");
  await registerTfjsGradients();
  const tfWasm = await import("@tensorflow/tfjs-backend-wasm");
  tfWasm.setThreadsCount(1);
  tfWasm.setWasmPaths(`${join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist")}/`);
  await tf.setBackend("wasm");
  await tf.ready();
  const ortWeb = await import("onnxruntime-web");
  ortWeb.env.wasm.numThreads = 1;
  const ortNode = await import("onnxruntime-node");
  return { tf, ortWeb, ortNode, versions: { tfjs: tf.version_core, "onnxruntime-web": ortWeb.env.versions.web, "onnxruntime-node": require("onnxruntime-node/package.json").version } };
}

/** TensorFlow.js cells: tf.batchNorm; training as tf.moments + tf.batchNorm; its gradient. */
export function tfjsCells({ tf }, shape, data) {
  const { N, C, S } = shape.geometry;
  const nhwc = { N, C, S, channelsLast: true };
  const dims = shape.dims.length === 2 ? shape.dims : [N, ...shape.spatial, C];
  const axes = dims.slice(0, -1).map((_, i) => i);
  const { weight, bias, runningMean, runningVar, eps } = data.params;
  const x = tf.tensor(data.xLast, dims), dy = tf.tensor(data.dyLast, dims);
  const [scale, offset, mean, variance] = [weight, bias, runningMean, runningVar].map((v) => tf.tensor1d(v));
  const train = (input, s, o) => {
    const moments = tf.moments(input, axes);
    return tf.batchNorm(input, moments.mean, moments.variance, o, s, eps);
  };
  const gradients = tf.grads(train);
  let last = null;
  const keep = (t) => { last?.dispose(); last = t; };
  const cells = [
    { name: "tfjs-wasm eval", kind: "eval", run: () => keep(tf.batchNorm(x, mean, variance, offset, scale, eps)), expected: () => referenceEval(data.xLast, nhwc, data.params) },
    { name: "tfjs-wasm train forward", kind: "train", run: () => keep(tf.tidy(() => train(x, scale, offset))), expected: () => referenceTrain(data.xLast, nhwc, data.params) },
    {
      name: "tfjs-wasm train step", kind: "step",
      run: () => {
        const [dx, dScale, dOffset] = gradients([x, scale, offset], dy);
        dScale.dispose();
        dOffset.dispose();
        keep(dx);
      },
      expected: () => referenceBackward(data.xLast, data.dyLast, nhwc, data.params),
    },
  ];
  for (const cell of cells) cell.output = () => last.dataSync();
  return { cells, dispose: () => { keep(null); for (const t of [x, dy, scale, offset, mean, variance]) t.dispose(); }, layoutNote: "NHWC" };
}

/** ONNX Runtime cells (`which`: "web" or "node"); async, as session.run is. */
export async function ortCells(peers, which, shape, data) {
  const ort = which === "web" ? peers.ortWeb : peers.ortNode;
  const { N, C, S } = shape.geometry;
  const nchw = { N, C, S, channelsLast: false };
  const dims = [N, C, ...shape.spatial];
  const { weight, bias, runningMean, runningVar, eps } = data.params;
  const options = which === "web"
    ? { executionProviders: ["wasm"], graphOptimizationLevel: "all" }
    : { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" };
  const model = (extra) => batchNormModel({ shape: dims, scale: weight, bias, mean: runningMean, variance: runningVar, epsilon: eps, ...extra });
  const sessions = {
    eval: await ort.InferenceSession.create(model({}), options),
    train: await ort.InferenceSession.create(model({ trainingMode: true }), options),
  };
  if (which === "node") sessions.chain = await ort.InferenceSession.create(model({ nodes: 32 }), options);
  const feeds = { X: new ort.Tensor("float32", data.xFirst, dims) };
  let last = null;
  const run = (session) => async () => { last = await session.run(feeds); };
  const name = `onnxruntime-${which}`;
  const cells = [
    { name: `${name} eval`, kind: "eval", run: run(sessions.eval), async: true, expected: () => referenceEval(data.xFirst, nchw, data.params) },
    { name: `${name} train forward`, kind: "train", run: run(sessions.train), async: true, expected: () => referenceTrain(data.xFirst, nchw, data.params) },
  ];
  if (sessions.chain) cells.push({ name: `${name} 32-node chain`, kind: "chain", run: run(sessions.chain), async: true });
  for (const cell of cells) cell.output = () => last.Y.data;
  const dispose = async () => { for (const s of Object.values(sessions)) await s.release(); };
  return { cells, dispose, layoutNote: "NCHW" };
}
