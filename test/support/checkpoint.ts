// The checkpoint fixtures of test/fixtures/generate-checkpoints.py (torch 1.13,
// a CNN trained on scikit-learn's digits), decoded runtime-neutrally.
import cases from "../fixtures/checkpoint-cases.json";
import { decodeFloat32, decodeFloat64 } from "../fixtures/decode.ts";

export const checkpointCases = cases as unknown as {
  torch: string; trainedSeconds: number; testAccuracy: number; checkpoint: string; metadata: Record<string, string>;
  keys: string[]; shapes: Record<string, number[]>;
  sample: { shape: number[]; x: string; logits: string; fusedLogits: string; labels: number[] };
  activations: { prefix: string; shape: number[]; x: string; y: string; exact: string; torchError: number }[];
  fused: { layer: string; bn: string; kind: "conv" | "linear"; groups: number; shape: number[]; hasBias: boolean; torchWeight: string; torchBias: string; exactWeight: string; exactBias: string }[];
  dtypeFiles: { dtype: string; bytes: string; expected: Record<string, string>; shapes: Record<string, number[]>; count: number }[];
  foldCases: {
    name: string; transposed: boolean; groups: number; shape: number[]; weight: string; bias: string | null;
    bn: { running_mean: string; running_var: string; weight: string; bias: string; eps: number };
    exactWeight: string; exactBias: string; torchWeight?: string; torchBias?: string; referenceCheck: number;
  }[];
};

export function decodeBytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export { decodeFloat32, decodeFloat64 };

/** The torch checkpoint's bytes (the same bytes as test/fixtures/digits-cnn.safetensors). */
export const checkpointBytes = (): Uint8Array => decodeBytes(checkpointCases.checkpoint);

/** Half a float32 ulp of `value` (the most a correctly rounded float32 can be off). */
export function halfUlp32(value: number): number {
  const a = Math.abs(value);
  if (a < 2 ** -126) return 2 ** -150;
  return 2 ** (Math.floor(Math.log2(a)) - 24);
}
