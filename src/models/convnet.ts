// The small convnet classifier: three conv stages, each conv → relu → 2×2 max-pool, then global
// average pooling and a linear classifier. Layer names (stable, used by cuts and loss terms):
//   input, stage{s}_conv, stage{s}_relu, stage{s}_pool (s = 1..3), avg_pool, predictions.
// The output is logits (no softmax): the losses and metrics apply softmax themselves.
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
}

export function convnet(o: ArchOptions): tf.LayersModel {
  const init = initializers(o.seed);
  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x: tf.SymbolicTensor = input;
  for (let s = 1; s <= 3; s++) {
    const filters = o.width * 2 ** (s - 1);
    x = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', kernelInitializer: init.he(), name: `stage${s}_conv` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu', name: `stage${s}_relu` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `stage${s}_pool` }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: o.outputs, kernelInitializer: init.glorot(), name: 'predictions' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'convnet' });
}
