// The adaptation demo's table (terminal, README), HTML report with SVG plots,
// and the plots and legends the live page (page/main.mjs) draws as it runs.
export const pct = (v) => `${(100 * v).toFixed(1)}%`;

export const ARMS = { running: "(a) running statistics", reestimated: "(b) re-estimated statistics", tent: "(c) TENT" };
const COLOURS = { running: "#888", reestimated: "#1f77b4", tent: "#d62728" };

/** A legend as an HTML row (laid out by the browser, so entries never overlap). items: [label, colour, "square" | "dot"]. */
export function legendHtml(items) {
  return `<div class="legend" style="display:flex;flex-wrap:wrap;gap:4px 22px;margin:4px 0 0 10px;font:12px sans-serif">${items.map(([label, colour, shape]) =>
    `<span style="display:inline-flex;align-items:center;gap:6px"><span style="display:inline-block;width:${shape === "dot" ? 8 : 12}px;height:${shape === "dot" ? 8 : 12}px;background:${colour};border-radius:${shape === "dot" ? "50%" : "0"}"></span>${label}</span>`).join("")}</div>`;
}

export function tableMarkdown(result) {
  const { rows, config } = result;
  const tentRow = rows.find((r) => r.shift !== "clean");
  const lines = [
    "| shift | severity | (a) running stats | (b) re-estimated BN stats | (c) TENT | BN input drift (mean shift / std) |",
    "|---|---|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.shift} | ${r.level || "-"} | ${pct(r.running)} | ${pct(r.reestimated)} | ${pct(r.tent)} | ${r.drift.meanShift.toFixed(2)} |`),
  ];
  const mean = (key) => rows.filter((r) => r.shift !== "clean").reduce((s, r) => s + r[key], 0) / (rows.length - 1);
  lines.push(`| mean over shifts | | ${pct(mean("running"))} | ${pct(mean("reestimated"))} | ${pct(mean("tent"))} | |`);
  lines.push("");
  lines.push(`TENT: ${tentRow.tentSteps} steps of batch ${config.adaptBatch} per case (one pass, lr ${config.tentLr}), ${tentRow.tentMsPerStep.toFixed(1)} ms per adaptation step; re-estimation: ${result.reestimateMsPerCase.toFixed(0)} ms per case (${result.testCount ?? 2000} images).`);
  return lines.join("\n");
}

/**
 * Accuracy per severity (0 = clean, then 1..3), one panel per shift, the three
 * arms as lines. Rows may be partial (the live page): a point is drawn once its
 * value exists. `shifts`: the panels (default: the shifts in `rows`).
 */
export function accuracyPlot(rows, shifts = [...new Set(rows.filter((r) => r.shift !== "clean").map((r) => r.shift))]) {
  const W = 190, H = 170, pad = 36; // pad: room for the y ticks ("100%") on the left and the x ticks and panel name below
  const clean = rows.find((r) => r.shift === "clean");
  const panels = shifts.map((name, i) => {
    const sub = [clean ? { ...clean, severity: 0 } : null, ...rows.filter((r) => r.shift === name)].filter(Boolean);
    const x = (k) => pad + (k * (W - pad - 10)) / 3, y = (v) => 10 + (1 - v) * (H - pad - 10);
    const lines = Object.entries(COLOURS).map(([key, colour]) => {
      const points = sub.filter((r) => Number.isFinite(r[key]));
      return `<polyline class="curve" data-arm="${key}" data-points="${points.length}" fill="none" stroke="${colour}" stroke-width="2" points="${points.map((r) => `${x(r.severity)},${y(r[key])}`).join(" ")}"/>`
        + points.map((r) => `<circle cx="${x(r.severity)}" cy="${y(r[key])}" r="2.5" fill="${colour}"/>`).join("");
    }).join("");
    const ticks = [0, 0.5, 1].map((v) => `<text class="y-tick" x="${pad - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${v * 100}%</text><line x1="${pad}" x2="${W - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`).join("");
    const xt = [0, 1, 2, 3].map((k) => `<text class="x-tick" x="${x(k)}" y="${H - pad + 14}" text-anchor="middle" font-size="10">${k}</text>`).join("");
    return `<g class="panel" data-shift="${name}" transform="translate(${i * W},0)"><rect class="frame" width="${W}" height="${H}" fill="none"/><text class="panel-label" x="${(pad + W - 10) / 2}" y="${H - 6}" text-anchor="middle" font-size="11">${name}</text>${ticks}${xt}${lines}</g>`;
  }).join("");
  return `<svg class="accuracy-plot" width="${shifts.length * W}" height="${H}" font-family="sans-serif">${panels}</svg>`
    + legendHtml(Object.entries(COLOURS).map(([key, colour]) => [ARMS[key], colour, "square"]));
}

/** Per-channel first-BN input means, clean vs shifted, for the severity-3 cases in `rows`. */
export function driftPlot(rows) {
  const picks = rows.filter((r) => r.severity === 3 && r.drift);
  const W = 180, H = 150, pad = 28;
  const panels = picks.map((r, i) => {
    const all = r.drift.channels.flatMap((c) => [c.source, c.target]);
    const lo = Math.min(...all), hi = Math.max(...all);
    const n = r.drift.channels.length;
    const x = (k) => pad + (k * (W - pad - 8)) / n, y = (v) => 8 + ((hi - v) / (hi - lo || 1)) * (H - pad - 8);
    const bars = r.drift.channels.map((c, k) => `<line x1="${x(k) + 2}" x2="${x(k) + 2}" y1="${y(c.source)}" y2="${y(c.target)}" stroke="#d62728"/><circle cx="${x(k) + 2}" cy="${y(c.source)}" r="1.8" fill="#555"/><circle cx="${x(k) + 2}" cy="${y(c.target)}" r="1.8" fill="#d62728"/>`).join("");
    return `<g class="panel" transform="translate(${i * W},0)"><rect class="frame" width="${W}" height="${H + 14}" fill="none"/><text class="panel-label" x="${W / 2}" y="${H - 4}" text-anchor="middle" font-size="11">${r.shift}</text><text class="panel-label" x="${W / 2}" y="${H + 9}" text-anchor="middle" font-size="10" fill="#555">${r.level}</text>${bars}</g>`;
  }).join("");
  return `<svg class="drift-plot" width="${picks.length * W}" height="${H + 14}" font-family="sans-serif">${panels}</svg>`
    + legendHtml([["source (clean test) mean", "#555", "dot"], ["shifted mean, per channel (first BN layer, 32 of 128 channels)", "#d62728", "dot"]]);
}

export function reportHtml(result) {
  const rows = result.rows.map((r) => `<tr><td>${r.shift}</td><td>${r.level || "-"}</td><td>${pct(r.running)}</td><td>${pct(r.reestimated)}</td><td>${pct(r.tent)}</td><td>${r.drift.meanShift.toFixed(2)}</td><td>${r.drift.logVarRatio.toFixed(2)}</td></tr>`).join("");
  return `<!doctype html><meta charset="utf-8"><title>BN test-time adaptation</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}pre{white-space:pre-wrap}td:first-child,td:nth-child(2){text-align:left}</style>
<h1>Batch Normalization at the edge: adapting to shifted digits</h1>
<p>A 784-128-64-10 ReLU network with BatchNorm1d after each hidden layer, trained on clean MNIST (${result.config.trainSteps} steps of ${result.config.batch}), tested on shifted test digits (${result.testCount ?? 2000}, unlabeled for adaptation).
(a) the running statistics from training; (b) BN statistics re-estimated exactly on the shifted set (PopulationStatistics, batches of ${result.config.adaptBatch}); (c) TENT: batch statistics and one entropy-minimization step on BN weight and bias per batch of ${result.config.adaptBatch} (the library's backward), predicted online.</p>
<h2 id="accuracy">Test accuracy per shift and severity (0 = clean)</h2>${accuracyPlot(result.rows)}
<h2 id="drift">Statistics drift at severity 3: first BN layer's per-channel input mean, clean vs shifted</h2>${driftPlot(result.rows)}
<h2>Table</h2><table id="table"><tr><th>shift</th><th>severity</th><th>(a) running</th><th>(b) re-estimated</th><th>(c) TENT</th><th>mean shift / std</th><th>|log var ratio|</th></tr>${rows}</table>
<pre>${tableMarkdown(result).split("\n").slice(-1)[0]}</pre>`;
}
