// The adaptation demo's live page (npm run demo:adapt:web): Chromium loads it in
// short mode, the table fills in while it runs, and when done every number in
// the table is the one the terminal run (demo/adapt/run.mjs, same settings)
// prints; nothing shows NaN or Infinity, no plot label is clipped or overlaps
// another, and a screenshot is saved.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as lib from "../../dist/index.js";
import { saveScreenshot, withChromiumPage } from "../support/chromium.ts";
import { adaptationCases, configFrom, runAdaptation } from "../../demo/adapt/experiment.mjs";
import { tableMarkdown } from "../../demo/adapt/report.mjs";
import { startAdaptServer } from "../../demo/adapt/serve.mjs";
import { loadMnist } from "../../shared/mnist-node.mjs";

// Short mode: 200 training steps, three shifts, the first 500 test digits.
const SETTINGS: Record<string, string> = { steps: "200", shifts: "contrast+brightness,gaussian noise,rotation", test: "500" };
let server: { url: string; close: () => Promise<void> };

beforeAll(async () => {
  server = await startAdaptServer({ port: 0 });
});
afterAll(async () => {
  await server?.close();
});

type Box = { label: string; x: number; y: number; width: number; height: number };

describe("live adaptation page in Chromium", () => {
  it("runs the short experiment with the table and plot updating, printing the terminal's numbers", async () => {
    // The terminal's run for the same settings: its table, as printed.
    await lib.init();
    const config = configFrom((name: string) => SETTINGS[name] ?? null);
    const cases = adaptationCases(config);
    expect(cases).toHaveLength(10);
    const reference = runAdaptation(lib, loadMnist(), config);
    const printed = tableMarkdown(reference).split("\n");
    const cells = (line: string) => line.split("|").slice(1, -1).map((s) => s.trim());
    const expectedRows = printed.slice(2, 2 + cases.length).map(cells);
    const expectedMean = cells(printed[2 + cases.length]);
    expect(expectedMean[0]).toBe("mean over shifts");

    await withChromiumPage({ width: 1300, height: 900 }, async (page) => {
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`${server.url}?${new URLSearchParams(SETTINGS)}`);
      // Progress first: rows and plot points appear while the experiment is still running.
      await page.waitForFunction(() => {
        const a = (window as { __adapt?: { done: boolean; rows: unknown[] } }).__adapt;
        return (a?.rows.length ?? 0) >= 2 && !a!.done;
      }, undefined, { timeout: 60_000, polling: 50 });
      const midway = await page.evaluate(() => ({
        rows: document.querySelectorAll("#table tbody tr").length,
        points: Array.from(document.querySelectorAll("#accuracy polyline.curve"), (l) => Number(l.getAttribute("data-points"))),
      }));
      expect(midway.rows).toBeGreaterThanOrEqual(2);
      expect(midway.rows).toBeLessThan(cases.length + 1);
      expect(midway.points).toHaveLength(9); // 3 shift panels x 3 arms, drawn from the start
      expect(Math.max(...midway.points)).toBeGreaterThanOrEqual(2);
      expect(Math.min(...midway.points)).toBeLessThan(4);

      await page.waitForFunction(() => {
        const a = (window as { __adapt?: { done: boolean; error?: string } }).__adapt;
        return a?.done || a?.error;
      }, undefined, { timeout: 60_000, polling: 200 });
      const state = await page.evaluate(() => (window as unknown as { __adapt: { error?: string; rows: { shift: string; running: number; reestimated: number; tent: number; meanShift: number; logVarRatio: number }[] } }).__adapt);
      expect(state.error).toBeUndefined();
      expect(errors).toEqual([]);

      // The table's text is the terminal's, cell for cell (shift, severity, (a), (b), (c), drift).
      const shown = await page.$$eval("#table tbody tr", (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent!.trim())));
      expect(shown.map((r) => r.slice(0, 6))).toEqual(expectedRows);
      const mean = await page.$$eval("#table tfoot td", (tds) => tds.map((td) => td.textContent!.trim()));
      expect(mean.slice(0, 5)).toEqual([expectedMean[0], "", ...expectedMean.slice(2, 5)]);
      // And the underlying numbers: accuracies are counts over the same digits, the same in both engines;
      // the drift (float64 statistics of float32 activations) agrees to far below the printed digits.
      state.rows.forEach((r, i) => {
        const ref = reference.rows[i];
        expect([r.shift, r.running, r.reestimated, r.tent]).toEqual([ref.shift, ref.running, ref.reestimated, ref.tent]);
        expect(Math.abs(r.meanShift - ref.drift.meanShift)).toBeLessThan(1e-9);
        expect(Math.abs(r.logVarRatio - ref.drift.logVarRatio)).toBeLessThan(1e-9);
      });
      // The experiment did its job: re-estimation undoes contrast and brightness.
      const worst = reference.rows.find((r) => r.shift === "contrast+brightness" && r.severity === 3)!;
      expect(worst.reestimated - worst.running).toBeGreaterThan(0.3);

      const text = await page.evaluate(() => document.body.innerText);
      expect(text).not.toMatch(/NaN|Infinity/);
      expect(await page.textContent("#summary")).toMatch(/TENT: 5 steps of batch 100 per case .* ms per adaptation step; re-estimation: \d+ ms per case \(500 images\)/);
      expect(await page.textContent("#status")).toContain("0 tensors alive");

      // Both plots complete: every arm has all four severities (0 = clean) per shift panel; three drift panels.
      const curves = await page.$$eval("#accuracy polyline.curve", (lines) => lines.map((l) => l.getAttribute("points")!.trim().split(" ").length));
      expect(curves).toEqual(Array(9).fill(4));
      expect(await page.$$eval("#drift svg g.panel", (g) => g.length)).toBe(3);

      // Labels: every tick and panel label lies wholly inside its figure and inside its panel, and no
      // two labels of a figure overlap; legend entries (HTML) do not overlap each other either.
      const figures = await page.$$eval("svg", (svgs) => svgs.map((svg) => {
        const box = (e: Element, label: string) => { const r = e.getBoundingClientRect(); return { label, x: r.x, y: r.y, width: r.width, height: r.height }; };
        return {
          svg: box(svg, svg.getAttribute("class") ?? "svg"),
          labels: Array.from(svg.querySelectorAll("text"), (t) => ({ ...box(t, t.textContent!), panel: box(t.closest("g.panel")?.querySelector("rect.frame") ?? svg, "panel"), kind: t.getAttribute("class") })),
          legend: Array.from((svg.nextElementSibling?.classList.contains("legend") ? svg.nextElementSibling.children : []) as HTMLCollection, (e) => box(e, e.textContent!)),
        };
      }));
      expect(figures.map((f) => f.svg.label)).toEqual(["accuracy-plot", "drift-plot"]);
      const inside = (a: Box, b: Box) => a.x >= b.x - 0.5 && a.y >= b.y - 0.5 && a.x + a.width <= b.x + b.width + 0.5 && a.y + a.height <= b.y + b.height + 0.5;
      const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
      const pairs = (boxes: Box[]) => boxes.flatMap((a, i) => boxes.slice(i + 1).filter((b) => overlap(a, b)).map((b) => `${a.label} / ${b.label}`));
      for (const f of figures) {
        expect(f.labels.filter((t) => t.kind === "x-tick").length + f.labels.filter((t) => t.kind === "panel-label").length).toBeGreaterThan(0);
        expect(f.labels.filter((t) => !inside(t, f.svg)).map((t) => t.label)).toEqual([]);
        expect(f.labels.filter((t) => !inside(t, t.panel)).map((t) => t.label)).toEqual([]);
        expect(pairs(f.labels)).toEqual([]);
        expect(f.legend.length).toBeGreaterThanOrEqual(2);
        expect(pairs(f.legend)).toEqual([]);
      }
      expect(figures[0].labels.filter((t) => t.kind === "x-tick").map((t) => t.label)).toEqual(Array(3).fill(["0", "1", "2", "3"]).flat());
      await saveScreenshot(page, "adapt-page.png");
    });
  });
});
