// `npm run demo`: the Batch Normalization paper's MNIST experiment (Ioffe and
// Szegedy 2015, Fig. 1) in the terminal. Flags: --long (10,000 steps per arm),
// --steps N, --out FILE (the HTML report; default demo/out/report.html).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as batchnorm from "../dist/index.js";
import { DEFAULT_ARMS, crossingStep } from "./arms.mjs";
import { Arm, BATCH, LOSS_WINDOW, TRACKED_LAYER, TRACKED_UNIT } from "./experiment.mjs";
import { loadMnist } from "../shared/mnist-node.mjs";
import { reportHtml } from "./plots.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const totalSteps = Number(flag("--steps", args.includes("--long") ? 10_000 : 1200));
const checkpointEvery = Math.max(1, Math.round(totalSteps / (args.includes("--long") ? 40 : 12)));
const reportPath = resolve(flag("--out", resolve(root, "demo/out/report.html")));

const started = performance.now();
const { build } = await batchnorm.init();
const data = loadMnist();
console.log(`batchnorm-wasm (${build} build) · MNIST digits from the mnist package: ${data.train.count} train, ${data.test.count} test`);
console.log(`784-100-100-100-10 sigmoid network, batch ${BATCH}, plain SGD, ${totalSteps} steps per arm; same initial weights and data order in every arm\n`);

const percent = (v) => `${(v * 100).toFixed(1)}%`;
/** A rate, or "-" when no time was measured (a run too short for the clock). */
const perSecond = (count, seconds) => (seconds > 0 ? (count / seconds).toFixed(0) : "-");
const duration = (seconds) => (seconds >= 90 ? `${Math.round(seconds / 60)} min` : `${Math.max(1, Math.round(seconds))} s`);
// A terminal gets one line per arm, rewritten in place; a pipe (CI logs, | tee) gets one line per checkpoint.
const tty = process.stdout.isTTY;

function progressLine(arm, armSeconds, secondsLeft) {
  const width = 24, done = Math.round((arm.step / totalSteps) * width);
  const last = arm.history.at(-1);
  return `${arm.label.padEnd(24)} [${"#".repeat(done)}${".".repeat(width - done)}] step ${String(arm.step).padStart(5)}/${totalSteps}` +
    `  train loss ${last ? last.loss.toFixed(3) : "  -  "}  test ${(last ? percent(last.accuracy) : "-").padStart(5)}` +
    `  ${perSecond(arm.step, armSeconds).padStart(3)} steps/s  ${arm.step === totalSteps && secondsLeft === 0 ? "done" : `about ${duration(secondsLeft)} left`}`;
}

console.log(`Progress: a line per checkpoint (every ${checkpointEvery} steps); train loss is the mean over the last ${LOSS_WINDOW} steps, test accuracy in eval mode.`);
const arms = [];
const trainingStart = performance.now();
let stepsDone = 0;
const stepsInAll = totalSteps * DEFAULT_ARMS.length;
for (const config of DEFAULT_ARMS) {
  const arm = new Arm(batchnorm, data, config);
  arm.label = `${config.name} (lr ${config.learningRate})`;
  const armStart = performance.now();
  while (arm.step < totalSteps) {
    const count = Math.min(checkpointEvery, totalSteps - arm.step);
    arm.trainSteps(count);
    arm.checkpoint();
    stepsDone += count;
    // Time left for every arm, at the pace so far (checkpoint evaluations included).
    const elapsed = (performance.now() - trainingStart) / 1000;
    const secondsLeft = stepsDone > 0 ? (elapsed / stepsDone) * (stepsInAll - stepsDone) : 0;
    const line = progressLine(arm, (performance.now() - armStart) / 1000, secondsLeft);
    if (tty) process.stdout.write(`\r${line}`);
    else console.log(line);
  }
  if (tty) process.stdout.write("\n");
  arm.seconds = (performance.now() - armStart) / 1000;
  arms.push(arm);
}

const [plain, bn, plainHigh, bnHigh] = arms;
const plainFinal = plain.history.at(-1).accuracy;
const crossing = crossingStep(bn.history, plainFinal);

// Checkpoint table: test accuracy of every arm, every few checkpoints, plus the crossing.
console.log("\nTest accuracy (eval mode, running statistics) at checkpoints");
console.log(`${"step".padStart(6)}  ${arms.map((a) => a.label.padStart(24)).join("")}`);
const tableEvery = Math.max(1, Math.round(arms[0].history.length / 6));
const shownRow = (i, entry) => (i + 1) % tableEvery === 0 || i === 0 || i === arms[0].history.length - 1 || entry.step === crossing;
arms[0].history.forEach((entry, i) => {
  if (!shownRow(i, entry)) return;
  const note = entry.step === crossing ? `  <- BN (lr ${bn.learningRate}) first reaches plain's final ${percent(plainFinal)}` : "";
  console.log(`${String(entry.step).padStart(6)}  ${arms.map((a) => percent(a.history[i].accuracy).padStart(24)).join("")}${note}`);
});

console.log(crossing === null
  ? `\nBN (lr ${bn.learningRate}) did not reach the plain network's final accuracy ${percent(plainFinal)} within ${totalSteps} steps.`
  : `\nBN (lr ${bn.learningRate}) passes the plain network's final accuracy (${percent(plainFinal)} after ${totalSteps} steps) at step ${crossing}, the first checkpoint at or above it (checkpoints every ${checkpointEvery} steps): ${(totalSteps / crossing).toFixed(1)}x fewer steps.`);
console.log(`At lr ${plainHigh.learningRate}, the plain network ends at ${percent(plainHigh.history.at(-1).accuracy)} (loss ${plainHigh.history.at(-1).loss.toFixed(3)}); with BN, ${percent(bnHigh.history.at(-1).accuracy)} (loss ${bnHigh.history.at(-1).loss.toFixed(3)}).`);

console.log(`\nSigmoid input of unit ${TRACKED_UNIT} of hidden layer ${TRACKED_LAYER + 1} over the test set: 15th / 50th / 85th percentiles (paper's Fig. 1b, 1c)`);
console.log(`${"step".padStart(6)}  ${"without BN".padStart(24)}  ${"with BN".padStart(24)}`);
const bands = (e) => e.percentiles.map((v) => v.toFixed(2).padStart(7)).join(" ");
plain.history.forEach((entry, i) => {
  if (!shownRow(i, entry)) return;
  console.log(`${String(entry.step).padStart(6)}  ${bands(entry).padStart(24)}  ${bands(bn.history[i]).padStart(24)}`);
});

// Eval mode with moving averages (above) against exact population statistics of the training set.
console.log("\nFinal test accuracy of the BN arms in eval mode: running (moving-average) statistics vs exact population statistics");
const summaryRows = [["arm", "learning rate", `train loss (last ${LOSS_WINDOW} steps)`, "test accuracy (running stats)", "test accuracy (population stats)", "steps/s"]];
for (const arm of arms) {
  const running = arm.history.at(-1).accuracy;
  const population = arm.normalize ? arm.evaluateWithPopulationStatistics().accuracy : null;
  summaryRows.push([arm.name, String(arm.learningRate), arm.history.at(-1).loss.toFixed(4), percent(running), population === null ? "-" : percent(population), perSecond(totalSteps, arm.seconds)]);
}
const widths = summaryRows[0].map((_, c) => Math.max(...summaryRows.map((r) => r[c].length)));
for (const row of summaryRows) console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  "));

mkdirSync(dirname(reportPath), { recursive: true });
writeFileSync(reportPath, reportHtml({ arms, totalSteps, summaryRows, title: "Batch Normalization on MNIST (Ioffe and Szegedy 2015, Fig. 1) with batchnorm-wasm" }));
for (const arm of arms) arm.dispose();
console.log(`\nreport: ${relative(process.cwd(), reportPath)} · wall time ${((performance.now() - started) / 1000).toFixed(0)} s · live tensors at exit: ${batchnorm.liveTensorCount()}`);
