import { defineConfig } from "vitest/config";

// The conformance suite runs once per build; Node-only tests (browsers,
// packaging, bench smoke, demo) run once.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      ...(["simd", "scalar"] as const).map((build) => ({
        extends: true as const,
        test: { name: `node-${build}`, include: ["test/conformance/**/*.test.ts"], env: { BN_BUILD: build } },
      })),
      { extends: true as const, test: { name: "node-only", include: ["test/node/**/*.test.ts"] } },
    ],
  },
});
