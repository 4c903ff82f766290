// Heads on top of a cut, and the stacked model (base up to the cut → pool → head) that fine-tunes
// end to end. The head's layers are shared with the stacked model, so a head trained on cached
// activations is, without copying, the top of the stacked model.
import * as tf from '@tensorflow/tfjs';
import { SeededDropout } from './layers.js';
import { initializers } from './seeds.js';

export interface HeadOptions {
  kind: 'linear' | 'mlp';
  /** Hidden units of the mlp head. */
  units: number;
  activation: 'relu' | 'elu' | 'gelu' | 'tanh' | 'sigmoid';
  dropout: number;
  /** Classes, or the target-vector length. */
  outputs: number;
  seed: number;
}

/**
 * A head taking activations of `inputShape` (without the batch dimension). Layer names:
 * head_input, head_flatten (spatial inputs only), head_hidden (mlp), head_dropout (dropout > 0),
 * head_out (logits or predicted vector).
 */
export function buildHead(inputShape: number[], o: HeadOptions): tf.LayersModel {
  const init = initializers(o.seed ^ 0x5eed);
  const input = tf.input({ shape: inputShape, name: 'head_input' });
  let x: tf.SymbolicTensor = input;
  if (inputShape.length > 1) x = tf.layers.flatten({ name: 'head_flatten' }).apply(x) as tf.SymbolicTensor;
  if (o.kind === 'mlp') {
    x = tf.layers.dense({ units: o.units, activation: o.activation, kernelInitializer: init.he(), name: 'head_hidden' }).apply(x) as tf.SymbolicTensor;
  }
  if (o.dropout > 0) x = new SeededDropout({ rate: o.dropout, seed: init.next(), name: 'head_dropout' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: o.outputs, kernelInitializer: init.glorot(), name: 'head_out' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'head' });
}

/**
 * input → features (a cut model, see cutModel) → head, as one LayersModel sharing the weights of
 * both. The head's input layer is dropped; its other layers are applied to the features' output.
 */
export function stackModel(features: tf.LayersModel, head: tf.LayersModel): tf.LayersModel {
  let x = features.outputs[0]!;
  for (const layer of head.layers.slice(1)) x = layer.apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: features.inputs, outputs: x, name: 'stacked' });
}

/**
 * Freezes what should not train: `head` freezes the whole features part, `all` nothing,
 * `{from: name}` every layer before `name` in model.layers order. Frozen batch-norm layers also
 * run in inference mode (moving statistics, no updates) while the rest trains, as in Keras: tfjs
 * would otherwise keep normalising them with batch statistics and drift their moving averages.
 */
export function setTrainable(model: tf.LayersModel, trainable: 'head' | 'all' | { from: string }, headLayers: Set<string>): void {
  let from = 0;
  if (trainable === 'head') from = -1;
  else if (trainable !== 'all') {
    from = model.layers.findIndex((l) => l.name === trainable.from);
    if (from < 0) throw new Error(`model.trainable.from: no layer named "${trainable.from}" in the stacked model`);
  }
  model.layers.forEach((l, i) => {
    l.trainable = from < 0 ? headLayers.has(l.name) : i >= from;
    if (l.getClassName() === 'BatchNormalization') freezeStatistics(l, !l.trainable);
  });
}

const originalCall = new WeakMap<tf.layers.Layer, tf.layers.Layer['call']>();

function freezeStatistics(layer: tf.layers.Layer, frozen: boolean): void {
  const call = originalCall.get(layer) ?? layer.call.bind(layer);
  originalCall.set(layer, call);
  layer.call = frozen ? (inputs, kwargs) => call(inputs, { ...kwargs, training: false }) : call;
}
