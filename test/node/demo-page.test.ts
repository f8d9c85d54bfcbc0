// The live demo page (npm run demo:web): Chromium loads it, training makes
// progress, the plots hold data, and a screenshot is saved. A short run
// (?steps=300) keeps the test quick; the numbers must match the Node run.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as source from "../../src/index.ts";
import { saveScreenshot, withChromiumPage } from "../support/chromium.ts";
import { DEFAULT_ARMS } from "../../demo/arms.mjs";
import { Arm } from "../../demo/experiment.mjs";
import { loadMnist } from "../../shared/mnist-node.mjs";
import { startDemoServer } from "../../demo/serve.mjs";

// The Node run checkpoints twice as often as the page: the numbers at shared steps must not depend on it.
const STEPS = 300, EVERY = 50, NODE_EVERY = 25;
let server: { url: string; close: () => Promise<void> };

beforeAll(async () => {
  server = await startDemoServer({ port: 0 });
});
afterAll(async () => {
  await server?.close();
});

describe("live demo page in Chromium", () => {
  it("trains both arms with plots updating, matching the Node run", async () => {
    await source.init();
    const data = loadMnist();
    const expected = DEFAULT_ARMS.slice(0, 2).map((config) => {
      const arm = new Arm(source, data, config);
      while (arm.step < STEPS) {
        arm.trainSteps(NODE_EVERY);
        arm.checkpoint();
      }
      arm.dispose();
      return arm.history.filter((h) => h.step % EVERY === 0);
    });

    await withChromiumPage({ width: 1300, height: 900 }, async (page) => {
      await page.goto(`${server.url}?steps=${STEPS}&every=${EVERY}`);
      // Progress first: the plot must be drawn while training is still running.
      await page.waitForFunction(() => {
        const demo = (window as { __demo?: { arms: { history: unknown[] }[] } }).__demo;
        return (demo?.arms[1]?.history.length ?? 0) >= 2;
      }, undefined, { timeout: 60_000, polling: 100 });
      const midway = await page.$$eval("#accuracy polyline.curve", (lines) => lines.map((l) => Number(l.getAttribute("data-points"))));
      expect(midway.length).toBe(2);
      expect(Math.min(...midway)).toBeGreaterThanOrEqual(1);

      await page.waitForFunction(() => (window as { __demo?: { done: boolean; error?: string } }).__demo?.done || (window as { __demo?: { error?: string } }).__demo?.error, undefined, { timeout: 120_000, polling: 200 });
      const demo = await page.evaluate(() => {
        const d = (window as unknown as { __demo: { error?: string; arms: { name: string; history: { step: number; accuracy: number; loss: number }[] }[] } }).__demo;
        return { error: d.error, arms: d.arms.map((a) => ({ name: a.name, history: a.history.map((h) => ({ step: h.step, accuracy: h.accuracy, loss: h.loss })) })) };
      });
      expect(demo.error).toBeUndefined();
      expect(demo.arms.map((a) => a.name)).toEqual(["plain", "BN"]);
      demo.arms.forEach((arm, i) => {
        expect(arm.history.map((h) => h.step)).toEqual(expected[i].map((h) => h.step));
        // Same data, same initial weights: accuracies agree up to Math.exp's last bits across engines.
        arm.history.forEach((h, k) => expect(Math.abs(h.accuracy - expected[i][k].accuracy)).toBeLessThanOrEqual(0.005));
        // Train loss has one definition (mean over the last LOSS_WINDOW steps), whatever the checkpoint spacing.
        arm.history.forEach((h, k) => expect(Math.abs(h.loss - expected[i][k].loss)).toBeLessThanOrEqual(1e-3));
      });
      const bnFinal = demo.arms[1].history.at(-1)!.accuracy;
      expect(bnFinal).toBeGreaterThan(0.85);
      expect(bnFinal).toBeGreaterThan(demo.arms[0].history.at(-1)!.accuracy);

      const curves = await page.$$eval("#accuracy polyline.curve", (lines) => lines.map((l) => l.getAttribute("points")!.trim().split(" ").length));
      expect(curves).toEqual([STEPS / EVERY, STEPS / EVERY]);
      expect(await page.$$eval(".band", (bands) => bands.length)).toBe(2);
      // Every x tick label, the last one ("300") included, lies wholly inside its figure.
      const ticks = await page.$$eval("svg text.x-tick", (texts) => texts.map((t) => {
        const box = (t as SVGGraphicsElement).getBBox(), svg = t.ownerSVGElement!;
        return { label: t.textContent, inside: box.x >= 0 && box.x + box.width <= svg.width.baseVal.value };
      }));
      expect(ticks.filter((t) => t.label === String(STEPS))).toHaveLength(3);
      expect(ticks.filter((t) => !t.inside)).toEqual([]);
      expect(await page.textContent("#arms tbody")).not.toContain("Infinity");
      expect(await page.textContent("#status")).toContain("0 tensors alive");
      await saveScreenshot(page, "demo-page.png");
    });
  });
});
