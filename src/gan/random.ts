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
  private rand: () => number;
  private drawn = 0;
  constructor(private readonly seed: number) {
    this.rand = mulberry32(seed);
  }
  next(): number {
    this.drawn++;
    return Math.floor(this.rand() * 2147483646) + 1;
  }
  /** Seeds drawn so far: with the constructor's seed, all a checkpoint needs to continue the stream. */
  get position(): number {
    return this.drawn;
  }
  /** Continues the stream after `drawn` seeds. The generator keeps its state in a closure, so replay: one call per seed is cheap. */
  seek(drawn: number): void {
    this.rand = mulberry32(this.seed);
    for (let i = 0; i < drawn; i++) this.rand();
    this.drawn = drawn;
  }
}
