// The small convnet classifier: conv stages, each conv → [batch norm] → relu → 2×2 max-pool, then
// global pooling and a linear classifier. Layer names (stable, used by cuts and loss terms):
//   input, stage{s}_conv, [stage{s}_bn], stage{s}_relu, stage{s}_pool (s = 1..stages), avg_pool
//   (or max_pool), predictions.
// The output is logits (no softmax): the losses and metrics apply softmax themselves.
// Each stage doubles the filters up to 8× the first stage's, so a 4th or 5th stage costs about as
// much as the 3rd (the spatial size halves as the channels stop growing) while the receptive field
// doubles: 3 stages see 22 px, 4 see 46 px, 5 see 94 px of the input.
import * as tf from '@tensorflow/tfjs';
import { initializers } from './seeds.js';

export interface ArchOptions {
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number];
  /** Size of the output (classes, or target-vector length). */
  outputs: number;
  /** Filters of the first stage; later stages double it. */
  width: number;
  /** Initialisation seed: the same seed gives the same weights. */
  seed: number;
  /** convnet: conv stages (default 3). */
  stages?: number | undefined;
  /** convnet: batch normalisation after every conv (default none). */
  norm?: 'none' | 'batch' | undefined;
  /** convnet: global pooling before the classifier (default avg). */
  globalPool?: 'avg' | 'max' | undefined;
  /** convnet: units of a hidden dense + relu layer between the pooling and the classifier (default none). */
  hidden?: number | undefined;
  /** convnet: stride of the first conv (default 1); 2 runs every later layer at half the resolution, a quarter of the cost. */
  stemStride?: 1 | 2 | undefined;
}

export function convnet(o: ArchOptions): tf.LayersModel {
  const init = initializers(o.seed);
  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x: tf.SymbolicTensor = input;
  const stages = o.stages ?? 3;
  for (let s = 1; s <= stages; s++) {
    const filters = o.width * 2 ** Math.min(s - 1, 3);
    const batchNorm = o.norm === 'batch';
    const strides = s === 1 ? (o.stemStride ?? 1) : 1;
    x = tf.layers.conv2d({ filters, kernelSize: 3, strides, padding: 'same', useBias: !batchNorm, kernelInitializer: init.he(), name: `stage${s}_conv` }).apply(x) as tf.SymbolicTensor;
    // Momentum 0.9 for the same reason as in the resnet: few steps leave 0.99's statistics stale.
    if (batchNorm) x = tf.layers.batchNormalization({ momentum: 0.9, name: `stage${s}_bn` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu', name: `stage${s}_relu` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `stage${s}_pool` }).apply(x) as tf.SymbolicTensor;
  }
  x =
    o.globalPool === 'max'
      ? (tf.layers.globalMaxPooling2d({ name: 'max_pool' }).apply(x) as tf.SymbolicTensor)
      : (tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor);
  // A linear classifier on pooled features cannot compare two of them (an aspect ratio is the ratio
  // of horizontal to vertical edge length); one hidden layer can.
  if (o.hidden) x = tf.layers.dense({ units: o.hidden, activation: 'relu', kernelInitializer: init.he(), name: 'hidden' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: o.outputs, kernelInitializer: init.glorot(), name: 'predictions' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'convnet' });
}
