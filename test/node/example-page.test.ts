// The browser example page (npm run example): Chromium loads it, the table
// shows the numbers the same experiment gives in Node, and a screenshot is saved.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as source from "../../src/index.ts";
import { saveScreenshot, withChromiumPage } from "../support/chromium.ts";
import { CHANNELS, runExperiment } from "../../examples/page/experiment.mjs";
import { startExampleServer } from "../../examples/serve.mjs";

let server: { url: string; close: () => Promise<void> };

beforeAll(async () => {
  server = await startExampleServer({ port: 0 });
});
afterAll(async () => {
  await server?.close();
});

describe("example page in Chromium", () => {
  it("shows per-channel statistics equal to the Node run, normalized in train and eval", async () => {
    const expected = await runExperiment(source, 200);
    // The layer did its job: train-mode output has mean beta and std gamma * std / sqrt(var + eps)
    // per channel; eval-mode output on a fresh batch is close (running statistics, not batch ones).
    expected.trainOutput.forEach((s, c) => {
      const inputStd = expected.trainInput[c].std;
      expect(Math.abs(s.mean - expected.bias[c])).toBeLessThan(1e-5 * Math.max(1, expected.weight[c]));
      expect(Math.abs(s.std - (expected.weight[c] * inputStd) / Math.sqrt(inputStd ** 2 + 1e-5))).toBeLessThan(1e-5);
      expect(Math.abs(expected.evalOutput[c].mean - expected.bias[c])).toBeLessThan(0.1 * expected.weight[c]);
      expect(Math.abs(expected.evalOutput[c].std / expected.weight[c] - 1)).toBeLessThan(0.1);
    });

    await withChromiumPage({ width: 1000, height: 760 }, async (page) => {
      await page.goto(server.url);
      await page.waitForFunction(() => (window as { __EXAMPLE__?: unknown }).__EXAMPLE__ !== undefined, undefined, { timeout: 30_000 });
      const shown = await page.evaluate(() => (window as { __EXAMPLE__?: unknown }).__EXAMPLE__);
      expect(shown).toEqual({ ...expected, build: "simd" });
      const rows = await page.$$eval("#stats tbody tr", (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent)));
      expect(rows.map((r) => r[0])).toEqual(CHANNELS.map((c) => c.name));
      rows.forEach((row, c) => {
        // Shown values parse back to the computed ones (4 decimals or 4 significant digits).
        const numbers = row.slice(1).map(Number);
        const truth = [expected.trainInput[c].mean, expected.trainInput[c].std, expected.trainOutput[c].mean, expected.trainOutput[c].std,
          expected.runningMean[c], expected.runningVar[c], expected.evalOutput[c].mean, expected.evalOutput[c].std];
        numbers.forEach((value, i) => expect(Math.abs(value - truth[i])).toBeLessThanOrEqual(Math.max(5e-5, Math.abs(truth[i]) * 5e-4)));
      });
      expect(await page.$$eval("#maps canvas", (canvases) => canvases.length)).toBe(2 * CHANNELS.length);
      // The maps' colour bar, with its end labels, and a caption written from the shown numbers.
      expect(await page.$eval("#colour-bar", (c) => (c as HTMLCanvasElement).width)).toBe(256);
      expect(await page.$$eval("#colour-ticks span", (spans) => spans.map((s) => s.textContent))).toEqual(["-6", "-3", "0", "+3", "+6"]);
      expect(await page.textContent("#maps-caption")).toContain(`The depth output, beta ${expected.bias[3]}`);
      expect(await page.textContent("#status")).toBe("Done: 0 tensors left alive.");
      await saveScreenshot(page, "example-page.png");
    });
  });
});
