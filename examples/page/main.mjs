// The example page: runs the experiment with the package and shows the numbers.
import * as batchnorm from "batchnorm-wasm";
import { CHANNELS, runExperiment } from "./experiment.mjs";

const format = (value) => (Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-2 && value !== 0) ? value.toExponential(3) : value.toFixed(4));

/** Draws an 8x8 plane on a diverging scale from -3 (blue) to 3 (red). */
function drawPlane(canvas, values) {
  canvas.width = 8;
  canvas.height = 8;
  const context = canvas.getContext("2d");
  const image = context.createImageData(8, 8);
  values.forEach((value, i) => {
    const t = Math.max(-1, Math.min(1, value / 3));
    image.data.set(t >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t)), 255] : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255, 255], i * 4);
  });
  context.putImageData(image, 0, 0);
}

function show(result) {
  document.getElementById("build").textContent = result.build;
  document.getElementById("steps").textContent = String(result.steps);
  document.getElementById("weight").textContent = result.weight.join(", ");
  document.getElementById("bias").textContent = result.bias.join(", ");
  const body = document.querySelector("#stats tbody");
  CHANNELS.forEach((channel, c) => {
    const row = body.insertRow();
    row.dataset.channel = channel.name;
    const cells = [channel.name, result.trainInput[c].mean, result.trainInput[c].std, result.trainOutput[c].mean, result.trainOutput[c].std,
      result.runningMean[c], result.runningVar[c], result.evalOutput[c].mean, result.evalOutput[c].std];
    for (const value of cells) row.insertCell().textContent = typeof value === "number" ? format(value) : value;
  });
  const maps = document.getElementById("maps");
  for (const [label, values] of [["input", result.sampleInput], ["output", result.sampleOutput]]) {
    CHANNELS.forEach((channel, c) => {
      const figure = document.createElement("figure");
      const canvas = document.createElement("canvas");
      drawPlane(canvas, values.slice(c * 64, c * 64 + 64));
      figure.append(canvas, Object.assign(document.createElement("figcaption"), { textContent: `${channel.name} ${label}` }));
      maps.append(figure);
    });
  }
  document.getElementById("status").textContent = `Done: ${batchnorm.liveTensorCount()} tensors left alive.`;
  document.getElementById("result").hidden = false;
}

try {
  const result = await runExperiment(batchnorm, Number(new URLSearchParams(location.search).get("steps") ?? 200));
  show(result);
  window.__EXAMPLE__ = result;
} catch (error) {
  document.getElementById("status").textContent = `Failed: ${error.message}`;
  window.__EXAMPLE__ = { error: String(error.message) };
}
