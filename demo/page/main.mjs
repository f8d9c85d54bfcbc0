// The live demo page: trains both arms in small slices, yielding to the
// browser between slices so the plots update while training runs.
import * as batchnorm from "batchnorm-wasm";
import { DEFAULT_ARMS } from "../arms.mjs";
import { decodeDataset } from "../../shared/mnist.mjs";
import { Arm, LOSS_WINDOW } from "../experiment.mjs";
import { accuracyPlot, percentilePlot, percentileRange } from "../plots.mjs";

const params = new URLSearchParams(location.search);
const totalSteps = Number(params.get("steps") ?? 1200);
const checkpointEvery = Number(params.get("every") ?? 50);
const SLICE = 10;
const state = { totalSteps, done: false, arms: [] };
window.__demo = state;

const status = document.getElementById("status");
document.getElementById("loss-window").textContent = String(LOSS_WINDOW);
document.getElementById("loss-header").textContent = `train loss (last ${LOSS_WINDOW} steps)`;
const yieldToBrowser = () => new Promise((done) => setTimeout(done, 0));

function draw(arms) {
  document.getElementById("accuracy").innerHTML = accuracyPlot(arms, totalSteps);
  const range = percentileRange(arms);
  document.getElementById("percentiles-plain").innerHTML = percentilePlot(arms[0], totalSteps, range);
  document.getElementById("percentiles-bn").innerHTML = percentilePlot(arms[1], totalSteps, range);
  const body = document.querySelector("#arms tbody");
  body.innerHTML = "";
  for (const arm of arms) {
    const last = arm.history.at(-1);
    const row = body.insertRow();
    row.dataset.arm = arm.name;
    for (const cell of [arm.name, arm.learningRate, arm.step, last ? last.loss.toFixed(3) : "-", last ? `${(last.accuracy * 100).toFixed(1)}%` : "-", arm.seconds > 0 ? (arm.step / arm.seconds).toFixed(0) : "-"]) {
      row.insertCell().textContent = String(cell);
    }
  }
}

async function main() {
  const { build } = await batchnorm.init();
  const response = await fetch("./mnist.bin");
  const data = decodeDataset(new Uint8Array(await response.arrayBuffer()));
  // The paper's pair at one learning rate; the terminal demo adds the higher-rate pair.
  const arms = DEFAULT_ARMS.slice(0, 2).map((config) => Object.assign(new Arm(batchnorm, data, config), { seconds: 0 }));
  state.arms = arms.map((arm) => ({ name: arm.name, get step() { return arm.step; }, get history() { return arm.history; } }));
  status.textContent = `${build} build · ${data.train.count} training and ${data.test.count} test digits · training…`;
  while (arms[0].step < totalSteps) {
    for (const arm of arms) {
      const started = performance.now();
      arm.trainSteps(Math.min(SLICE, totalSteps - arm.step));
      if (arm.step % checkpointEvery === 0 || arm.step === totalSteps) arm.checkpoint();
      arm.seconds += (performance.now() - started) / 1000;
    }
    if (arms[0].step % checkpointEvery === 0 || arms[0].step === totalSteps) draw(arms);
    await yieldToBrowser();
  }
  draw(arms);
  for (const arm of arms) arm.dispose();
  status.textContent = `${build} build · done: ${totalSteps} steps per arm · ${batchnorm.liveTensorCount()} tensors alive`;
  state.done = true;
}

main().catch((error) => {
  status.textContent = `Failed: ${error.message}`;
  state.error = String(error.message);
});
