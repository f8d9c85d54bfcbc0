// Saves headless-Chromium screenshots of every picture the project draws, to
// look at before calling a figure done: the demo's HTML report (written by
// `npm run demo`), the live demo page after a short run, the example page, the
// adaptation demo's report (written by `npm run demo:adapt`) and its live page
// after a whole run. Writes demo/out/{report,live-demo,example,adapt-report,adapt-live}.png.
// Flags: --steps N for the live page (default 300); --adapt "steps=200&test=500" for a shorter adaptation page.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { startExampleServer } from "../examples/serve.mjs";
import { startAdaptServer } from "./adapt/serve.mjs";
import { startDemoServer } from "./serve.mjs";

const root = resolve(import.meta.dirname, "..");
const outDir = join(root, "demo/out");
const flag = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const steps = Number(flag("--steps", 300));
const adaptQuery = flag("--adapt", "");
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

mkdirSync(outDir, { recursive: true });
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: FLAGS });
const shoot = async (url, name, ready, viewport = { width: 1300, height: 900 }) => {
  const page = await browser.newPage({ viewport });
  await page.goto(url);
  await page.waitForFunction(ready, undefined, { timeout: 180_000, polling: 200 });
  const path = join(outDir, name);
  await page.screenshot({ path, fullPage: true });
  await page.close();
  console.log(`saved ${path}`);
};
try {
  const report = join(outDir, "report.html");
  if (existsSync(report)) await shoot(pathToFileURL(report).href, "report.png", () => document.readyState === "complete");
  else console.log("no demo/out/report.html: run `npm run demo` first");

  const demo = await startDemoServer({ port: 0 });
  try {
    await shoot(`${demo.url}?steps=${steps}&every=50`, "live-demo.png", () => window.__demo?.done || window.__demo?.error);
  } finally {
    await demo.close();
  }
  const example = await startExampleServer({ port: 0 });
  try {
    await shoot(example.url, "example.png", () => window.__EXAMPLE__ !== undefined, { width: 1000, height: 760 });
  } finally {
    await example.close();
  }
  const adaptReport = join(outDir, "adapt-report.html");
  if (existsSync(adaptReport)) await shoot(pathToFileURL(adaptReport).href, "adapt-report.png", () => document.readyState === "complete");
  else console.log("no demo/out/adapt-report.html: run `npm run demo:adapt` first");
  const adapt = await startAdaptServer({ port: 0 });
  try {
    await shoot(`${adapt.url}?${adaptQuery}`, "adapt-live.png", () => window.__adapt?.done || window.__adapt?.error);
  } finally {
    await adapt.close();
  }
} finally {
  await browser.close();
}
