// Timing: warm every cell, size its repetitions so one round lasts about
// `roundMs`, then run rounds with the cells interleaved (the order rotates
// each round) and keep every round's time per call.

async function callMany(cell, reps) {
  const started = performance.now();
  if (cell.async) for (let i = 0; i < reps; i++) await cell.run();
  else for (let i = 0; i < reps; i++) cell.run();
  return performance.now() - started;
}

/** Warms until `minCalls` calls and either `maxCalls` calls or `maxMs` have passed (V8 tiers up lazily). */
export async function warm(cell, { minCalls, maxCalls, maxMs }) {
  const started = performance.now();
  let calls = 0;
  while (calls < minCalls || (calls < maxCalls && performance.now() - started < maxMs)) {
    await callMany(cell, 10);
    calls += 10;
  }
  return calls;
}

/** Repetitions per round so that a round takes about `roundMs`. */
export async function calibrate(cell, roundMs) {
  let reps = 1;
  for (;;) {
    const ms = await callMany(cell, reps);
    if (ms >= roundMs / 4 || reps >= 1 << 20) return Math.max(1, Math.round((reps * roundMs) / Math.max(ms, 1e-3)));
    reps *= 4;
  }
}

/** Interleaved rounds; returns per-cell arrays of milliseconds per call. */
export async function timeRounds(cells, rounds) {
  const samples = cells.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < cells.length; j++) {
      const i = (j + r) % cells.length;
      samples[i].push((await callMany(cells[i], cells[i].reps)) / cells[i].reps);
    }
  }
  return samples;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Spread of the rounds: (max - min) / median. */
export function spread(values) {
  return (Math.max(...values) - Math.min(...values)) / median(values);
}
