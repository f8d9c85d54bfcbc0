// The adaptation demo's table (terminal, README) and HTML report with SVG plots.
const pct = (v) => `${(100 * v).toFixed(1)}%`;

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
  lines.push(`TENT: ${tentRow.tentSteps} steps of batch ${config.adaptBatch} per case (one pass, lr ${config.tentLr}), ${tentRow.tentMsPerStep.toFixed(1)} ms per adaptation step; re-estimation: ${result.reestimateMsPerCase.toFixed(0)} ms per case (2000 images).`);
  return lines.join("\n");
}

function accuracyPlot(rows) {
  const shifts = [...new Set(rows.filter((r) => r.shift !== "clean").map((r) => r.shift))];
  const W = 180, H = 160, pad = 30;
  const colours = { running: "#888", reestimated: "#1f77b4", tent: "#d62728" };
  const panels = shifts.map((name, i) => {
    const sub = [rows[0], ...rows.filter((r) => r.shift === name)];
    const x = (k) => pad + (k * (W - pad - 10)) / 3, y = (v) => 10 + (1 - v) * (H - pad - 10);
    const lines = Object.entries(colours).map(([key, colour]) => `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${sub.map((r, k) => `${x(k)},${y(r[key])}`).join(" ")}"/>`
      + sub.map((r, k) => `<circle cx="${x(k)}" cy="${y(r[key])}" r="2.5" fill="${colour}"/>`).join("")).join("");
    const ticks = [0, 0.5, 1].map((v) => `<text x="${pad - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${v * 100}%</text><line x1="${pad}" x2="${W - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`).join("");
    const xt = [0, 1, 2, 3].map((k) => `<text x="${x(k)}" y="${H - pad + 14}" text-anchor="middle" font-size="10">${k}</text>`).join("");
    return `<g transform="translate(${i * W},0)"><text x="${W / 2}" y="${H - 2}" text-anchor="middle" font-size="11">${name}</text>${ticks}${xt}${lines}</g>`;
  }).join("");
  const legend = Object.entries(colours).map(([k, c], i) => `<rect x="${10 + i * 210}" y="${H + 6}" width="12" height="12" fill="${c}"/><text x="${26 + i * 210}" y="${H + 16}" font-size="12">${{ running: "(a) running statistics", reestimated: "(b) re-estimated statistics", tent: "(c) TENT" }[k]}</text>`).join("");
  return `<svg width="${shifts.length * W}" height="${H + 26}" font-family="sans-serif">${panels}${legend}</svg>`;
}

function driftPlot(rows) {
  const picks = rows.filter((r) => r.severity === 3);
  const W = 180, H = 150, pad = 28;
  const panels = picks.map((r, i) => {
    const all = r.drift.channels.flatMap((c) => [c.source, c.target]);
    const lo = Math.min(...all), hi = Math.max(...all);
    const n = r.drift.channels.length;
    const x = (k) => pad + (k * (W - pad - 8)) / n, y = (v) => 8 + ((hi - v) / (hi - lo || 1)) * (H - pad - 8);
    const bars = r.drift.channels.map((c, k) => `<line x1="${x(k) + 2}" x2="${x(k) + 2}" y1="${y(c.source)}" y2="${y(c.target)}" stroke="#d62728"/><circle cx="${x(k) + 2}" cy="${y(c.source)}" r="1.8" fill="#555"/><circle cx="${x(k) + 2}" cy="${y(c.target)}" r="1.8" fill="#d62728"/>`).join("");
    return `<g transform="translate(${i * W},0)"><text x="${W / 2}" y="${H - 4}" text-anchor="middle" font-size="11">${r.shift} (${r.level})</text>${bars}</g>`;
  }).join("");
  return `<svg width="${picks.length * W}" height="${H + 20}" font-family="sans-serif">${panels}<circle cx="14" cy="${H + 10}" r="4" fill="#555"/><text x="22" y="${H + 14}" font-size="12">source (clean test) mean</text><circle cx="214" cy="${H + 10}" r="4" fill="#d62728"/><text x="222" y="${H + 14}" font-size="12">shifted mean, per channel (first BN layer, 32 of 128 channels)</text></svg>`;
}

export function reportHtml(result) {
  const rows = result.rows.map((r) => `<tr><td>${r.shift}</td><td>${r.level || "-"}</td><td>${pct(r.running)}</td><td>${pct(r.reestimated)}</td><td>${pct(r.tent)}</td><td>${r.drift.meanShift.toFixed(2)}</td><td>${r.drift.logVarRatio.toFixed(2)}</td></tr>`).join("");
  return `<!doctype html><meta charset="utf-8"><title>BN test-time adaptation</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,td:nth-child(2){text-align:left}</style>
<h1>Batch Normalization at the edge: adapting to shifted digits</h1>
<p>A 784-128-64-10 ReLU network with BatchNorm1d after each hidden layer, trained on clean MNIST (${result.config.trainSteps} steps of ${result.config.batch}), tested on shifted test digits (2000, unlabeled for adaptation).
(a) the running statistics from training; (b) BN statistics re-estimated exactly on the shifted set (PopulationStatistics, batches of ${result.config.adaptBatch}); (c) TENT: batch statistics and one entropy-minimization step on BN weight and bias per batch of ${result.config.adaptBatch} (the library's backward), predicted online.</p>
<h2 id="accuracy">Test accuracy per shift and severity (0 = clean)</h2>${accuracyPlot(result.rows)}
<h2 id="drift">Statistics drift at severity 3: first BN layer's per-channel input mean, clean vs shifted</h2>${driftPlot(result.rows)}
<h2>Table</h2><table id="table"><tr><th>shift</th><th>severity</th><th>(a) running</th><th>(b) re-estimated</th><th>(c) TENT</th><th>mean shift / std</th><th>|log var ratio|</th></tr>${rows}</table>
<pre>${tableMarkdown(result).split("\n").slice(-1)[0]}</pre>`;
}
