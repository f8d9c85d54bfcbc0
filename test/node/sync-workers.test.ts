// Synchronized BN across real workers: K Node worker_threads and K Web Workers
// in Chromium, each with batch B, exchanging plain payloads over postMessage
// (the hub on the main thread is the all-reduce), against the single-process
// run on the K*B batch: y, dx, gradients and running statistics within float32
// rounding, and bit-identical run after run.
import { createServer } from "node:http";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/index.js";
import { withChromiumPage } from "../support/chromium.ts";
import { agreement, runSingle, SETUP } from "./sync/core.mjs";
import { startHub } from "./sync/hub.mjs";

type Result = Awaited<ReturnType<typeof runSingle>>;

function runNodeWorkers(): Promise<Result[]> {
  const script = fileURLToPath(new URL("./sync/node-worker.mjs", import.meta.url));
  return new Promise((resolve, reject) => {
    const results: Result[] = [];
    let done = 0;
    const workers = Array.from({ length: SETUP.K }, (_, rank) => new Worker(script, { workerData: { rank, setup: SETUP } }));
    const hub = startHub(SETUP.K, (rank: number, all: unknown) => workers[rank].postMessage(all), (rank: number, result: Result) => {
      results[rank] = result;
      if (++done === SETUP.K) {
        Promise.all(workers.map((w) => w.terminate())).then(() => resolve(results), reject);
      }
    });
    workers.forEach((w, rank) => {
      w.on("message", (m) => hub(rank, m));
      w.on("error", reject);
    });
  });
}

let single: Result;
beforeAll(async () => {
  await lib.init({ build: "simd" });
  single = await runSingle(lib, SETUP);
});

function check(runs: Result[][], where: string) {
  expect(runs[1]).toEqual(runs[0]); // bit-identical across runs
  const figures = agreement(runs[0], single);
  console.log(`sync BN, ${where}, K=${SETUP.K} x B=${SETUP.B} (C=${SETUP.C}, S=${SETUP.S}, ${SETUP.steps} steps) vs one process with K*B: ${JSON.stringify(figures)}`);
  for (const v of Object.values(figures.halfUlps)) expect(v).toBeLessThanOrEqual(2); // within float32 rounding (1 ulp)
  for (const w of runs[0]) {
    expect(w.numBatchesTracked).toBe(SETUP.steps);
    expect(w.runningMean).toEqual(runs[0][0].runningMean);
  }
}

describe("synchronized BN over real workers", () => {
  it("Node worker_threads", async () => {
    check([await runNodeWorkers(), await runNodeWorkers()], "Node worker_threads");
  });

  it("Web Workers in Chromium", async () => {
    const bundle = await build({
      entryPoints: [fileURLToPath(new URL("./sync/web-worker.mjs", import.meta.url))], bundle: true, format: "iife", write: false, platform: "browser", logLevel: "silent",
    });
    const code = bundle.outputFiles[0].text;
    const server = createServer((_, res) => { res.setHeader("content-type", "text/html"); res.end("<!doctype html><title>sync</title>"); });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const address = server.address() as { port: number };
    try {
      const runs = await withChromiumPage({ width: 400, height: 300 }, async (page) => {
        await page.goto(`http://127.0.0.1:${address.port}/`);
        const hubSource = `(${startHub.toString()})`;
        // A string, so vitest's transform leaves the page's own Worker alone.
        const pageRun = `async ({ code, setup, hubSource }) => new Promise((resolve, reject) => {
          const startHubIn = (0, eval)(hubSource);
          const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
          const results = [];
          let done = 0;
          const workers = Array.from({ length: setup.K }, () => new Worker(url));
          const hub = startHubIn(setup.K, (rank, all) => workers[rank].postMessage(all), (rank, result) => {
            results[rank] = result;
            if (++done === setup.K) { workers.forEach((w) => w.terminate()); resolve(results); }
          });
          workers.forEach((w, rank) => {
            w.onmessage = (e) => hub(rank, e.data);
            w.onerror = (e) => reject(new Error(e.message));
            w.postMessage({ rank, setup });
          });
        })`;
        const once = async () => (await page.evaluate(`(${pageRun})(${JSON.stringify({ code, setup: SETUP, hubSource })})`)) as Result[];
        return [await once(), await once()];
      });
      check(runs, "Chromium Web Workers");
      expect(runs[0]).toEqual(await runNodeWorkers()); // the same bits as Node
    } finally {
      server.close();
    }
  });
});
