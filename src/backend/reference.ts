// The three reference training steps of issue 5, shared by bench:train and the backend tests.
// They mirror /work/shared/bench/torch_peer.py (same layers, optimiser and batch) so that step
// times compare directly with PyTorch. Sizes are parameters so the tests can run a tiny case on
// the (very slow) cpu backend; the defaults are the benchmark shapes.
import * as tf from '@tensorflow/tfjs';
import { cosineDistance } from '../train/losses.js';

export interface ReferenceStep {
  readonly name: string;
  /** One training step (for DCGAN: one D update then one G update); returns the losses. */
  step(i: number): number[];
  /**
   * The same step, read back asynchronously: webgpu in Node has no synchronous readback (tfjs
   * reads sync through an OffscreenCanvas), so its timings and tests use this one.
   */
  stepAsync(i: number): Promise<number[]>;
  /** All trainable variables, for comparisons across backends. */
  variables(): tf.Variable[];
  dispose(): void;
}

// Seeded initialisers make the weights identical on every backend: tfjs draws seeded random
// numbers in JS before handing them to the backend.
function seeded(seed: number) {
  return tf.initializers.glorotUniform({ seed });
}

/**
 * 'sgd' exists for cross-backend equality tests: Adam turns float noise in a gradient that is
 * ~0 in exact arithmetic (e.g. a conv bias followed by batch norm) into a ±lr step whose sign
 * differs between backends, so only a linear optimiser keeps results comparable after a step.
 */
export type OptimizerKind = 'adam' | 'sgd';
export function optimizer(kind: OptimizerKind | undefined, lr: number, beta1 = 0.9): tf.Optimizer {
  return kind === 'sgd' ? tf.train.sgd(0.05) : tf.train.adam(lr, beta1, 0.999);
}

/** A step's losses as scalars, read back sync or async; the tensors are disposed either way. */
function readers(run: (i: number) => tf.Tensor[]): Pick<ReferenceStep, 'step' | 'stepAsync'> {
  return {
    step(i) {
      const ls = run(i);
      const out = ls.map((l) => l.dataSync()[0]!);
      tf.dispose(ls);
      return out;
    },
    async stepAsync(i) {
      const ls = run(i);
      const out = await Promise.all(ls.map(async (l) => (await l.data())[0]!));
      tf.dispose(ls);
      return out;
    },
  };
}

function trainable(...models: tf.LayersModel[]): tf.Variable[] {
  return models.flatMap((m) => m.trainableWeights.map((w) => w.read() as tf.Variable));
}

export interface DcganShape {
  batch: number;
  /** Generator starts at grid×grid and upsamples twice: images are (4·grid)². */
  grid: number;
  width: number;
  latent: number;
  optimizer?: OptimizerKind;
}
export const DCGAN_BENCH: DcganShape = { batch: 64, grid: 7, width: 64, latent: 100 };

/** The DCGAN reference generator and discriminator (seeded: the same weights on every backend). */
export function dcganModels(s: DcganShape = DCGAN_BENCH): { g: tf.Sequential; d: tf.Sequential } {
  const { grid, width, latent } = s;
  const side = grid * 4;
  const g = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [latent], units: grid * grid * width, useBias: false, kernelInitializer: seeded(1) }),
      tf.layers.batchNormalization(),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      tf.layers.reshape({ targetShape: [grid, grid, width] }),
      tf.layers.upSampling2d({ size: [2, 2] }),
      tf.layers.conv2d({ filters: width / 2, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: seeded(2) }),
      tf.layers.batchNormalization(),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      tf.layers.upSampling2d({ size: [2, 2] }),
      tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', activation: 'tanh', kernelInitializer: seeded(3) }),
    ],
  });
  const d = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [side, side, 1],
        filters: width / 2,
        kernelSize: 4,
        strides: 2,
        padding: 'same',
        kernelInitializer: seeded(4),
      }),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      tf.layers.conv2d({ filters: width, kernelSize: 4, strides: 2, padding: 'same', kernelInitializer: seeded(5) }),
      tf.layers.batchNormalization(),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 1, kernelInitializer: seeded(6) }),
    ],
  });
  return { g, d };
}

export function dcganStep(s: DcganShape = DCGAN_BENCH): ReferenceStep {
  const { batch, grid, latent } = s;
  const side = grid * 4;
  const { g, d } = dcganModels(s);
  const optG = optimizer(s.optimizer, 2e-4, 0.5);
  const optD = optimizer(s.optimizer, 2e-4, 0.5);
  const real = tf.tidy(() => tf.randomUniform([batch, side, side, 1], -1, 1, 'float32', 7));
  const ones = tf.ones([batch, 1]);
  const zeros = tf.zeros([batch, 1]);
  const gVars = trainable(g);
  const dVars = trainable(d);
  const run = (m: tf.Sequential, x: tf.Tensor) => m.apply(x, { training: true }) as tf.Tensor;
  return {
    name: 'dcgan',
    ...readers((i) => {
      const z = tf.randomNormal([batch, latent], 0, 1, 'float32', 1000 + i);
      const lossD = optD.minimize(
        () => {
          const fake = run(g, z);
          const lr = tf.losses.sigmoidCrossEntropy(ones, run(d, real));
          const lf = tf.losses.sigmoidCrossEntropy(zeros, run(d, fake));
          return tf.add(lr, lf) as tf.Scalar;
        },
        true,
        dVars,
      )!;
      const lossG = optG.minimize(() => tf.losses.sigmoidCrossEntropy(ones, run(d, run(g, z))) as tf.Scalar, true, gVars)!;
      z.dispose();
      return [lossD, lossG];
    }),
    variables: () => [...gVars, ...dVars],
    dispose() {
      g.dispose();
      d.dispose();
      optG.dispose();
      optD.dispose();
      tf.dispose([real, ones, zeros]);
    },
  };
}

export interface ConvnetShape {
  batch: number;
  side: number;
  widths: [number, number, number];
  hidden: number;
  classes: number;
  dropout: number;
  optimizer?: OptimizerKind;
}
export const CONVNET_BENCH: ConvnetShape = {
  batch: 64,
  side: 32,
  widths: [32, 32, 64],
  hidden: 128,
  classes: 10,
  dropout: 0.25,
};

/** The convnet reference classifier (seeded). */
export function convnetModel(s: ConvnetShape = CONVNET_BENCH): tf.Sequential {
  const { side, widths, hidden, classes } = s;
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [side, side, 3],
        filters: widths[0],
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: seeded(11),
      }),
      tf.layers.conv2d({ filters: widths[1], kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: seeded(12) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: widths[2], kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: seeded(13) }),
      tf.layers.batchNormalization(),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: seeded(14) }),
      // A fixed seed gives the same mask on every backend (and every step; fine for timing).
      tf.layers.dropout({ rate: s.dropout, seed: 15 }),
      tf.layers.dense({ units: classes, kernelInitializer: seeded(16) }),
    ],
  });
}

export function convnetStep(s: ConvnetShape = CONVNET_BENCH): ReferenceStep {
  const { batch, side, classes } = s;
  const m = convnetModel(s);
  const opt = optimizer(s.optimizer, 1e-3);
  const x = tf.tidy(() => tf.randomUniform([batch, side, side, 3], 0, 1, 'float32', 17));
  const y = tf.tidy(() =>
    tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32', 18) as tf.Tensor1D, classes).toFloat(),
  );
  const vars = trainable(m);
  return {
    name: 'convnet',
    ...readers(() => [
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, m.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true, vars)!,
    ]),
    variables: () => vars,
    dispose() {
      m.dispose();
      opt.dispose();
      tf.dispose([x, y]);
    },
  };
}

export interface DenseShape {
  batch: number;
  inputs: number;
  outputs: number;
  optimizer?: OptimizerKind;
}
export const DENSE_BENCH: DenseShape = { batch: 128, inputs: 2048, outputs: 300 };

export function denseStep(s: DenseShape = DENSE_BENCH): ReferenceStep {
  const m = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [s.inputs], units: s.outputs, kernelInitializer: seeded(21) })],
  });
  const opt = optimizer(s.optimizer, 1e-3);
  const x = tf.tidy(() => tf.randomUniform([s.batch, s.inputs], 0, 1, 'float32', 22));
  const y = tf.tidy(() => tf.randomUniform([s.batch, s.outputs], 0, 1, 'float32', 23));
  const vars = trainable(m);
  return {
    name: 'dense',
    ...readers(() => [opt.minimize(() => cosineDistance(m.apply(x) as tf.Tensor2D, y), true, vars)!]),
    variables: () => vars,
    dispose() {
      m.dispose();
      opt.dispose();
      tf.dispose([x, y]);
    },
  };
}

export const REFERENCE_STEPS = { dcgan: dcganStep, convnet: convnetStep, dense: denseStep } as const;
