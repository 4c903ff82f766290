// The small residual network. A stem, then three stages of basic residual blocks; the first block
// of stages 2 and 3 is a downsampling "conv block" (stride 2 and a 1×1 projection shortcut), the
// others are identity blocks. Names follow Keras's ResNet50 so that block boundaries are visible:
//   stem_conv, stem_bn, stem_relu
//   stage{s}_block{b}_1_conv, _1_bn, _1_relu, _2_conv, _2_bn   (the residual branch)
//   stage{s}_block{b}_0_conv, _0_bn                            (projection shortcut, conv blocks only)
//   stage{s}_block{b}_add, stage{s}_block{b}_out               (block boundary: a cut point)
//   avg_pool, predictions
// With a 32×32 input the stages run at 32, 16 and 8 pixels; `before-last-downsample` is
// stage2_block{blocks}_out. The output is logits.
import * as tf from '@tensorflow/tfjs';
import type { ArchOptions } from './convnet.js';
import { initializers } from './seeds.js';

export interface ResnetOptions extends ArchOptions {
  /** Blocks per stage (default [2, 2, 2]). */
  blocks?: [number, number, number];
}

type Sym = tf.SymbolicTensor;

export function resnet(o: ResnetOptions): tf.LayersModel {
  const init = initializers(o.seed);
  const blocks = o.blocks ?? [2, 2, 2];
  const conv = (x: Sym, filters: number, kernelSize: number, strides: number, name: string): Sym =>
    tf.layers
      .conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init.he(), name })
      .apply(x) as Sym;
  // Momentum 0.9 (Keras's default is 0.99): with the few hundred steps of a small run, 0.99 leaves
  // the moving statistics near their initial values and evaluation (which uses them) near chance.
  const bn = (x: Sym, name: string): Sym => tf.layers.batchNormalization({ momentum: 0.9, name }).apply(x) as Sym;
  const relu = (x: Sym, name: string): Sym => tf.layers.activation({ activation: 'relu', name }).apply(x) as Sym;

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = relu(bn(conv(input, o.width, 3, 1, 'stem_conv'), 'stem_bn'), 'stem_relu');
  for (let s = 1; s <= 3; s++) {
    const filters = o.width * 2 ** (s - 1);
    for (let b = 1; b <= blocks[s - 1]!; b++) {
      const p = `stage${s}_block${b}`;
      const downsample = s > 1 && b === 1;
      const stride = downsample ? 2 : 1;
      let y = relu(bn(conv(x, filters, 3, stride, `${p}_1_conv`), `${p}_1_bn`), `${p}_1_relu`);
      y = bn(conv(y, filters, 3, 1, `${p}_2_conv`), `${p}_2_bn`);
      const shortcut = downsample ? bn(conv(x, filters, 1, stride, `${p}_0_conv`), `${p}_0_bn`) : x;
      const sum = tf.layers.add({ name: `${p}_add` }).apply([shortcut, y]) as Sym;
      x = relu(sum, `${p}_out`);
    }
  }
  const pooled = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as Sym;
  const out = tf.layers.dense({ units: o.outputs, kernelInitializer: init.glorot(), name: 'predictions' }).apply(pooled) as Sym;
  return tf.model({ inputs: input, outputs: out, name: 'resnet' });
}
