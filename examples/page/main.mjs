// The example page: runs the experiment with the package and shows the numbers.
import * as batchnorm from "batchnorm-wasm";
import { CHANNELS, runExperiment } from "./experiment.mjs";

const format = (value) => (Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-2 && value !== 0) ? value.toExponential(3) : value.toFixed(4));

/** Every map and the colour bar share this diverging scale: -SCALE (blue) through 0 (white) to +SCALE (red). */
const SCALE = 6;

function colourOf(value) {
  const t = Math.max(-1, Math.min(1, value / SCALE));
  return t >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t)), 255] : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255, 255];
}

/** Draws an 8x8 plane on the shared scale. */
function drawPlane(canvas, values) {
  canvas.width = 8;
  canvas.height = 8;
  const context = canvas.getContext("2d");
  const image = context.createImageData(8, 8);
  values.forEach((value, i) => image.data.set(colourOf(value), i * 4));
  context.putImageData(image, 0, 0);
}

/** The colour bar under the maps: the same colourOf, left -SCALE to right +SCALE, with tick labels. */
function drawColourBar(canvas, ticks) {
  canvas.width = 256;
  canvas.height = 1;
  const context = canvas.getContext("2d");
  const image = context.createImageData(256, 1);
  for (let i = 0; i < 256; i++) image.data.set(colourOf(-SCALE + (2 * SCALE * i) / 255), i * 4);
  context.putImageData(image, 0, 0);
  for (const value of [-SCALE, -SCALE / 2, 0, SCALE / 2, SCALE]) {
    const label = Object.assign(document.createElement("span"), { textContent: value > 0 ? `+${value}` : String(value) });
    label.style.left = `${((value + SCALE) / (2 * SCALE)) * 100}%`;
    ticks.append(label);
  }
}

const share = (values) => values.filter((v) => Math.abs(v) > SCALE).length / values.length;
const percent = (fraction) => `${Math.round(fraction * 100)}%`;

/** The caption, written from the numbers shown, so it stays true if the experiment changes. */
function caption(result) {
  const depth = CHANNELS.findIndex((c) => c.name === "depth");
  const inputs = CHANNELS.map((c) => `${c.name} ${c.mean} ± ${c.std}`).join(", ");
  const outputs = CHANNELS.map((c, i) => `${c.name} ${result.bias[i]} ± ${result.weight[i]}`).join(", ");
  return `The first example of the eval batch (8 × 8 pixels per channel), every map on the colour scale of the bar below ` +
    `(values beyond ±${SCALE} take the end colours). The inputs (mean ± std: ${inputs}) mostly leave the scale or barely vary: ` +
    `${percent(share(result.sampleInput))} of the input pixels lie beyond ±${SCALE}. The outputs are gamma · x̂ + beta, so each channel ` +
    `varies around its beta with a spread of its gamma (${outputs}); ${percent(share(result.sampleOutput))} of them lie beyond ±${SCALE}. ` +
    `The depth output, beta ${result.bias[depth]}, is therefore drawn in reds around +${result.bias[depth]}.`;
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
  document.getElementById("maps-caption").textContent = caption(result);
  drawColourBar(document.getElementById("colour-bar"), document.getElementById("colour-ticks"));
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
