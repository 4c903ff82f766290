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

/** Where an ArraySource is in its stream of images, as JSON for a checkpoint. */
export interface SourcePosition {
  /** Permutations drawn (one per pass over the images, the first in the constructor). */
  passes: number;
  /** Images taken from the current permutation. */
  pos: number;
}

/** Images held in memory (MNIST is 10,000 × 784 floats), reshuffled every pass. */
export class ArraySource implements RealSource {
  private order: Int32Array;
  private pos = 0;
  private passes = 1;
  private rand: () => number;
  readonly count: number;
  constructor(
    private readonly data: Float32Array,
    readonly shape: ImageShape,
    private readonly seed: number,
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
        this.passes++;
        this.pos = 0;
      }
      const k = this.order[this.pos++]!;
      out.set(this.data.subarray(k * size, (k + 1) * size), i * size);
    }
    return tf.tensor4d(out, [n, this.shape.height, this.shape.width, this.shape.channels]);
  }

  get position(): SourcePosition {
    return { passes: this.passes, pos: this.pos };
  }

  /** Continues after `p`: redraws the permutations from the seed (the generator's state lives in a closure). */
  seek(p: SourcePosition): void {
    if (!(p.passes >= 1 && p.pos >= 0 && p.pos <= this.count)) throw new Error(`real-image position ${JSON.stringify(p)} does not fit ${this.count} images`);
    this.rand = mulberry32(this.seed);
    for (let i = 0; i < p.passes; i++) this.order = permutation(this.count, this.rand);
    this.passes = p.passes;
    this.pos = p.pos;
  }
}
