// The adaptation demo's live page: steps the experiment's generator (the same
// code as the terminal), yielding to the browser between steps so the table
// and the plots fill in as it runs.
import * as batchnorm from "batchnorm-wasm";
import { decodeDataset } from "../../../shared/mnist.mjs";
import { adaptationCases, adaptationSteps, configFrom } from "../experiment.mjs";
import { accuracyPlot, driftPlot, pct, tableMarkdown } from "../report.mjs";

const params = new URLSearchParams(location.search);
const state = { done: false, rows: [], result: null };
window.__adapt = state;

const $ = (id) => document.getElementById(id);
const yieldToBrowser = () => new Promise((done) => setTimeout(done, 0));
const cell = (value, format) => (Number.isFinite(value) ? format(value) : "…");

function drawTable(rows, active) {
  const body = $("table").tBodies[0];
  body.innerHTML = "";
  for (const r of rows) {
    const tr = body.insertRow();
    tr.dataset.shift = r.shift;
    tr.dataset.severity = String(r.severity);
    if (r === active && !r.done) tr.className = "running";
    const values = [r.shift, r.level || "-", cell(r.running, pct), cell(r.reestimated, pct), cell(r.tent, pct),
      cell(r.drift?.meanShift, (v) => v.toFixed(2)), cell(r.drift?.logVarRatio, (v) => v.toFixed(2))];
    values.forEach((v, i) => { const td = tr.insertCell(); td.textContent = v; if (v === "…") td.className = "pending"; if (i >= 2) td.dataset.key = ["running", "reestimated", "tent", "drift", "logvar"][i - 2]; });
  }
}

function drawPlots(rows, shifts) {
  $("accuracy").innerHTML = accuracyPlot(rows, shifts);
  if (rows.some((r) => r.severity === 3 && r.done)) $("drift").innerHTML = driftPlot(rows.filter((r) => r.done));
}

async function main() {
  const config = configFrom((name) => params.get(name));
  const { build } = await batchnorm.init();
  const data = decodeDataset(new Uint8Array(await (await fetch("./mnist.bin")).arrayBuffer()));
  const cases = adaptationCases(config);
  const shifts = [...new Set(cases.filter((c) => c.shift).map((c) => c.shift.name))];
  state.config = config;
  const testCount = Math.min(config.testCount ?? data.test.count, data.test.count);
  $("status").textContent = `${build} build · ${config.trainSteps} training steps of ${config.batch} on ${data.train.count} clean digits · ${cases.length} cases on ${testCount} test digits · running…`;
  drawPlots([], shifts);
  const rows = [];
  const steps = adaptationSteps(batchnorm, data, config);
  // Progress in training steps; one measurement over N digits costs about N / 30 of them on this network.
  const phase = testCount / 30, total = config.trainSteps + 3 * phase * cases.length;
  let next, done = 0;
  while (!(next = steps.next()).done) {
    const event = next.value;
    if (event.type === "progress") {
      done = event.step;
      $("progress-text").textContent = `training ${event.step}/${event.of}`;
    } else {
      if (rows.at(-1) !== event.row) rows.push(event.row);
      done = config.trainSteps + phase * (3 * (event.index - 1) + (event.row.done ? 3 : Number.isFinite(event.row.reestimated) ? 2 : 1));
      $("progress-text").textContent = `case ${event.index}/${event.of}: ${event.row.shift} ${event.row.level}`;
      state.rows = rows.filter((r) => r.done).map(({ drift, ...r }) => ({ ...r, meanShift: drift.meanShift, logVarRatio: drift.logVarRatio }));
      drawTable(rows, event.row);
      drawPlots(rows, shifts);
    }
    $("progress").value = done / total;
    await yieldToBrowser();
  }
  const result = next.value;
  drawTable(result.rows, null);
  drawPlots(result.rows, shifts);
  const markdown = tableMarkdown(result).split("\n");
  const mean = markdown.find((l) => l.startsWith("| mean over shifts")).split("|").slice(3, 6).map((s) => s.trim());
  $("table").tFoot.innerHTML = `<tr><td>mean over shifts</td><td></td>${mean.map((m) => `<td>${m}</td>`).join("")}<td></td><td></td></tr>`;
  $("summary").textContent = `${markdown.at(-1)} Training: ${result.trainSeconds.toFixed(1)} s; ${result.seconds.toFixed(1)} s in all.`;
  $("progress-text").textContent = "done";
  $("status").textContent = `${build} build · done: ${config.trainSteps} training steps, ${cases.length} cases on ${testCount} test digits · ${batchnorm.liveTensorCount()} tensors alive`;
  state.result = { testCount: result.testCount, trainSeconds: result.trainSeconds, reestimateMsPerCase: result.reestimateMsPerCase, tentMsPerStep: result.rows.at(-1).tentMsPerStep };
  state.done = true;
}

main().catch((error) => {
  $("status").textContent = `Failed: ${error.message}`;
  state.error = String(error.message);
});
