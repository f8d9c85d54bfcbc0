// Element-wise per-channel passes. Every element is computed by the same
// float32 operations in the same order in both builds, so their bits agree.
//   affine:    y  = (x - shift[c]) * scale[c] + offset[c]
//   gradient:  dx = (dy * coefDy[c] + (x - shift[c]) * coefX[c]) + coefConst[c]
// Channels-first (N, C, S): a run of S contiguous elements per (n, c).
// Channels-last (R rows of C): channel vectors are loaded once per 4 rows.
// Input and output may be the same tensor (each element is read before it is written).

// Channels-last rows at most this long (in channels) are processed 4 rows at a time.
const GROUPED_ROWS_MAX_CHANNELS: i32 = 256;

/** y = (x - shift) * scale + offset, per channel. */
export function applyAffine(
  x: usize, y: usize, N: i32, C: i32, S: i32, channelsLast: bool,
  shift: usize, scale: usize, offset: usize,
): void {
  if (channelsLast) affineChannelsLast(x, y, N * S, C, shift, scale, offset);
  else affineChannelsFirst(x, y, N, C, S, shift, scale, offset);
}

@inline
function affineChannelsFirst(x: usize, y: usize, N: i32, C: i32, S: i32, shift: usize, scale: usize, offset: usize): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const cb = <usize>c << 2;
      const k = load<f32>(shift + cb), s = load<f32>(scale + cb), t = load<f32>(offset + cb);
      const runByte = ((<usize>n * C + c) * S) << 2;
      const px = x + runByte, py = y + runByte;
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        const kv = f32x4.splat(k), sv = f32x4.splat(s), tv = f32x4.splat(t);
        for (; i + 8 <= S; i += 8) {
          const p = px + (<usize>i << 2), q = py + (<usize>i << 2);
          const v0 = v128.load(p), v1 = v128.load(p, 16);
          v128.store(q, f32x4.add(f32x4.mul(f32x4.sub(v0, kv), sv), tv));
          v128.store(q, f32x4.add(f32x4.mul(f32x4.sub(v1, kv), sv), tv), 16);
        }
        if (i + 4 <= S) {
          const p = px + (<usize>i << 2);
          v128.store(py + (<usize>i << 2), f32x4.add(f32x4.mul(f32x4.sub(v128.load(p), kv), sv), tv));
          i += 4;
        }
      }
      for (; i < S; i++) {
        const b = <usize>i << 2;
        store<f32>(py + b, (load<f32>(px + b) - k) * s + t);
      }
    }
  }
}

@inline
function affineChannelsLast(x: usize, y: usize, R: i32, C: i32, shift: usize, scale: usize, offset: usize): void {
  const rowBytes = <usize>C << 2;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    // Groups of 4 rows share one load of each channel vector. Only for short
    // rows: with long power-of-two rows the grouped accesses measured slower.
    for (; r + 4 <= R && C <= GROUPED_ROWS_MAX_CHANNELS; r += 4) {
      const base = <usize>r * rowBytes;
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2;
        const kv = v128.load(shift + cb), sv = v128.load(scale + cb), tv = v128.load(offset + cb);
        const p = x + base + cb, q = y + base + cb;
        const v0 = v128.load(p), v1 = v128.load(p + rowBytes), v2 = v128.load(p + 2 * rowBytes), v3 = v128.load(p + 3 * rowBytes);
        v128.store(q, f32x4.add(f32x4.mul(f32x4.sub(v0, kv), sv), tv));
        v128.store(q + rowBytes, f32x4.add(f32x4.mul(f32x4.sub(v1, kv), sv), tv));
        v128.store(q + 2 * rowBytes, f32x4.add(f32x4.mul(f32x4.sub(v2, kv), sv), tv));
        v128.store(q + 3 * rowBytes, f32x4.add(f32x4.mul(f32x4.sub(v3, kv), sv), tv));
      }
      for (; c < C; c++) {
        const cb = <usize>c << 2;
        const k = load<f32>(shift + cb), s = load<f32>(scale + cb), t = load<f32>(offset + cb);
        for (let j = 0; j < 4; j++) {
          const e = base + <usize>j * rowBytes + cb;
          store<f32>(y + e, (load<f32>(x + e) - k) * s + t);
        }
      }
    }
  }
  for (; r < R; r++) {
    const base = <usize>r * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2;
        v128.store(y + base + cb, f32x4.add(f32x4.mul(f32x4.sub(v128.load(x + base + cb), v128.load(shift + cb)), v128.load(scale + cb)), v128.load(offset + cb)));
      }
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2;
      store<f32>(y + base + cb, (load<f32>(x + base + cb) - load<f32>(shift + cb)) * load<f32>(scale + cb) + load<f32>(offset + cb));
    }
  }
}

/** dx = (dy * coefDy + (x - shift) * coefX) + coefConst, per channel. */
export function applyGradient(
  x: usize, dy: usize, dx: usize, N: i32, C: i32, S: i32, channelsLast: bool,
  shift: usize, coefDy: usize, coefX: usize, coefConst: usize,
): void {
  if (channelsLast) gradientChannelsLast(x, dy, dx, N * S, C, shift, coefDy, coefX, coefConst);
  else gradientChannelsFirst(x, dy, dx, N, C, S, shift, coefDy, coefX, coefConst);
}

@inline
function gradientChannelsFirst(x: usize, dy: usize, dx: usize, N: i32, C: i32, S: i32, shift: usize, coefDy: usize, coefX: usize, coefConst: usize): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const cb = <usize>c << 2;
      const k = load<f32>(shift + cb), a = load<f32>(coefDy + cb), b = load<f32>(coefX + cb), t = load<f32>(coefConst + cb);
      const runByte = ((<usize>n * C + c) * S) << 2;
      const px = x + runByte, pg = dy + runByte, pd = dx + runByte;
      let i = 0;
      if (ASC_FEATURE_SIMD) {
        const kv = f32x4.splat(k), av = f32x4.splat(a), bv = f32x4.splat(b), tv = f32x4.splat(t);
        for (; i + 4 <= S; i += 4) {
          const e = <usize>i << 2;
          const xv = v128.load(px + e), gv = v128.load(pg + e);
          v128.store(pd + e, f32x4.add(f32x4.add(f32x4.mul(gv, av), f32x4.mul(f32x4.sub(xv, kv), bv)), tv));
        }
      }
      for (; i < S; i++) {
        const e = <usize>i << 2;
        store<f32>(pd + e, (load<f32>(pg + e) * a + (load<f32>(px + e) - k) * b) + t);
      }
    }
  }
}

@inline
function gradientChannelsLast(x: usize, dy: usize, dx: usize, R: i32, C: i32, shift: usize, coefDy: usize, coefX: usize, coefConst: usize): void {
  const rowBytes = <usize>C << 2;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    // Groups of 2 rows share one load of each channel vector.
    for (; r + 2 <= R; r += 2) {
      const base = <usize>r * rowBytes;
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const cb = <usize>c << 2;
        const kv = v128.load(shift + cb), av = v128.load(coefDy + cb), bv = v128.load(coefX + cb), tv = v128.load(coefConst + cb);
        const e0 = base + cb, e1 = e0 + rowBytes;
        v128.store(dx + e0, f32x4.add(f32x4.add(f32x4.mul(v128.load(dy + e0), av), f32x4.mul(f32x4.sub(v128.load(x + e0), kv), bv)), tv));
        v128.store(dx + e1, f32x4.add(f32x4.add(f32x4.mul(v128.load(dy + e1), av), f32x4.mul(f32x4.sub(v128.load(x + e1), kv), bv)), tv));
      }
      for (; c < C; c++) {
        const cb = <usize>c << 2;
        const k = load<f32>(shift + cb), a = load<f32>(coefDy + cb), b = load<f32>(coefX + cb), t = load<f32>(coefConst + cb);
        for (let j = 0; j < 2; j++) {
          const e = base + <usize>j * rowBytes + cb;
          store<f32>(dx + e, (load<f32>(dy + e) * a + (load<f32>(x + e) - k) * b) + t);
        }
      }
    }
  }
  for (; r < R; r++) {
    const base = <usize>r * rowBytes;
    for (let c = 0; c < C; c++) {
      const cb = <usize>c << 2, e = base + cb;
      store<f32>(dx + e, (load<f32>(dy + e) * load<f32>(coefDy + cb) + (load<f32>(x + e) - load<f32>(shift + cb)) * load<f32>(coefX + cb)) + load<f32>(coefConst + cb));
    }
  }
}
