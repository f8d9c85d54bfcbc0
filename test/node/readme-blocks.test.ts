// Every code block of README.md is a test, so the docs cannot drift. Rules
// (README states them under Quick start):
// - ```js / ```ts blocks run against the built package (dist/): in Node, or in
//   Chromium when the line before the fence is `<!-- runs in: chromium -->`;
// - `<!-- not run: reason -->` before the fence skips a block (the reason is required);
// - a ```text block after a runnable block, with only prose between, is its
//   exact output (stdout in Node, console.log in the page); `…` matches any
//   text within a line;
// - other languages (```sh, ```text) are not run.
// Node blocks are written under .tmp/ inside this package, so `import "batchnorm-wasm"`
// resolves to dist/ through the package's own exports map (self-reference).
import { transformSync } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { withChromiumPage } from "../support/chromium.ts";
import { servePage } from "../../scripts/serve-page.mjs";

const root = resolve(import.meta.dirname, "../..");
const workDir = join(root, ".tmp/readme-blocks");
const RUNNABLE = new Set(["js", "javascript", "mjs", "ts", "typescript"]);

interface Block {
  index: number;
  heading: string;
  language: string;
  code: string;
  line: number;
  runsIn: "node" | "chromium";
  skipReason?: string;
  expectedOutput?: string;
}

function readmeBlocks(text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let heading = "(top)";
  let lastRunnable: Block | undefined;
  let lastNonBlank = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^```(\w*)\s*$/.exec(line);
    if (!fence) {
      if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "");
      if (line.trim() !== "") lastNonBlank = line.trim();
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    const language = fence[1].toLowerCase();
    const marker = /^<!--\s*(runs in|not run):\s*(.*?)\s*-->$/.exec(lastNonBlank);
    lastNonBlank = "";
    if (RUNNABLE.has(language)) {
      if (marker?.[1] === "runs in" && marker[2] !== "chromium") throw new Error(`README.md:${start + 1}: unknown runtime "${marker[2]}"`);
      if (marker?.[1] === "not run" && marker[2] === "") throw new Error(`README.md:${start + 1}: "not run" needs a reason`);
      lastRunnable = {
        index: blocks.length + 1, heading, language, code: body.join("\n"), line: start + 1,
        runsIn: marker?.[1] === "runs in" ? "chromium" : "node", skipReason: marker?.[1] === "not run" ? marker[2] : undefined,
      };
      blocks.push(lastRunnable);
    } else {
      if (language === "text" && lastRunnable && lastRunnable.expectedOutput === undefined) lastRunnable.expectedOutput = body.join("\n");
      lastRunnable = undefined; // a text block belongs only to the runnable block right before it
    }
  }
  return blocks;
}

/** Plain JavaScript for the block: TypeScript types stripped by esbuild. */
function javascriptOf(block: Block): string {
  return block.language.startsWith("t") ? transformSync(block.code, { loader: "ts", format: "esm" }).code : block.code;
}

function expectOutput(actual: string, expected: string | undefined): void {
  if (expected === undefined) return;
  const got = actual.replace(/\n$/, "").split("\n");
  const want = expected.split("\n");
  expect(got.length, `output:\n${actual}`).toBe(want.length);
  want.forEach((pattern, i) => {
    const regex = new RegExp(`^${pattern.split("…").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
    expect(got[i], `line ${i + 1}`).toMatch(regex);
  });
}

const blocks = readmeBlocks(readFileSync(join(root, "README.md"), "utf8"));

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe("README code blocks", () => {
  it("has the blocks the docs promise: a Quick start program, a browser page, the memory help", () => {
    const runnable = blocks.filter((b) => !b.skipReason);
    expect(runnable.map((b) => `${b.heading} (${b.runsIn})`)).toEqual(expect.arrayContaining([
      "Quick start (node)", "Quick start (chromium)", "Memory: tidy and leak reports (node)",
    ]));
    // A program that prints something checkable: every runnable block has its output next to it.
    for (const block of runnable) expect(block.expectedOutput, `block at README.md:${block.line}`).toBeDefined();
  });

  for (const block of blocks) {
    const name = `block ${block.index} (${block.heading}, README.md:${block.line}) runs in ${block.runsIn}${block.expectedOutput === undefined ? "" : " and prints its output"}`;
    if (block.skipReason) {
      it.skip(`${name}: not run, ${block.skipReason}`, () => {});
      continue;
    }
    it(name, async () => {
      mkdirSync(workDir, { recursive: true });
      const file = join(workDir, `block-${block.index}.mjs`);
      writeFileSync(file, javascriptOf(block));
      if (block.runsIn === "node") {
        const stdout = execFileSync(process.execPath, [file], { cwd: workDir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
        expectOutput(stdout, block.expectedOutput);
        return;
      }
      // The page imports the block, which settles when the block's top-level code has finished. A
      // dynamic import: a static one would be dropped, as package.json says "sideEffects": false.
      const entry = join(workDir, `page-${block.index}.mjs`);
      writeFileSync(entry, `await import(${JSON.stringify(`./block-${block.index}.mjs`)});\nwindow.__BLOCK_DONE__ = true;\n`);
      const html = join(workDir, `page-${block.index}.html`);
      writeFileSync(html, `<!doctype html><meta charset="utf-8"><body><script type="module" src="/main.js"></script>`);
      const server = await servePage({ html, script: entry });
      try {
        const logged = await withChromiumPage({ width: 800, height: 600 }, async (page) => {
          const errors: string[] = [];
          page.on("pageerror", (error) => errors.push(error.message));
          // console.log calls recorded in the page, in order (console events reach Node asynchronously).
          await page.addInitScript(() => {
            const logs: string[] = ((window as { __LOGS__?: string[] }).__LOGS__ = []);
            const log = console.log.bind(console);
            console.log = (...args: unknown[]) => {
              logs.push(args.map(String).join(" "));
              log(...args);
            };
          });
          await page.goto(server.url);
          await page.waitForFunction(() => (window as { __BLOCK_DONE__?: boolean }).__BLOCK_DONE__ === true, undefined, { timeout: 30_000 })
            .catch((error: Error) => {
              throw new Error(`the block did not finish: ${errors.join("; ") || error.message}`);
            });
          expect(errors).toEqual([]);
          return (await page.evaluate(() => (window as { __LOGS__?: string[] }).__LOGS__ ?? [])).join("\n");
        });
        expectOutput(logged, block.expectedOutput);
      } finally {
        await server.close();
      }
    });
  }
});
