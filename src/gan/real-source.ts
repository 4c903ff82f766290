// Real images for the adversarial loop. The trainer asks for exactly as many as it needs (half a
// batch for a gan/dcgan discriminator step, a full batch for a critic step), so the source is a
// "next n images" function rather than a fixed-size batch iterator.
import * as tf from '@tensorflow/tfjs';
import type { ImageShape } from './models.js';
import { mulberry32, permutation } from './random.js';

export interface RealSource {
  shape: ImageShape;
  next(n: number): tf.Tensor4D;
}

/** Images held in memory (MNIST is 10,000 × 784 floats), reshuffled every pass. */
export class ArraySource implements RealSource {
  private order: Int32Array;
  private pos = 0;
  private readonly rand: () => number;
  readonly count: number;
  constructor(
    private readonly data: Float32Array,
    readonly shape: ImageShape,
    seed: number,
  ) {
    const size = shape.height * shape.width * shape.channels;
    this.count = data.length / size;
    if (!Number.isInteger(this.count) || this.count === 0) throw new Error(`image data of length ${data.length} is not a whole number of ${size}-value images`);
    this.rand = mulberry32(seed);
    this.order = permutation(this.count, this.rand);
  }
  next(n: number): tf.Tensor4D {
    const size = this.shape.height * this.shape.width * this.shape.channels;
    const out = new Float32Array(n * size);
    for (let i = 0; i < n; i++) {
      if (this.pos === this.count) {
        this.order = permutation(this.count, this.rand);
        this.pos = 0;
      }
      const k = this.order[this.pos++]!;
      out.set(this.data.subarray(k * size, (k + 1) * size), i * size);
    }
    return tf.tensor4d(out, [n, this.shape.height, this.shape.width, this.shape.channels]);
  }
}
