// Seeded initialisation for the built-in architectures. Every layer draws its own seed from one
// stream, so the same spec seed gives the same weights on any run, and adding a layer at the end
// does not change the weights of the layers before it.
import * as tf from '@tensorflow/tfjs';

/** A deterministic stream of 31-bit seeds derived from one integer (mulberry32). */
export function seedStream(seed: number): () => number {
  let a = (seed ^ 0x9e3779b9) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) & 0x7fffffff;
  };
}

/** He-normal for ReLU convolutions and Glorot-uniform for dense outputs, both seeded. */
export function initializers(seed: number) {
  const next = seedStream(seed);
  return {
    he: () => tf.initializers.heNormal({ seed: next() }),
    glorot: () => tf.initializers.glorotUniform({ seed: next() }),
    next,
  };
}
