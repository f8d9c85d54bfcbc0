// Tables for the terminal and bench/RESULTS.md. Times appear only as ratios:
// against memory.copy of the same bytes, and peers against this library.
// bench/RESULTS.md keeps the last full run per (host, runtime): one section
// each between `<!-- run: KEY -->` and `<!-- end run -->`, KEY being the host
// (CPU model, cores, caches, from lscpu) and the runtime's name and major
// version; a run replaces only its own section. Each section also carries its
// headline ratios as `<!-- headline: JSON -->`, from which the summary at the
// top of the file is rebuilt over every section present.
import { cpus } from "node:os";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { oursFor } from "./cells/family.mjs";
import { onnxOperator } from "./cells/family-peers.mjs";
import { explainFamilyMiss } from "./family-targets.mjs";
import { LAYOUT_PAIR_TARGET, TRAIN_FORWARD_TARGET } from "./targets.mjs";

const require = createRequire(import.meta.url);

/** CPU model (with family and model numbers), logical CPUs and cache sizes as lscpu gives them; null where lscpu is missing. */
export function hostFacts() {
  let text;
  try {
    text = execFileSync("lscpu", { encoding: "utf8", env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return null;
  }
  const field = (name) => text.match(new RegExp(`^${name}:\\s*(.+)$`, "m"))?.[1].trim() ?? null;
  const size = (name) => field(name)?.replace(/\s*\(.*\)$/, "") ?? null; // "2 MiB (2 instances)" -> "2 MiB"
  return {
    model: field("Model name"), family: field("CPU family"), modelNumber: field("Model"), cpus: Number(field("CPU\\(s\\)")) || null,
    caches: { L1d: size("L1d cache"), L2: size("L2 cache"), L3: size("L3 cache") },
  };
}

export function machineFacts(peerVersions) {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    cpu = readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? cpu;
  } catch { /* not Linux */ }
  return {
    cpu, cores: cpus().length, host: hostFacts(), node: process.versions.node, v8: process.versions.v8,
    runtime: `Node ${process.versions.node} (V8 ${process.versions.v8})`,
    packages: { assemblyscript: require("assemblyscript/package.json").version, ...peerVersions },
  };
}

/** The host a run measured on: "AMD EPYC (family 26, model 2), 2 cores, L1d 96 KiB, L2 2 MiB, L3 32 MiB". */
export function hostLabel(machine) {
  const h = machine.host;
  if (!h?.model) return `${machine.cpu}, ${machine.cores} cores`;
  const caches = Object.entries(h.caches).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`);
  return [`${h.model}${h.family ? ` (family ${h.family}, model ${h.modelNumber})` : ""}`, `${h.cpus ?? machine.cores} cores`, ...caches].join(", ");
}

/** "Node 20.20.2 (V8 11.3.244.8-node.38)" or "Chromium 156.0.7516.100" (older JSON lacks `runtime`). */
const runtimeLabel = (machine) => machine.runtime ?? `Node ${machine.node} (V8 ${machine.v8})`;
/** Name and major version: a patch update of the runtime replaces its section. */
const runtimeKey = (machine) => runtimeLabel(machine).match(/^(\S+) (\d+)/)?.slice(1).join(" ") ?? runtimeLabel(machine);
export const sectionKey = (machine) => `${hostLabel(machine)} | ${runtimeKey(machine)}`;
const isNode = (machine) => runtimeLabel(machine).startsWith("Node");

const OURS = { eval: "api eval", train: "api train forward", step: "api train step", backward: "raw backward" };
const mib = (bytes) => (bytes / 2 ** 20).toFixed(2);
const fixed = (v, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : "-");
const checkText = (check) => (check === null ? "" : `${check.passed ? "ok" : "FAILED"} ${check.error.toExponential(1)}`);

function table(header, rows) {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells) => `| ${cells.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join(" | ")} |`;
  return [line(header), `|${widths.map((w, c) => (c === 0 ? ":" : "") + "-".repeat(w + 1) + (c === 0 ? "" : ":")).join("|")}|`, ...rows.map(line)].join("\n");
}

/** One shape: every cell's median as a multiple of memory.copy's, spread, check, and peers' factor over ours. */
export function shapeTable(result) {
  const copy = result.rows.find((r) => r.name === "memory.copy").medianMs;
  const byName = Object.fromEntries(result.rows.map((r) => [r.name, r]));
  const rows = result.rows.map((r) => {
    const ours = byName[OURS[r.kind]];
    const isPeer = /tfjs|onnxruntime|JS loop/.test(r.name) && ours;
    return [r.name + (r.layoutNote ? ` (${r.layoutNote})` : ""), fixed(r.medianMs / copy), `±${fixed(r.spread * 50, 0)}%`, isPeer ? `${fixed(r.medianMs / ours.medianMs, 1)}x` : "", checkText(r.check)];
  });
  if (Number.isFinite(result.inGraphPerNodeMs)) rows.push(["onnxruntime-node in-graph cost per node", fixed(result.inGraphPerNodeMs / copy), "", `${fixed(result.inGraphPerNodeMs / byName["api eval"].medianMs, 1)}x`, ""]);
  const skipped = (result.skipped ?? []).map((s) => `\n\nNote: ${s.name} ${s.why}.`).join("");
  return `${result.shape} (${mib(result.bytes)} MiB per tensor; peak wasm memory of the API cells ${mib(result.peakWasmBytes)} MiB)\n` +
    table(["implementation", "time / memory.copy", "spread", "peer time / ours", "check vs float64"], rows) + skipped;
}

export function targetTable(results) {
  const rows = results.flatMap((r) => r.targets.map((t) => [t.shape, t.target, fixed(t.ratio), `${t.threshold > 1 && /\//.test(t.target) && !/ours/.test(t.target) ? "<=" : t.target.includes("ours") || t.target.includes("throughput") ? ">=" : "<="} ${t.threshold}`, t.met ? "met" : "MISSED"]));
  return table(["shape", "target", "ratio", "needed", "status"], rows);
}

// Columns of the one-line-per-shape summary: header, target name in targets.mjs.
const SUMMARY_COLUMNS = [
  ["eval vs stream", "inference vs f32x4 stream (throughput)"],
  ["eval vs copy", "inference vs memory.copy (throughput)"],
  ["train fwd / (sum + stream)", "train forward / (sum + stream)"],
  ["step / train fwd", "train step / train forward"],
  ["backward / least passes", "backward / (2-in sum + 2-in stream)"],
  ["CL / CF eval", LAYOUT_PAIR_TARGET],
  ["tfjs eval", "tfjs-wasm eval / ours"],
  ["tfjs train fwd", "tfjs-wasm train forward / ours"],
  ["tfjs step", "tfjs-wasm train step / ours"],
  ["ort-web eval", "onnxruntime-web eval / ours"],
  ["ort-web train fwd", "onnxruntime-web train forward / ours"],
  ["ort-node eval", "onnxruntime-node eval / ours"],
  ["ort-node train fwd", "onnxruntime-node train forward / ours"],
  ["ort-node in-graph", "onnxruntime-node in-graph per node / ours"],
];

/** A table of `lead` columns then `columns` ([header, ...]); a column empty in every row (e.g. ort-node in a page) is left out. */
function sparseTable(leadHeaders, columns, rows) {
  const lead = leadHeaders.length;
  const kept = columns.map((_, c) => c).filter((c) => rows.some((row) => row[lead + c] !== ""));
  return table([...leadHeaders, ...kept.map((c) => columns[c][0])], rows.map((row) => [...row.slice(0, lead), ...kept.map((c) => row[lead + c])]));
}

/** Every target ratio of a shape on one line; * marks a miss. */
export function summaryTable(results) {
  return sparseTable(["shape"], SUMMARY_COLUMNS, results.map((r) => {
    const byTarget = Object.fromEntries(r.targets.map((t) => [t.target, t]));
    return [r.shape, ...SUMMARY_COLUMNS.map(([, target]) => {
      const t = byTarget[target];
      return t ? `${fixed(t.ratio, t.ratio >= 10 ? 1 : 2)}${t.met ? "" : "*"}` : "";
    })];
  }));
}

export function diagnosticTable(results) {
  const names = Object.keys(results[0].diagnostics);
  return table(["shape", "tensor MiB", "peak wasm memory MiB", ...names], results.map((r) => [r.shape, mib(r.bytes), mib(r.peakWasmBytes), ...names.map((n) => fixed(r.diagnostics[n]))]));
}

/** Why channels-last eval trails the channels-first loop, for `rows` rows, from this run's paired-row baselines. */
function channelsLastLoop(rows, median) {
  const loaded = median["f32x4 paired rows, coefficients loaded"], held = median["f32x4 paired rows, coefficients held"];
  const measured = Number.isFinite(loaded / held)
    ? ` In this run the same paired loop takes ${fixed(loaded / held)}x as long with its coefficients loaded as with one triple held in registers (${fixed(held / median["f32x4 shifted stream"])}x the shifted stream), and eval ${fixed(median["api eval"] / loaded)}x the loaded loop: the loads are the gap${loaded / median["memory.copy"] < 1.1 ? ", which the bandwidth hides from DRAM" : ""}.`
    : "";
  return `each data vector needs its channels' three coefficient vectors; rows are taken in pairs (row r with row r + ${Math.floor(rows / 2)}), so two data vectors share one load of them, against none in the channels-first loop.${measured} Closing it would take the two-op form x * a + b (giving up exactness on offset data).`;
}

/** Why a target was missed, from what the same run measured. */
function explainMiss(t, result) {
  const d = result.diagnostics;
  const median = Object.fromEntries(result.rows.map((r) => [r.name, r.medianMs]));
  const vsCopy = (name) => median[name] / median["memory.copy"];
  const { N, C, S, channelsLast: rowsOfChannels } = result.geometry; // as the façade passes it to the kernels
  const perChannelValues = N * S;
  const trainTarget = result.targets.find((x) => x.target === "train forward / (sum + stream)")?.threshold ?? TRAIN_FORWARD_TARGET;
  const perChannelWork = perChannelValues <= 64 ? `; with ${perChannelValues} values per channel and ${C} channels, the per-channel float64 work (statistics, exactness check, coefficients) weighs against the pass` : "";
  if (t.target === LAYOUT_PAIR_TARGET) {
    return `channels-last eval takes ${fixed(t.ratio)}x the time of channels-first eval on the same values (${t.pairedWith}): ${channelsLastLoop(N * S, median)}`;
  }
  if (/^(inference|channels-last inference)/.test(t.target)) {
    if (result.bytes < 64 * 1024) return `a ${(result.bytes / 1024).toFixed(0)} KiB tensor: the fixed cost of a call (JS to wasm, argument checks, the per-channel loop; API/raw ${fixed(d["api eval / raw eval"])}) is comparable to the whole pass.`;
    const form = `eval computes (x - k) * s + t, one more vector op than the stream's x * a + b, because subtracting first keeps offset data exact; the f32x4 shifted stream doing exactly that is ${fixed(d["f32x4 shifted stream / f32x4 stream"])}x the stream, and eval is ${fixed(d["api eval / f32x4 shifted stream"])}x the shifted stream`;
    const rest = d["api eval / f32x4 shifted stream"] > 1.05;
    if (!rest) return `${form}: the exact form is the whole gap. Closing it would take x * a + b, giving up exactness on offset data.`;
    if (rowsOfChannels) return `${form}. The rest is the channels-last loop (${C} channels per row${S === 1 ? ": (N, C) data is channels-last in memory" : ""}): ${channelsLastLoop(N * S, median)}`;
    return `${form}. The rest is per-run cost: each of the ${N * C} (sample, channel) runs of ${S} values sets up its coefficients and leaves its loop${S % 4 ? `, ending in ${S % 4} scalar value${S % 4 > 1 ? "s" : ""}` : ""}.`;
  }
  // The training passes evaluate every element in float64 lanes (the accuracy bar of issue 10):
  // the same two passes as this run's f64x2 baselines are the fair floor.
  const float64Passes = median["f64x2 sum and sum of squares"] + median["f64x2 shifted stream"];
  const float64Note = (cell) => Number.isFinite(float64Passes)
    ? ` In float64 lanes (f64x2 sums around a pilot, then the affine promoted and demoted, as the library does so that each output is the float32 rounding of a float64 result) the same two passes take ${fixed(float64Passes / (median["f32x4 sum"] + median["f32x4 stream"]))}x (sum + stream) in this run's baselines, and ${cell} ${fixed(median[cell] / float64Passes)}x those`
    : "";
  if (/^train forward/.test(t.target)) {
    const statisticsFloor = (median["f32x4 sum and sum of squares"] + median["f32x4 stream"]) / (median["f32x4 sum"] + median["f32x4 stream"]);
    return `the statistics pass computes a sum and a sum of squares of shifted values: even in float32 lanes those two least passes alone are ${fixed(statisticsFloor)}x (sum + stream)${statisticsFloor > t.threshold ? ", above the target" : ""}.${float64Note("api train forward")}${perChannelWork}. Both passes are bound by their float64 arithmetic, not by reading x, so fusing them (x read once from memory, once from cache) would save little; the target needs float32 arithmetic, which misses the accuracy bar (float32 forms measured up to 1.5 ulp).`;
  }
  if (t.target === "train step / train forward") {
    const leastF32 = 1 + (median["f32x4 sum (2 in)"] + median["f32x4 stream (2 in)"]) / (median["f32x4 sum"] + median["f32x4 stream"]);
    return `a step is the forward plus a backward of two passes over two inputs (sums of dy and dy * (x - shift), then dx = (dy * A + (x - mean) * B) + C): raw backward takes ${fixed(median["raw backward"] / median["raw train forward"])}x the raw train forward here. Even the float32 least passes (2-in sum + 2-in stream against sum + stream) make a step ${fixed(leastF32)}x its forward in this run${leastF32 > t.threshold ? ", above the target: the backward must read x and dy twice and write dx, the forward reads x twice and writes y" : ""}; in float64 lanes the two-input passes carry twice the conversions of the one-input ones.`;
  }
  if (t.target === "API eval / f32x4 shifted stream") {
    const kernel = median["raw eval"] / median["f32x4 shifted stream"];
    const why = rowsOfChannels
      ? `one row of ${C} channels: each data vector loads its three coefficient vectors (no second row to share them with)`
      : `${N * C} runs of ${S} values: each run loads and splats its coefficients and leaves its loop`;
    return `the raw kernel alone takes ${fixed(kernel)}x the shifted stream (${why}), and the API ${fixed(d["api eval / raw eval"])}x the kernel (${fixed((median["api eval"] - median["raw eval"]) * 1e6, 0)} ns per call).`;
  }
  if (/^backward/.test(t.target)) {
    const float64Backward = median["f64x2 sum and sum of squares"] * 2 + median["f64x2 shifted stream"] * 2;
    const note = Number.isFinite(float64Backward)
      ? ` Both passes (sums of dy and dy * (x - shift), then dx) run in float64 lanes over two inputs: twice this run's one-input f64x2 passes is ${fixed(float64Backward / (median["f32x4 sum (2 in)"] + median["f32x4 stream (2 in)"]))}x the target's baseline, and raw backward ${fixed(median["raw backward"] / float64Backward)}x that`
      : "";
    return `the gradient pass subtracts each channel's shift before the product (exactness on offset data), and the dx pass uses the same exact form.${note}${rowsOfChannels ? `; channels-last rows of ${C} channels load eight float64 coefficient vectors per four channels` : ""}${perChannelWork}.`;
  }
  if (/tfjs|onnxruntime/.test(t.target)) {
    const ours = /train forward/.test(t.target) ? "api train forward" : "api eval";
    const needed = vsCopy(ours) * t.ratio / t.threshold;
    const why = needed < 1 ? "faster than copying the bytes: the peer is within that factor of the bandwidth limit here"
      : ours === "api train forward" ? `while meeting our own train-forward target (${trainTarget}x (sum + stream)) would put us at ${fixed(trainTarget * (vsCopy("f32x4 sum") + vsCopy("f32x4 stream")))}x: see that row`
        : `while the f32x4 shifted stream takes ${fixed(vsCopy("f32x4 shifted stream"))}x: see the inference row`;
    return `ours takes ${fixed(vsCopy(ours))}x memory.copy here (${ours}); ${t.threshold}x against this peer needs ${fixed(needed)}x, ${why}${/in-graph/.test(t.target) ? ". onnxruntime-node's native kernel inside a graph pays no JS-to-native call" : ""}.`;
  }
  if (/raw kernel/.test(t.target)) {
    const ours = /train/.test(t.target) ? ["api train forward", "raw train forward"] : ["api eval", "raw eval"];
    return `${fixed((median[ours[0]] - median[ours[1]]) * 1e6, 0)} ns per call over the kernel: the façade still checks each call's liveness of every tensor it touches, the options and mode, the layer's own tensors and the coefficients' versions (the geometry of a repeated (x, out) pair is cached), records the forward for backward, and crosses from JS to wasm once; the raw cell is the bare export call.`;
  }
  return "";
}

/** One family shape: every cell against memory.copy and the f32x4 stream, spread, check, and peers' factor over ours. */
export function familyShapeTable(result) {
  const byName = Object.fromEntries(result.rows.map((r) => [r.name, r]));
  const copy = byName["memory.copy"].medianMs, stream = byName["f32x4 stream"].medianMs;
  const ours = byName[oursFor(result)];
  const rows = result.rows.map((r) => {
    const against = r.kind === "peer-step" ? byName["api train step"] : /^(peer|chain)$/.test(r.kind) ? ours : null;
    return [r.name, fixed(r.medianMs / copy), fixed(r.medianMs / stream), `±${fixed(r.spread * 50, 0)}%`, against && r.kind !== "chain" ? `${fixed(r.medianMs / against.medianMs, 1)}x` : "", checkText(r.check)];
  });
  if (Number.isFinite(result.inGraphPerNodeMs)) rows.push(["onnxruntime-node in-graph cost per node", fixed(result.inGraphPerNodeMs / copy), fixed(result.inGraphPerNodeMs / stream), "", `${fixed(result.inGraphPerNodeMs / ours.medianMs, 1)}x`, ""]);
  const { count, length } = result.geometry.groups;
  return `${result.shape}, ${result.model} (${mib(result.bytes)} MiB per tensor; ${count} statistics groups of ${length}; peak wasm memory of the API cells ${mib(result.peakWasmBytes)} MiB; peers vs ${ours.name})\n` +
    table(["implementation", "time / memory.copy", "time / f32x4 stream", "spread", "peer time / ours", "check vs float64"], rows);
}

// The family's one-line-per-shape summary: header, diagnostic or target name.
const FAMILY_COLUMNS = [
  ["eval vs stream", "eval vs f32x4 stream (throughput)"],
  ["eval vs copy", "eval vs memory.copy (throughput)"],
  ["two f32x4 passes vs stream", "two f32x4 passes vs stream (throughput)"],
  ["two f64x2 passes vs stream", "two f64x2 passes vs stream (throughput)"],
  ["eval / two f64x2 passes", "eval / two f64x2 passes"],
  ["instance fwd vs stream", "instance forward vs f32x4 stream (throughput)"],
  ["step / least passes", "train step / least passes"],
  ["ort-web / ours", "onnxruntime-web session.run / ours"],
  ["ort-node run / ours", "onnxruntime-node session.run / ours"],
  ["ort-node in-graph / ours", "onnxruntime-node in-graph per node / ours"],
  ["tfjs LN composed / ours", "tfjs LN composed / ours"],
];

/** Per family shape: targets (* = missed) and the diagnostics that explain them. */
export function familySummaryTable(results) {
  return sparseTable(["shape", "MiB"], FAMILY_COLUMNS, results.map((r) => {
    const byTarget = Object.fromEntries(r.targets.map((t) => [t.target, t]));
    return [r.shape, mib(r.bytes), ...FAMILY_COLUMNS.map(([, name]) => {
      const t = byTarget[name], v = t ? t.ratio : r.diagnostics[name];
      return Number.isFinite(v) ? `${fixed(v, v >= 10 ? 1 : 2)}${t && !t.met ? "*" : ""}` : "";
    })];
  }));
}

function familyMarkdown(family, tfjsVersion) {
  if (!family?.length) return "";
  const withOrtNode = family.some((r) => r.rows.some((row) => row.name.startsWith("onnxruntime-node")));
  const all = family.flatMap((r) => r.targets), missed = all.filter((t) => !t.met);
  const operators = [...new Map(family.map((r) => [r.norm, onnxOperator(r)])).entries()].map(([norm, op]) => `${norm}: ${op}`).join("; ");
  return `
### The normalization family

Issue 11's shapes, measured with the same method in the same run. Ours is the
public API with tensors in wasm memory and caller-given outputs: "api eval" is
the eval forward (for LayerNorm, RMSNorm and GroupNorm the same computation as
the training forward, since their statistics are the input's; for
InstanceNorm2d the running statistics), "api forward (instance statistics)" an
InstanceNorm2d without running statistics (torch's default, and what ONNX's
InstanceNormalization computes; the peers are compared with it), "api train
step" the training forward + backward into dx. Peers: ${withOrtNode ? `ONNX Runtime Web (wasm,
one thread) and Node (native CPU, one thread), single-node graphs (${operators}),
and onnxruntime-node's 32-node chain for its in-graph cost per node.` : `ONNX Runtime Web (wasm,
one thread), single-node graphs (${operators}); onnxruntime-node does not run in a page.`}
TensorFlow.js: tfjs-core ${tfjsVersion} has no layer-norm, RMS-norm, group-norm or
instance-norm op (tfjs-layers, whose layerNormalization would be the op, is not
a dependency), so its cells are LayerNorm composed from tfjs-core ops, marked
"composed": tf.moments over the last axis, then elementwise sub, rsqrt, mul and
add, and its gradient for the train step (tf.batchNorm takes per-channel
statistics only); RMSNorm, GroupNorm and InstanceNorm have no tfjs cell. "Two f32x4 passes" is the least work of a
norm that reads its input twice: f32x4 sum and sum of squares, then the f32x4
shifted stream; "two f64x2 passes" the same two passes in float64 lanes
(promote, compute, demote), the arithmetic the library's family kernels use.

Targets: eval at >= 0.9x the f32x4 stream's throughput on tensors of 1 MiB and
more, onnxruntime-web's session.run >= 5x ours, onnxruntime-node's in-graph
kernel no faster than ours (>= 1x)${withOrtNode ? "" : " (not measured in a page)"}. Other columns are diagnostics.

${familySummaryTable(family)}

${targetTable(family)}

${missed.length === 0 ? "All family targets met." : `${missed.length} of ${all.length} family targets missed:`}

${family.flatMap((r) => r.targets.filter((t) => !t.met).map((t) => `- ${t.shape}, ${t.target}: ${fixed(t.ratio)} (needed ${t.threshold}). ${explainFamilyMiss(t, r)}`)).join("\n")}

#### Per family shape

${family.map(familyShapeTable).join("\n\n")}
`;
}

// The headline ratios summarised at the top of RESULTS.md: label, which results
// ("results" = BatchNorm's, "family"), the target's name in targets.mjs or
// family-targets.mjs, and which way is better.
const HEADLINES = [
  ["BatchNorm eval vs f32x4 stream (throughput)", "results", "inference vs f32x4 stream (throughput)", "higher"],
  ["BatchNorm eval vs memory.copy (throughput, >= 1 MiB)", "results", "inference vs memory.copy (throughput)", "higher"],
  ["BatchNorm train forward / (sum + stream) (time)", "results", "train forward / (sum + stream)", "lower"],
  ["family eval vs f32x4 stream (throughput, >= 1 MiB)", "family", "eval vs f32x4 stream (throughput)", "higher"],
  ...["eval", "train forward", "train step"].map((kind) => [`tfjs-wasm ${kind} / ours`, "results", `tfjs-wasm ${kind} / ours`, "higher"]),
  ...["web", "node"].flatMap((which) => ["eval", "train forward"].map((kind) => [`onnxruntime-${which} ${kind} / ours`, "results", `onnxruntime-${which} ${kind} / ours`, "higher"])),
  ["onnxruntime-node in-graph per node / ours", "results", "onnxruntime-node in-graph per node / ours", "higher"],
  ["family: onnxruntime-web session.run / ours", "family", "onnxruntime-web session.run / ours", "higher"],
  ["family: onnxruntime-node in-graph per node / ours", "family", "onnxruntime-node in-graph per node / ours", "higher"],
];

/** Per headline: [min, max, shapes] over a run's shapes (absent when the run has none). */
function headlineRanges(output) {
  const ranges = {};
  for (const [label, from, target] of HEADLINES) {
    const ratios = (output[from] ?? []).flatMap((r) => r.targets.filter((t) => t.target === target && Number.isFinite(t.ratio)).map((t) => t.ratio));
    if (ratios.length) ranges[label] = [Math.min(...ratios), Math.max(...ratios), ratios.length];
  }
  return ranges;
}

const rangeText = ([min, max]) => {
  const digits = (v) => (v >= 10 ? 1 : 2);
  return min === max ? fixed(min, digits(min)) : `${fixed(min, digits(min))} to ${fixed(max, digits(max))}`;
};

/** One run's section of RESULTS.md, markers included. */
function runSection(output) {
  const { machine, results } = output;
  const family = output.family ?? [];
  const all = results.flatMap((r) => r.targets);
  const missed = all.filter((t) => !t.met);
  const failedChecks = [...results, ...family].flatMap((r) => r.rows.filter((row) => row.check && !row.check.passed).map((row) => `${r.shape}: ${row.name}`));
  const node = isNode(machine);
  const page = machine.page ? ` The page: ${machine.page.userAgent}; navigator.hardwareConcurrency ${machine.page.hardwareConcurrency}; cross-origin isolated: ${machine.page.crossOriginIsolated ? "yes" : "no"}.` : "";
  const batchNorm = results.length === 0 ? "" : `
### Summary

Ratios from the targets below, one line per shape (* = target missed). Throughput
ratios and peer factors: higher is better; "train fwd / (sum + stream)" and
"backward / least passes" are time ratios: lower is better.

${summaryTable(results)}

### Targets

${targetTable(results)}

${missed.length === 0 ? "All targets met." : `${missed.length} of ${all.length} targets missed:`}

${results.flatMap((r) => r.targets.filter((t) => !t.met).map((t) => `- ${t.shape}, ${t.target}: ${fixed(t.ratio)} (needed ${t.threshold}). ${explainMiss(t, r)}`)).join("\n")}

### Diagnostics (not targets)

${diagnosticTable(results)}

### Per shape

${results.map(shapeTable).join("\n\n")}
`;
  return `<!-- run: ${sectionKey(machine)} -->
## ${runtimeLabel(machine)} on ${hostLabel(machine)}

Written by \`${node ? "npm run bench" : "npm run bench:browser"}\` on ${output.date.slice(0, 10)} (wall time ${output.wallSeconds.toFixed(0)} s)${output.smoke ? "; a smoke run (one short round per cell): not a measurement" : ""}.

- Machine: ${machine.cpu}, ${machine.cores} logical cores (shared; medians of ${output.settings.rounds} interleaved rounds).${page}
- Runtime: ${runtimeLabel(machine)}${node ? "" : ` (driven from Node ${machine.node})`}; batchnorm-wasm ${output.build} build.
- Packages: ${Object.entries(machine.packages).map(([k, v]) => `${k} ${v}`).join(", ")}.
- Every implementation was checked against a float64 reference before timing: ${failedChecks.length === 0 ? "all checks passed" : `FAILED: ${failedChecks.join("; ")}`}.
${node ? "" : "- Peers in the page: TensorFlow.js (wasm backend) and ONNX Runtime Web (wasm), one thread each; onnxruntime-node does not run in a page.\n"}${batchNorm}${familyMarkdown(family, machine.packages.tfjs)}
<!-- headline: ${JSON.stringify({ runtime: runtimeLabel(machine), host: hostLabel(machine), ranges: headlineRanges(output) })} -->
<!-- end run -->
`;
}

const SECTION = /<!-- run: (.*?) -->\n([\s\S]*?)<!-- end run -->\n?/g;
const LEGACY_KEY = "earlier Node run | before per-host sections";

/** The sections of an existing RESULTS.md, key -> text; a file written before sections existed becomes one legacy section. */
function parseSections(text) {
  const sections = new Map();
  for (const [whole, key] of text.matchAll(SECTION)) sections.set(key, whole.endsWith("\n") ? whole : `${whole}\n`);
  if (sections.size === 0 && text.startsWith("# Benchmark results")) {
    const body = text.replace(/^# Benchmark results\n/, "").replace(/^(#+) /gm, "#$1 ").trim();
    sections.set(LEGACY_KEY, `<!-- run: ${LEGACY_KEY} -->\n## An earlier Node run (written before this file had one section per host and runtime; the next full \`npm run bench\` replaces it)\n\n${body}\n<!-- end run -->\n`);
  }
  return sections;
}

/** Top of the file: per headline ratio, its range over the shapes of each section and across all sections. */
function headlineSummary(sections) {
  const runs = [...sections.values()].map((text) => text.match(/<!-- headline: (.*) -->/)?.[1]).filter(Boolean).map((json) => JSON.parse(json));
  const unrecorded = [...sections.values()].filter((text) => !text.includes("<!-- headline: ")).map((text) => text.match(/^## (.*)$/m)?.[1] ?? "a section");
  const notIn = unrecorded.map((heading) => `- not in this summary (no recorded headline ratios): ${heading}`).join("\n");
  if (runs.length === 0) return notIn ? `${notIn}\n` : "";
  const hosts = [...new Set(runs.map((r) => r.host))];
  const column = (r) => `${r.runtime.match(/^(\S+ [\d.]+)/)?.[1] ?? r.runtime}${hosts.length > 1 ? ` (host ${hosts.indexOf(r.host) + 1})` : ""}`;
  const rows = HEADLINES.filter(([label]) => runs.some((r) => r.ranges[label])).map(([label, , , better]) => {
    const present = runs.map((r) => r.ranges[label]).filter(Boolean);
    const overall = [Math.min(...present.map((p) => p[0])), Math.max(...present.map((p) => p[1]))];
    return [label, better, ...runs.map((r) => (r.ranges[label] ? rangeText(r.ranges[label]) : "")), rangeText(overall)];
  });
  return `## Headline ratios across the sections below

Each cell is the range of a ratio over that run's shapes (minimum to maximum);
the last column is the range across all sections. Sections measured on
different hosts or runtimes are not comparable figure by figure: the ranges
show how far each ratio moves.

${table(["ratio", "better", ...runs.map(column), "all sections"], rows)}

${[...hosts.map((h, i) => `- host ${i + 1}: ${h}`), ...(notIn ? [notIn] : [])].join("\n")}
`;
}

/**
 * The whole of RESULTS.md: `existing` (the current file's text, or "") with
 * this run's section replaced or added and the top summary rebuilt. A Node
 * run also drops the legacy section of a file written before sections.
 */
export function resultsMarkdown(output, existing = "") {
  const sections = parseSections(existing);
  if (isNode(output.machine)) sections.delete(LEGACY_KEY);
  sections.set(sectionKey(output.machine), runSection(output));
  const ordered = new Map([...sections.entries()].sort(([a], [b]) => a.localeCompare(b)));
  return `# Benchmark results

The last full run per host and runtime, one section each: \`npm run bench\`
(Node) and \`npm run bench:browser\` (headless Chromium) each replace only their
own section. A host is named by its CPU model, logical cores and cache sizes
(lscpu).

Times are given only as ratios measured in the same run. "time / memory.copy" is
a cell's median time over wasm \`memory.copy\` of the same bytes; "peer time /
ours" divides a peer's median by this library's matching public-API cell
(eval, train forward, or train step = forward + backward). "spread" is half
the range of the rounds around the median. TensorFlow.js runs on NHWC tensors
(its layout); ONNX Runtime on NCHW (its layout), also for the channels-last rows.

${headlineSummary(ordered)}
${[...ordered.values()].join("\n")}`;
}

/** Writes `path` from this run, keeping the other sections already in it. */
export function writeResultsMarkdown(path, output) {
  writeFileSync(path, resultsMarkdown(output, existsSync(path) ? readFileSync(path, "utf8") : ""));
}
