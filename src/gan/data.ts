// The GAN's real images: the preprocess stage's training split, normalised by the loader and held
// in memory (the trainer asks for arbitrary counts per update; MNIST is 10,000 × 784 floats).
import { join } from 'node:path';
import { batches, type Normalize } from '../data/loader.js';
import { openArray } from '../data/zarr.js';
import type { ImageShape } from './models.js';
import { ArraySource } from './real-source.js';

export async function loadTrainingImages(preprocessDir: string, normalize: Exclude<Normalize, 'none'>, seed: number): Promise<ArraySource> {
  const images = await openArray(join(preprocessDir, 'train', 'images'));
  const [n, h, w, c] = images.shape as [number, number, number, number];
  const shape: ImageShape = { height: h, width: w, channels: c };
  const all = new Float32Array(n * h * w * c);
  let at = 0;
  for await (const b of batches({ images, batchSize: 1024, seed, epoch: 0, normalize })) {
    all.set(b.x as Float32Array, at);
    at += b.x.length;
  }
  return new ArraySource(all, shape, seed);
}
