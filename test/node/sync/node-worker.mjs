// A worker_threads worker: the library from dist/, the exchange over parentPort.
import { parentPort, workerData } from "node:worker_threads";
import * as lib from "../../../dist/index.js";
import { runWorker } from "./core.mjs";

const replies = [];
let waiting = null;
parentPort.on("message", (message) => {
  if (waiting) { const w = waiting; waiting = null; w(message); } else replies.push(message);
});
const exchange = (payload) => new Promise((resolve) => {
  parentPort.postMessage({ type: "payload", payload });
  if (replies.length) resolve(replies.shift()); else waiting = resolve;
});
const result = await runWorker(lib, workerData.rank, workerData.setup, exchange);
parentPort.postMessage({ type: "result", result });
