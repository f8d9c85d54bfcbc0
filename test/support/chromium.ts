// Node-only helpers for the page tests: Debian's Chromium through playwright-core.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";

const screenshotDir = resolve(import.meta.dirname, "../../.tmp/screenshots");

/** Runs `use` with a fresh headless Chromium page, closing the browser afterwards. */
export async function withChromiumPage<T>(viewport: { width: number; height: number }, use: (page: Page) => Promise<T>): Promise<T> {
  const { chromium } = await import("playwright-core");
  const browser: Browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    return await use(await browser.newPage({ viewport }));
  } finally {
    await browser.close();
  }
}

/** Saves a full-page screenshot under .tmp/screenshots; returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}
