// Which wasm build the conformance suite is testing. Runtime-neutral: the
// cross-runtime runners set globalThis.__BN_BUILD__, vitest sets BN_BUILD.
export type BuildName = "simd" | "scalar";

export function testBuild(): BuildName {
  const fromGlobal = (globalThis as { __BN_BUILD__?: string }).__BN_BUILD__;
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const chosen = fromGlobal ?? proc?.env?.BN_BUILD ?? "simd";
  if (chosen !== "simd" && chosen !== "scalar") throw new Error(`unknown build ${chosen}`);
  return chosen;
}
