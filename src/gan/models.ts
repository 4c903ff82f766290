// The generator and discriminator/critic of each GAN kind. Discriminators end in a linear unit:
// for `gan`/`dcgan` the sigmoid lives inside the cross-entropy loss (numerically stable), for `wgan`
// there is none at all, as the critic's output is an unbounded score.
import * as tf from '@tensorflow/tfjs';
import type { Seeds } from './random.js';

export type GanKind = 'gan' | 'dcgan' | 'wgan';
export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}
export type OutputActivation = 'tanh' | 'sigmoid';

/** Default `gan.width`: filters of the last generator block / first critic layer; doubled once. */
export const DEFAULT_CONV_WIDTH = 32;
/** Hidden units of the dense `gan`. */
export const DENSE_UNITS = 256;

// DCGAN/WGAN reference initialisation: conv weights N(0, 0.02).
const normal02 = (seeds: Seeds) => tf.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: seeds.next() });

function checkConvShape(shape: ImageShape): void {
  if (shape.height % 4 !== 0 || shape.width % 4 !== 0) {
    throw new Error(`convolutional GANs upsample twice by 2, so the image side must be divisible by 4 (got ${shape.height}×${shape.width}); set preprocess.size accordingly`);
  }
}

export function buildGenerator(kind: GanKind, latent: number, shape: ImageShape, out: OutputActivation, seeds: Seeds, width = DEFAULT_CONV_WIDTH): tf.Sequential {
  const pixels = shape.height * shape.width * shape.channels;
  const m = tf.sequential({ name: 'generator' });
  if (kind === 'gan') {
    const init = () => tf.initializers.glorotUniform({ seed: seeds.next() });
    m.add(tf.layers.dense({ inputShape: [latent], units: DENSE_UNITS, kernelInitializer: init() }));
    m.add(tf.layers.leakyReLU({ alpha: 0.2 }));
    m.add(tf.layers.dense({ units: pixels, activation: out, kernelInitializer: init() }));
    m.add(tf.layers.reshape({ targetShape: [shape.height, shape.width, shape.channels] }));
    return m;
  }
  checkConvShape(shape);
  const h = shape.height / 4;
  const w = shape.width / 4;
  const wide = width * 2;
  // momentum 0.9 (PyTorch's 0.1): the default 0.99 lags a generator that changes every step, and the
  // sample grids are drawn in inference mode from these moving statistics.
  const bn = () => tf.layers.batchNormalization({ momentum: 0.9 });
  m.add(tf.layers.dense({ inputShape: [latent], units: h * w * wide, useBias: false, kernelInitializer: normal02(seeds) }));
  // The WGAN generator uses LeakyReLU: with ReLU, the clipped critic's first, nearly linear signal
  // ("darker everywhere") teaches the last convolution negative weights on features that fire in the
  // background, the features switch off where digits should be, and those pixels sit at tanh(bias) ≈ 0
  // with no gradient to leave it (the flat grey blobs of the first WGAN runs).
  const act = () => (kind === 'wgan' ? tf.layers.leakyReLU({ alpha: 0.2 }) : tf.layers.reLU());
  m.add(bn());
  m.add(act());
  m.add(tf.layers.reshape({ targetShape: [h, w, wide] }));
  // Upsample + convolution instead of transposed convolution: no checkerboard artifacts.
  for (const filters of [width]) {
    m.add(tf.layers.upSampling2d({ size: [2, 2] }));
    m.add(tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: normal02(seeds) }));
    m.add(bn());
    m.add(act());
  }
  m.add(tf.layers.upSampling2d({ size: [2, 2] }));
  m.add(tf.layers.conv2d({ filters: shape.channels, kernelSize: 3, padding: 'same', activation: out, kernelInitializer: normal02(seeds) }));
  return m;
}

/** Discriminator (`gan`, `dcgan`) or critic (`wgan`): one linear output per image. */
export function buildDiscriminator(kind: GanKind, shape: ImageShape, seeds: Seeds, width = DEFAULT_CONV_WIDTH): tf.Sequential {
  const m = tf.sequential({ name: kind === 'wgan' ? 'critic' : 'discriminator' });
  const inputShape = [shape.height, shape.width, shape.channels];
  if (kind === 'gan') {
    const init = () => tf.initializers.glorotUniform({ seed: seeds.next() });
    m.add(tf.layers.flatten({ inputShape }));
    m.add(tf.layers.dense({ units: DENSE_UNITS, kernelInitializer: init() }));
    m.add(tf.layers.leakyReLU({ alpha: 0.2 }));
    m.add(tf.layers.dense({ units: 1, kernelInitializer: init() }));
    return m;
  }
  checkConvShape(shape);
  // Strided convolutions downsample (no pooling) and LeakyReLU keeps gradients flowing to the
  // generator where the discriminator is confident.
  m.add(tf.layers.conv2d({ inputShape, filters: width, kernelSize: 4, strides: 2, padding: 'same', kernelInitializer: normal02(seeds) }));
  m.add(tf.layers.leakyReLU({ alpha: 0.2 }));
  m.add(tf.layers.conv2d({ filters: width * 2, kernelSize: 4, strides: 2, padding: 'same', kernelInitializer: normal02(seeds) }));
  m.add(tf.layers.leakyReLU({ alpha: 0.2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 1, kernelInitializer: normal02(seeds) }));
  return m;
}
