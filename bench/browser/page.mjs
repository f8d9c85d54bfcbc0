// The page side of `npm run bench:browser`, bundled by esbuild (see run.mjs).
// Loads the peers that run in a page (TensorFlow.js wasm backend, ONNX Runtime
// Web, both one thread, their .wasm files served by the launcher), the
// baselines and the raw builds, then runs the suite; every shape's result and
// the end (or the error) go to the launcher through window.benchReport.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients"; // tfjs-core alone registers no gradients
import * as tfWasm from "@tensorflow/tfjs-backend-wasm";
import * as ortWeb from "onnxruntime-web/wasm";
import { rawInstance } from "../cells/ours.mjs";
import { benchSettings, runSuite } from "./suite.mjs";

const report = (type, payload) => window.benchReport({ type, payload });
const bytesOf = async (path) => {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
};

/** A new module instance of dist/index.js (its own wasm memory): memory never shrinks, so a per-shape peak needs one per shape. */
async function freshLibrary(tag) {
  const url = new URL("/dist/index.js", location.href);
  url.searchParams.set("instance", tag);
  const lib = await import(url.href);
  await lib.init({ build: "simd" });
  return lib;
}

async function loadPeers() {
  tfWasm.setThreadsCount(1);
  tfWasm.setWasmPaths("/tfjs/");
  if (!(await tf.setBackend("wasm"))) throw new Error("TensorFlow.js: the wasm backend did not initialise");
  await tf.ready();
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.wasm.wasmPaths = "/ort/";
  return { tf, ortWeb, versions: { tfjs: tf.version_core, "onnxruntime-web": ortWeb.env.versions.web } };
}

async function main() {
  const query = new URLSearchParams(location.search);
  const smoke = query.get("smoke") === "1";
  const only = query.get("only") ? query.get("only").split(",") : null;
  const settings = benchSettings(smoke);
  const probe = await freshLibrary("probe");
  const peers = query.get("peers") === "0" ? null : await loadPeers();
  const env = {
    freshLibrary, peers, ortVariants: ["web"],
    baselines: await rawInstance(await bytesOf("/bench/out/baselines.wasm")),
    raw: await rawInstance(await bytesOf("/build/batchnorm.simd.wasm")),
    scalar: await rawInstance(await bytesOf("/build/batchnorm.scalar.wasm")),
    onResult: (kind, result) => report(kind, result),
  };
  const page = {
    userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency, crossOriginIsolated: globalThis.crossOriginIsolated === true,
    tfjsBackend: peers ? tf.getBackend() : null, packages: peers?.versions ?? {},
  };
  await report("start", { page, settings });
  const { results, family } = await runSuite(env, { smoke, only, settings });
  await report("done", { page, build: probe.activeBuild(), settings, results, family });
}

main().catch((error) => report("error", { message: String(error?.stack ?? error) }));
