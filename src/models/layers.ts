// Custom layers the built-in models need. Registered with tfjs's serialization so a saved model
// that contains them loads again (importing this module is enough).
import * as tf from '@tensorflow/tfjs';

// tfjs's own Dropout layer either draws from Math.random (not reproducible) or, given a seed,
// draws the same mask on every step. The training loop instead announces the global step here,
// and each dropout layer mixes it with its own seed: a fresh mask every step, identical on a rerun
// and on a resumed run.
// Under data-parallel training each rank draws its own masks for its shard: the rank joins the mix
// (rank 0, the only one with a single worker, draws what it always drew).
let noiseStep = 0;
let noiseRank = 0;

/** Called by the training loop before each optimizer step (and by each data-parallel rank with its rank). */
export function setNoiseStep(step: number, rank = 0): void {
  noiseStep = step;
  noiseRank = rank;
}

interface SeededDropoutArgs {
  rate: number;
  seed: number;
  name?: string;
}

export class SeededDropout extends tf.layers.Layer {
  static readonly className = 'SeededDropout';
  readonly rate: number;
  readonly seed: number;

  constructor(args: SeededDropoutArgs) {
    super({ name: args.name });
    this.rate = args.rate;
    this.seed = args.seed;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (!kwargs?.training || this.rate === 0) return x.clone();
    return tf.dropout(x, this.rate, undefined, (this.seed * 7919 + noiseStep * 104729 + noiseRank * 1299709) % 2147483647);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(SeededDropout);
