// SVG plots of the experiment (runtime-neutral: the terminal demo's report
// and the live browser page draw the same figures).
import { LOSS_WINDOW } from "./experiment.mjs";

const COLORS = { plain: "#d62728", BN: "#1f77b4", "plain, high LR": "#ff9896", "BN, high LR": "#aec7e8" };
const colorOf = (name) => COLORS[name] ?? "#555";
const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

/** Tick values 0, step, 2 step, … up to max, with step a round number giving at most 7 ticks. */
export function roundTicks(max) {
  const magnitude = 10 ** Math.floor(Math.log10(Math.max(max, 1) / 6));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => max / s <= 6) ?? max;
  const ticks = [];
  for (let v = 0; v <= max + 1e-9; v += step) ticks.push(Math.round(v * 100) / 100);
  return ticks;
}

/**
 * Axes, grid and labels of one plot. `legendWidth` reserves room right of the
 * plot area, so a legend never covers the curves; the right margin leaves room
 * for half of the last x tick label, so it is never cut off.
 */
function frame({ width, height, title, xMax, yMin, yMax, yTicks, yFormat = String, xLabel, yLabel, legendWidth = 0 }) {
  const margin = { left: 56, right: 24 + legendWidth, top: 28, bottom: 42 };
  const plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom;
  const x = (v) => margin.left + (v / xMax) * plotW;
  const y = (v) => margin.top + (1 - (v - yMin) / (yMax - yMin)) * plotH;
  const bottom = margin.top + plotH;
  const parts = [`<text x="${margin.left + plotW / 2}" y="18" text-anchor="middle" font-weight="bold">${escape(title)}</text>`];
  for (const t of yTicks) {
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${y(t) + 4}" text-anchor="end">${escape(yFormat(t))}</text>`);
  }
  for (const v of roundTicks(xMax)) {
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${bottom}" y2="${bottom + 4}" stroke="#999"/>`,
      `<text class="x-tick" x="${x(v)}" y="${bottom + 16}" text-anchor="middle">${v}</text>`);
  }
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 6}" text-anchor="middle">${escape(xLabel)}</text>`,
    `<text transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`);
  return { x, y, parts, legendX: margin.left + plotW + 14, top: margin.top };
}

const svg = (width, height, parts) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">${parts.join("")}</svg>`;

/** Test accuracy (%) against training step, one line per arm (the paper's Fig. 1a); the legend sits right of the plot. */
export function accuracyPlot(arms, totalSteps, { width = 720, height = 340 } = {}) {
  const { x, y, parts, legendX, top } = frame({
    width, height, title: "Test accuracy (eval mode, running statistics)", xMax: totalSteps, yMin: 0, yMax: 100,
    yTicks: [0, 20, 40, 60, 80, 100], yFormat: (t) => `${t}%`, xLabel: "training step", yLabel: "test accuracy", legendWidth: 170,
  });
  arms.forEach((arm, i) => {
    const color = colorOf(arm.name), rowY = top + 14 + i * 20;
    parts.push(`<line class="legend" x1="${legendX}" x2="${legendX + 22}" y1="${rowY - 4}" y2="${rowY - 4}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${legendX + 28}" y="${rowY}">${escape(`${arm.name} (lr ${arm.learningRate})`)}</text>`);
    if (arm.history.length === 0) return;
    const points = arm.history.map((h) => `${x(h.step).toFixed(1)},${y(h.accuracy * 100).toFixed(1)}`).join(" ");
    parts.push(`<polyline class="curve" data-arm="${escape(arm.name)}" data-points="${arm.history.length}" points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`);
  });
  return svg(width, height, parts);
}

/** 15th, 50th and 85th percentiles of one sigmoid input over training (the paper's Fig. 1b, 1c). */
export function percentilePlot(arm, totalSteps, { width = 400, height = 340, yMin = -4, yMax = 4 } = {}) {
  const ticks = [];
  for (let t = Math.ceil(yMin); t <= yMax; t += Math.max(1, Math.round((yMax - yMin) / 8))) ticks.push(t);
  const { x, y, parts } = frame({
    width, height, title: `${arm.name} (lr ${arm.learningRate}): a last-hidden-layer sigmoid input`, xMax: totalSteps, yMin, yMax,
    yTicks: ticks, xLabel: "training step", yLabel: "15th / 50th / 85th percentile",
  });
  const clip = (v) => y(Math.max(yMin, Math.min(yMax, v))).toFixed(1);
  const h = arm.history;
  if (h.length > 0) {
    const upper = h.map((e) => `${x(e.step).toFixed(1)},${clip(e.percentiles[2])}`);
    const lower = h.map((e) => `${x(e.step).toFixed(1)},${clip(e.percentiles[0])}`).reverse();
    parts.push(`<polygon class="band" data-arm="${escape(arm.name)}" points="${[...upper, ...lower].join(" ")}" fill="${colorOf(arm.name)}" fill-opacity="0.25"/>`);
    for (const p of [0, 1, 2]) {
      parts.push(`<polyline points="${h.map((e) => `${x(e.step).toFixed(1)},${clip(e.percentiles[p])}`).join(" ")}" fill="none" stroke="${colorOf(arm.name)}" stroke-width="${p === 1 ? 2 : 1}"/>`);
    }
  }
  return svg(width, height, parts);
}

/** The shared y range of the percentile plots: at least -2..2, whole numbers. */
export function percentileRange(arms) {
  const values = arms.flatMap((a) => a.history.flatMap((e) => e.percentiles));
  return { yMin: Math.floor(Math.min(-2, ...values)), yMax: Math.ceil(Math.max(2, ...values)) };
}

/** A self-contained HTML report with both figures and a summary table. */
export function reportHtml({ arms, totalSteps, summaryRows, title }) {
  const [plain, bn] = arms;
  const range = percentileRange([plain, bn]);
  const [head, ...body] = summaryRows;
  const rows = `<tr>${head.map((c) => `<th>${escape(c)}</th>`).join("")}</tr>` + body.map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join("")}</tr>`).join("");
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:14px sans-serif;margin:2rem;color:#222}th,td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}figure{display:inline-block;margin:0 1rem 1rem 0}.row{display:flex;flex-wrap:wrap}</style>
<h1>${escape(title)}</h1>
<p>784-100-100-100-10 sigmoid network on MNIST digits, mini-batches of 60, plain SGD; the BN arms normalize every hidden linear output with batchnorm-wasm. Same initial weights and data order in every arm. Accuracy in eval mode (running statistics); train loss is the mean over the last ${LOSS_WINDOW} steps.</p>
<figure>${accuracyPlot(arms, totalSteps)}</figure>
<div class="row"><figure>${percentilePlot(plain, totalSteps, range)}</figure>
<figure>${percentilePlot(bn, totalSteps, range)}</figure></div>
<table>${rows}</table>
</html>
`;
}
