// Reads (N, C, S) and the memory layout from a tensor's shape.
import { fail } from "./errors.ts";
import type { Layout, Tensor } from "./tensor.ts";

export interface Geometry {
  readonly N: number;
  readonly C: number;
  /** Product of the spatial sizes (1 for rank 2). */
  readonly S: number;
  /** Values per channel, N * S. */
  readonly count: number;
  /**
   * Channel is the innermost axis in memory: channels-last, and also rank 2 or
   * S = 1 in channels-first, where both layouts are the same bytes.
   */
  readonly channelsLast: boolean;
}

/** Geometry of `x` ([N, C, ...spatial] or [N, ...spatial, C]), with rank and layout checks. */
export function geometryOf(x: Tensor, layout: Layout, argument: string): Geometry {
  x.assertLive(argument);
  const shape = x.shape;
  if (shape.length < 2 || shape.length > 5) {
    fail("ERR_RANK", argument, `must have rank 2 to 5 ([N, C] to [N, C, D, H, W]), got rank ${shape.length}`);
  }
  if (x.layout !== undefined && x.layout !== layout) {
    fail("ERR_LAYOUT", argument, `is tagged ${x.layout} but the operation uses ${layout}`);
  }
  const N = shape[0];
  const channelsLastShape = layout === "channels-last";
  const C = channelsLastShape ? shape[shape.length - 1] : shape[1];
  const S = x.size / (N * C);
  return { N, C, S, count: N * S, channelsLast: channelsLastShape || S === 1 };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws ERR_SHAPE unless `t` is live and has `shape`. */
export function checkSameShape(t: Tensor, shape: readonly number[], argument: string, what: string): void {
  t.assertLive(argument);
  if (!sameShape(t.shape, shape)) {
    fail("ERR_SHAPE", argument, `must have the shape of ${what} [${shape.join(", ")}], got [${t.shape.join(", ")}]`);
  }
}

export function checkEps(eps: unknown, argument: string): number {
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0) {
    fail("ERR_EPS", argument, `must be a finite number >= 0, got ${String(eps)}`);
  }
  return eps;
}
