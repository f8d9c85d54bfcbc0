// A Web Worker: the library bundled in, the exchange over postMessage.
import * as lib from "../../../src/index.ts";
import { runWorker } from "./core.mjs";

const replies = [];
let waiting = null;
let started = false;
self.onmessage = async (event) => {
  if (!started) {
    started = true;
    const { rank, setup } = event.data;
    const exchange = (payload) => new Promise((resolve) => {
      self.postMessage({ type: "payload", payload });
      if (replies.length) resolve(replies.shift()); else waiting = resolve;
    });
    const result = await runWorker(lib, rank, setup, exchange);
    self.postMessage({ type: "result", result });
    return;
  }
  if (waiting) { const w = waiting; waiting = null; w(event.data); } else replies.push(event.data);
};
