// Seeded generators, so every runtime and build sees the same inputs.

/** Uniform [0, 1) (mulberry32); one implementation, shared with the demo and examples. */
export { seededRandom } from "../../shared/random.mjs";

/** Standard normal values (Box-Muller) as float32. */
export function normalArray(random: () => number, length: number, mean = 0, std = 1): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const u = 1 - random(), v = random();
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}
