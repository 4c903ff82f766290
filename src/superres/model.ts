// The super-resolution network: fully convolutional (input [null, null, C]), so a model trained on
// 16×16 inputs runs on inputs of any size. Layer names are stable:
//   lr_input
//   head_conv, head_relu                                  (features at low resolution)
//   res{b}_conv1, res{b}_relu, res{b}_conv2, res{b}_add   (b = 1..blocks; no batch norm, as EDSR:
//                                                          it shifts colour ranges and costs time)
//   up{k}, up{k}_conv, up{k}_relu                         (k = 1..log2 factor: nearest ×2, then a
//                                                          convolution; no transposed convolutions,
//                                                          which leave checkerboard artefacts)
//   out_conv                                              (C channels, linear, zero-initialised)
//   bicubic, output                                       (global skip: the network adds a residual
//                                                          to the bicubic upscale of its input)
// With out_conv starting at zero the untrained network *is* the bicubic baseline, so training
// starts from the baseline and every step has to improve on it (as VDSR's global residual).
import * as tf from '@tensorflow/tfjs';
import { initializers } from '../models/seeds.js';
import { bicubicUpscale } from './metrics.js';

export interface SuperresOptions {
  /** Image channels (1 or 3). */
  channels: number;
  /** Upscaling factor: 2 or 4. */
  factor: 2 | 4;
  blocks: number;
  filters: number;
  seed: number;
}

interface BicubicArgs {
  factor: number;
  name?: string;
}

/** Bicubic upscaling as a layer (no weights), so the skip path is saved and loaded with the model. */
export class BicubicUpsample extends tf.layers.Layer {
  static readonly className = 'BicubicUpsample';
  readonly factor: number;

  constructor(args: BicubicArgs) {
    super({ name: args.name });
    this.factor = args.factor;
  }

  override computeOutputShape(s: tf.Shape | tf.Shape[]): tf.Shape {
    const [b, h, w, c] = (Array.isArray(s[0]) ? s[0] : s) as tf.Shape;
    return [b ?? null, h == null ? null : h * this.factor, w == null ? null : w * this.factor, c ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return bicubicUpscale(x as tf.Tensor4D, this.factor);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), factor: this.factor };
  }
}
tf.serialization.registerClass(BicubicUpsample);

type Sym = tf.SymbolicTensor;

export function superresNet(o: SuperresOptions): tf.LayersModel {
  if (o.factor !== 2 && o.factor !== 4) throw new Error(`super-resolution factor must be 2 or 4 (got ${o.factor})`);
  const init = initializers(o.seed);
  const conv = (x: Sym, filters: number, name: string, zero = false): Sym =>
    tf.layers
      .conv2d({ filters, kernelSize: 3, padding: 'same', kernelInitializer: zero ? 'zeros' : init.he(), name })
      .apply(x) as Sym;
  const relu = (x: Sym, name: string): Sym => tf.layers.activation({ activation: 'relu', name }).apply(x) as Sym;

  const input = tf.input({ shape: [null, null, o.channels], name: 'lr_input' });
  let x = relu(conv(input, o.filters, 'head_conv'), 'head_relu');
  for (let b = 1; b <= o.blocks; b++) {
    const y = conv(relu(conv(x, o.filters, `res${b}_conv1`), `res${b}_relu`), o.filters, `res${b}_conv2`);
    x = tf.layers.add({ name: `res${b}_add` }).apply([x, y]) as Sym;
  }
  for (let k = 1; k <= Math.log2(o.factor); k++) {
    x = tf.layers.upSampling2d({ size: [2, 2], name: `up${k}` }).apply(x) as Sym;
    x = relu(conv(x, o.filters, `up${k}_conv`), `up${k}_relu`);
  }
  const residual = conv(x, o.channels, 'out_conv', true);
  const skip = new BicubicUpsample({ factor: o.factor, name: 'bicubic' }).apply(input) as Sym;
  const out = tf.layers.add({ name: 'output' }).apply([skip, residual]) as Sym;
  return tf.model({ inputs: input, outputs: out, name: 'superres' });
}
