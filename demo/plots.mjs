// SVG plots of the experiment (runtime-neutral: the terminal demo's report
// and the live browser page draw the same figures).
const COLORS = { plain: "#d62728", BN: "#1f77b4", "plain, high LR": "#ff9896", "BN, high LR": "#aec7e8" };
const colorOf = (name) => COLORS[name] ?? "#555";
const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function frame({ width, height, title, xMax, yMin, yMax, yTicks, xLabel, yLabel }) {
  const margin = { left: 52, right: 12, top: 28, bottom: 40 };
  const plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom;
  const x = (v) => margin.left + (v / xMax) * plotW;
  const y = (v) => margin.top + (1 - (v - yMin) / (yMax - yMin)) * plotH;
  const parts = [`<text x="${width / 2}" y="18" text-anchor="middle" font-weight="bold">${escape(title)}</text>`];
  for (const t of yTicks) {
    parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const v = Math.round((xMax * i) / 4);
    parts.push(`<text x="${x(v)}" y="${height - margin.bottom + 16}" text-anchor="middle">${v}</text>`);
  }
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 6}" text-anchor="middle">${escape(xLabel)}</text>`,
    `<text transform="translate(13 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`);
  return { x, y, parts, margin };
}

const svg = (width, height, parts) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">${parts.join("")}</svg>`;

/** Test accuracy against training step, one line per arm (the paper's Fig. 1a). */
export function accuracyPlot(arms, totalSteps, { width = 560, height = 320 } = {}) {
  const { x, y, parts, margin } = frame({ width, height, title: "Test accuracy (eval mode)", xMax: totalSteps, yMin: 0, yMax: 1, yTicks: [0, 0.2, 0.4, 0.6, 0.8, 1], xLabel: "training step", yLabel: "accuracy" });
  arms.forEach((arm, i) => {
    if (arm.history.length === 0) return;
    const points = arm.history.map((h) => `${x(h.step).toFixed(1)},${y(h.accuracy).toFixed(1)}`).join(" ");
    parts.push(`<polyline class="curve" data-arm="${escape(arm.name)}" data-points="${arm.history.length}" points="${points}" fill="none" stroke="${colorOf(arm.name)}" stroke-width="2"/>`,
      `<text x="${margin.left + 10}" y="${height - margin.bottom - 12 - i * 15}" fill="${colorOf(arm.name)}">${escape(`${arm.name} (lr ${arm.learningRate})`)}</text>`);
  });
  return svg(width, height, parts);
}

/** 15th, 50th and 85th percentiles of one sigmoid input over training (the paper's Fig. 1b, 1c). */
export function percentilePlot(arm, totalSteps, { width = 360, height = 320, yMin = -4, yMax = 4 } = {}) {
  const ticks = [];
  for (let t = Math.ceil(yMin); t <= yMax; t += Math.max(1, Math.round((yMax - yMin) / 8))) ticks.push(t);
  const { x, y, parts } = frame({ width, height, title: `${arm.name}: a last-hidden-layer sigmoid input`, xMax: totalSteps, yMin, yMax, yTicks: ticks, xLabel: "training step", yLabel: "15th / 50th / 85th percentile" });
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

/** A self-contained HTML report with both figures and a summary table. */
export function reportHtml({ arms, totalSteps, summaryRows, title }) {
  const [plain, bn] = arms;
  const range = [plain, bn].flatMap((a) => a.history.flatMap((e) => e.percentiles));
  const yMin = Math.floor(Math.min(-2, ...range)), yMax = Math.ceil(Math.max(2, ...range));
  const rows = summaryRows.map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join("")}</tr>`).join("");
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:14px sans-serif;margin:2rem;color:#222}td{padding:2px 10px;border-bottom:1px solid #ddd}figure{display:inline-block;margin:0 1rem 1rem 0}</style>
<h1>${escape(title)}</h1>
<p>784-100-100-100-10 sigmoid network on MNIST digits, mini-batches of 60, plain SGD; the BN arms normalize every hidden linear output with batchnorm-wasm. Same initial weights and data order in every arm. Accuracy in eval mode (running statistics).</p>
<figure>${accuracyPlot(arms, totalSteps)}</figure>
<figure>${percentilePlot(plain, totalSteps, { yMin, yMax })}</figure>
<figure>${percentilePlot(bn, totalSteps, { yMin, yMax })}</figure>
<table>${rows}</table>
</html>
`;
}
