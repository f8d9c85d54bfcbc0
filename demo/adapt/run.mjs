// npm run demo:adapt: test-time adaptation of BN on shifted MNIST digits in the
// terminal (progress, table) and an HTML report (demo/out/adapt-report.html).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as lib from "../../dist/index.js";
import { loadMnist } from "../../shared/mnist-node.mjs";
import { configFrom, runAdaptation } from "./experiment.mjs";
import { reportHtml, tableMarkdown } from "./report.mjs";

// Flags (the live page takes the same as URL parameters): --steps N (training
// steps), --shifts a,b (a subset of the shifts), --test N (the first N test digits).
const args = process.argv.slice(2);
const config = configFrom((name) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : null));
const { build } = await lib.init();
const data = loadMnist();
const tty = process.stdout.isTTY;
const line = (text) => (tty ? process.stdout.write(`\r\x1b[K${text}`) : console.log(text));
console.log(`BN test-time adaptation on shifted MNIST (${build} build): ${config.trainSteps} training steps of ${config.batch}, adaptation batches of ${config.adaptBatch}`);
const result = runAdaptation(lib, data, config, {
  onProgress: ({ step, of }) => line(`training ${step}/${of}`),
  onRow: (row, i, n) => line(`case ${i}/${n}: ${row.shift} ${row.level} running ${(100 * row.running).toFixed(1)}% re-estimated ${(100 * row.reestimated).toFixed(1)}% TENT ${(100 * row.tent).toFixed(1)}%`),
});
if (tty) process.stdout.write("\n");
console.log("");
console.log(tableMarkdown(result));
const out = join(dirname(fileURLToPath(import.meta.url)), "../out");
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "adapt-report.html"), reportHtml(result));
writeFileSync(join(out, "adapt-result.json"), JSON.stringify(result));
console.log(`\nreport: demo/out/adapt-report.html (${result.seconds.toFixed(0)} s in all, training ${result.trainSeconds.toFixed(0)} s)`);
