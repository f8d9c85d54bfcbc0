// Loads the embedded wasm builds through @assemblyscript/loader and chooses one.
import { instantiate } from "@assemblyscript/loader";
import { BatchNormError, fail } from "./errors.ts";
import { readChoice, readOptions } from "./options.ts";
import { wasmBase64 as simdBase64 } from "./generated/wasm-simd.ts";
import { wasmBase64 as scalarBase64 } from "./generated/wasm-scalar.ts";

export type BuildName = "simd" | "scalar";

export type { Kernels } from "./kernels.ts";
import type { Kernels } from "./kernels.ts";

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const wasmBytes: Record<BuildName, () => Uint8Array<ArrayBuffer>> = {
  simd: () => decodeBase64(simdBase64),
  scalar: () => decodeBase64(scalarBase64),
};

/** The single-build entry points (batchnorm-wasm/simd, /scalar) embed the other build as "" (scripts/build-dist.mjs). */
const embedded = (build: BuildName): boolean => (build === "simd" ? simdBase64 : scalarBase64).length > 0;

let simdValid: boolean | undefined;

/** Whether this engine accepts the SIMD build: validates the real bytes, no hand-written probe. False in batchnorm-wasm/scalar. */
export function simdSupported(): boolean {
  simdValid ??= embedded("simd") && WebAssembly.validate(wasmBytes.simd());
  return simdValid;
}

const loading = new Map<BuildName, Promise<Kernels>>();

/** Instantiates one build (memoised per build). Tests use it to compare builds. */
export function loadBuild(build: BuildName): Promise<Kernels> {
  let pending = loading.get(build);
  if (!pending) {
    // The loader supplies the imports (abort); its demangled exports wrap each
    // function in a rest/spread closure, so calls go to the raw instance exports.
    pending = instantiate(wasmBytes[build](), {}).then(({ instance }) => {
      // A spread object literal keeps fast properties (Object.create(null) starts a
      // dictionary, measured ~30 ns more per call on small tensors).
      const kernels = { ...instance.exports, build } as unknown as Kernels;
      if (kernels.isSimdBuild() !== (build === "simd" ? 1 : 0)) fail("ERR_BUILD", "build", `the ${build} bytes report the other build`);
      return kernels;
    });
    loading.set(build, pending);
  }
  return pending;
}

export interface InitOptions {
  /** "auto" (default) picks SIMD when WebAssembly.validate accepts it, else scalar. */
  build?: "auto" | BuildName;
}

let chosen: BuildName | undefined;
let active: Kernels | undefined;
let ready: Promise<{ build: BuildName }> | undefined;

/** Loads the library once; later calls return the same promise. */
export function init(options?: InitOptions): Promise<{ build: BuildName }> {
  let requested: "auto" | BuildName;
  try {
    const o = readOptions(options, "options", ["build"] as const);
    requested = readChoice(o.build, "options.build", ["auto", "simd", "scalar"] as const, "auto", "ERR_BUILD");
  } catch (error) {
    return Promise.reject(error);
  }
  if (chosen !== undefined) {
    if (requested !== "auto" && requested !== chosen) {
      return Promise.reject(new BatchNormError("ERR_BUILD", "options.build", `already initialised with the ${chosen} build`));
    }
    return ready!;
  }
  const build: BuildName = requested === "auto" ? (simdSupported() ? "simd" : "scalar") : requested;
  if (!embedded(build)) {
    const why = requested === "auto" ? "this engine does not support wasm SIMD, and " : "";
    return Promise.reject(new BatchNormError("ERR_BUILD", "options.build", `${why}this entry point holds only the ${build === "simd" ? "scalar" : "SIMD"} build: import "batchnorm-wasm" (both builds) or "batchnorm-wasm/${build}"`));
  }
  if (build === "simd" && !simdSupported()) {
    return Promise.reject(new BatchNormError("ERR_BUILD", "options.build", "this engine does not support wasm SIMD"));
  }
  chosen = build;
  ready = loadBuild(build).then((kernels) => {
    active = kernels;
    return { build };
  });
  return ready;
}

/** The initialised kernels; throws ERR_NOT_INITIALIZED before init() resolved. */
export function kernels(): Kernels {
  return active ?? fail("ERR_NOT_INITIALIZED", "init", "await init() before using the library");
}

/** The build in use. */
export function activeBuild(): BuildName {
  return kernels().build;
}

/** Current size of the wasm memory in bytes. */
export function wasmMemoryBytes(): number {
  return kernels().memory.buffer.byteLength;
}
