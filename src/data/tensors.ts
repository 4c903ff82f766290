// The thin tf wrapper over loader.ts. tf is passed in, not imported, because backend selection
// and initialisation belong to src/backend: this module must not pick a backend by importing tf.
import type * as tfjs from '@tensorflow/tfjs';
import { type BatchOptions, batches } from './loader.js';

export interface TensorBatch {
  x: tfjs.Tensor4D;
  /** Class indices as int32 [n] (null when no labels were given). */
  y: tfjs.Tensor1D | null;
  extra: tfjs.Tensor[];
  n: number;
}

/** Like batches(), yielding tensors; the caller disposes them (tf.tidy does not cross awaits). */
export async function* tensorBatches(tf: typeof tfjs, o: BatchOptions): AsyncGenerator<TensorBatch> {
  if ((o.normalize ?? 'unit') === 'none') throw new Error('tensorBatches needs a float normalisation (unit, symmetric or imagenet)');
  for await (const b of batches(o)) {
    const [n, h, w, c] = b.shape as [number, number, number, number];
    yield {
      n,
      x: tf.tensor4d(b.x as Float32Array, [n, h, w, c], 'float32'),
      y: b.y ? tf.tensor1d(b.y, 'int32') : null,
      extra: b.extra.map((e, k) => {
        const shape = [n, ...o.extra![k]!.shape.slice(1)];
        return e instanceof Int32Array ? tf.tensor(e, shape, 'int32') : tf.tensor(e, shape, 'float32');
      }),
    };
  }
}
