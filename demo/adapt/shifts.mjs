// Shifted test digits a device could plausibly see: contrast and brightness,
// blur, Gaussian noise, inversion, a small rotation; three severities each.
// Images are 28x28 floats in [0, 1]; every shift is seeded and deterministic.
import { seededRandom } from "../../shared/random.mjs";

const SIDE = 28;
const clip = (v) => (v < 0 ? 0 : v > 1 ? 1 : v);

function boxBlur(image, passes) {
  let a = image.slice(), b = new Float32Array(a.length);
  for (let p = 0; p < passes; p++) {
    for (let r = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++) {
      let s = 0, n = 0;
      for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) {
        const rr = r + dr, cc = c + dc;
        if (rr >= 0 && rr < SIDE && cc >= 0 && cc < SIDE) { s += a[rr * SIDE + cc]; n++; }
      }
      b[r * SIDE + c] = s / n;
    }
    [a, b] = [b, a];
  }
  return a;
}

function rotate(image, degrees) {
  const t = (degrees * Math.PI) / 180, cos = Math.cos(t), sin = Math.sin(t), mid = (SIDE - 1) / 2;
  const out = new Float32Array(image.length);
  for (let r = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++) {
    const x = cos * (c - mid) + sin * (r - mid) + mid, y = -sin * (c - mid) + cos * (r - mid) + mid; // bilinear source
    const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
    const at = (rr, cc) => (rr >= 0 && rr < SIDE && cc >= 0 && cc < SIDE ? image[rr * SIDE + cc] : 0);
    out[r * SIDE + c] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
  }
  return out;
}

/** name, what each severity means, and the image transform (severity 1..3, a seeded generator). */
export const SHIFTS = [
  { name: "contrast+brightness", levels: ["x0.6+0.2", "x0.4+0.35", "x0.25+0.5"], apply: (img, s) => { const [a, b] = [[0.6, 0.2], [0.4, 0.35], [0.25, 0.5]][s - 1]; return img.map((v) => clip(v * a + b)); } },
  { name: "blur", levels: ["box 3x3 x1", "x2", "x4"], apply: (img, s) => boxBlur(img, [1, 2, 4][s - 1]) },
  { name: "gaussian noise", levels: ["std 0.2", "0.35", "0.5"], apply: (img, s, random) => { const std = [0.2, 0.35, 0.5][s - 1]; return img.map((v) => clip(v + std * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()))); } },
  { name: "inversion", levels: ["mix 0.3", "0.6", "1.0"], apply: (img, s) => { const m = [0.3, 0.6, 1][s - 1]; return img.map((v) => v * (1 - m) + (1 - v) * m); } },
  { name: "rotation", levels: ["10 deg", "20 deg", "30 deg"], apply: (img, s) => rotate(img, [10, 20, 30][s - 1]) },
];

/** The shifted copy of `images` (count x 784 bytes) as floats in [0, 1]. */
export function shiftImages(images, count, shift, severity, seed) {
  const random = seededRandom(seed);
  const out = new Float32Array(count * SIDE * SIDE);
  for (let i = 0; i < count; i++) {
    const img = Float32Array.from(images.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
    out.set(shift ? shift.apply(img, severity, random) : img, i * 784);
  }
  return out;
}
