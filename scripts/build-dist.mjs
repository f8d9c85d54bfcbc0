// Bundles the facade (with the embedded wasm) into dist/ as ESM and CJS.
import { build } from "esbuild";

const common = { entryPoints: ["src/index.ts"], bundle: true, platform: "neutral", target: "es2022", external: [] };
await build({ ...common, format: "esm", outfile: "dist/index.js", mainFields: ["module", "main"] });
await build({ ...common, format: "cjs", outfile: "dist/index.cjs", mainFields: ["module", "main"] });
console.log("bundled dist/index.js and dist/index.cjs");
