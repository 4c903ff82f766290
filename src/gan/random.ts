// Seeded randomness for everything the GAN draws outside tfjs kernels (shuffles, initialiser and
// noise seeds), so same spec + seed + backend gives the same run.

import { rng } from '../util/rng.js';

/** The project's one seeded generator (mulberry32), from a plain seed. */
export const mulberry32 = (seed: number): (() => number) => rng(seed);

/** Seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, rand: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** A stream of integer seeds: tfjs ops given the same seed twice draw the same numbers. */
export class Seeds {
  private readonly rand: () => number;
  constructor(seed: number) {
    this.rand = mulberry32(seed);
  }
  next(): number {
    return Math.floor(this.rand() * 2147483646) + 1;
  }
}
