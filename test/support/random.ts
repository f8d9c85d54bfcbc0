// Seeded generators, so every runtime and build sees the same inputs.

/** Uniform [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values (Box-Muller) as float32. */
export function normalArray(random: () => number, length: number, mean = 0, std = 1): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const u = 1 - random(), v = random();
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}
