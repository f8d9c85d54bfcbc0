// MNIST as compact bytes: images quantized to 0..255 so Node and the browser
// train on identical inputs. Split per digit (first 80% train, rest test),
// then train and test examples interleaved by a seeded shuffle.
import { seededRandom } from "./random.mjs";

export const IMAGE_SIZE = 784;
export const CLASSES = 10;

/**
 * digitSamples[d] is the flat float array the mnist package ships for digit d
 * (values in [0, 1], 784 per sample). Returns { train, test }, each
 * { images: Uint8Array, labels: Uint8Array, count }.
 */
export function buildDataset(digitSamples, trainFraction = 0.8) {
  const train = [], test = [];
  digitSamples.forEach((flat, digit) => {
    const count = Math.floor(flat.length / IMAGE_SIZE);
    const trainCount = Math.round(count * trainFraction);
    for (let i = 0; i < count; i++) (i < trainCount ? train : test).push({ digit, start: i * IMAGE_SIZE, flat });
  });
  const pack = (examples, seed) => {
    shuffleInPlace(examples, seededRandom(seed));
    const images = new Uint8Array(examples.length * IMAGE_SIZE);
    const labels = new Uint8Array(examples.length);
    examples.forEach((e, i) => {
      labels[i] = e.digit;
      for (let p = 0; p < IMAGE_SIZE; p++) images[i * IMAGE_SIZE + p] = Math.round(e.flat[e.start + p] * 255);
    });
    return { images, labels, count: examples.length };
  };
  return { train: pack(train, 11), test: pack(test, 12) };
}

export function shuffleInPlace(array, random) {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [array[i], array[j]] = [array[j], array[i]];
  }
  return array;
}

/** Serializes { train, test } into one byte array (header: two uint32 counts), for the browser page. */
export function encodeDataset({ train, test }) {
  const bytes = new Uint8Array(8 + (train.count + test.count) * (IMAGE_SIZE + 1));
  const header = new DataView(bytes.buffer);
  header.setUint32(0, train.count, true);
  header.setUint32(4, test.count, true);
  let at = 8;
  for (const part of [train, test]) {
    bytes.set(part.images, at);
    at += part.images.length;
    bytes.set(part.labels, at);
    at += part.labels.length;
  }
  return bytes;
}

export function decodeDataset(bytes) {
  const header = new DataView(bytes.buffer, bytes.byteOffset, 8);
  let at = bytes.byteOffset + 8;
  const take = (count) => {
    const images = new Uint8Array(bytes.buffer, at, count * IMAGE_SIZE);
    const labels = new Uint8Array(bytes.buffer, at + count * IMAGE_SIZE, count);
    at += count * (IMAGE_SIZE + 1);
    return { images, labels, count };
  };
  const train = take(header.getUint32(0, true));
  return { train, test: take(header.getUint32(4, true)) };
}
