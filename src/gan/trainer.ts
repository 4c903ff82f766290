// One adversarial training loop for all three kinds. What differs per kind is data: the models
// (models.ts), the losses (losses.ts), clipping and the critic schedule (schedule.ts).
import * as tf from '@tensorflow/tfjs';
import type { ExperimentSpec } from '../spec/schema.js';
import type { Checkpointable } from '../train/checkpoint.js';
import {
  clipWeights,
  criticLoss,
  discriminatorCrossEntropy,
  generatorCrossEntropy,
  generatorWassersteinLoss,
  wassersteinEstimate,
} from './losses.js';
import { buildDiscriminator, buildGenerator, type GanKind, type ImageShape, type OutputActivation } from './models.js';
import { Seeds } from './random.js';
import type { RealSource } from './real-source.js';
import { criticSteps } from './schedule.js';

export interface GanTrainConfig {
  kind: GanKind;
  latent: number;
  shape: ImageShape;
  output: OutputActivation;
  batchSize: number;
  optimizer: ExperimentSpec['train']['optimizer'];
  lr: number;
  momentum: number;
  /** Adam β1 (`train.beta1`; 0.5 when unset, the DCGAN paper's value). */
  beta1?: number;
  /** Filters of the first conv of dcgan/wgan networks (`gan.width`). */
  width?: number;
  critic: ExperimentSpec['gan']['critic'];
  seed: number;
}

/** What is logged for every generator step. */
export interface StepMetrics {
  d_loss: number;
  g_loss: number;
  critic_steps: number;
  wasserstein_estimate?: number;
}

/** Adam β1 for GANs when `train.beta1` is unset: the DCGAN paper's 0.5 (0.9 carries momentum across a moving target). */
export const GAN_DEFAULT_BETA1 = 0.5;

/** The WGAN paper's clip when a wgan spec leaves `gan.critic.clip` unset: without it there is no WGAN. */
export const DEFAULT_WGAN_CLIP = 0.01;

export function ganConfigFromSpec(spec: ExperimentSpec, shape: ImageShape): GanTrainConfig {
  return {
    kind: spec.gan.kind,
    latent: spec.gan.latent,
    shape,
    output: spec.preprocess.normalize === 'symmetric' ? 'tanh' : 'sigmoid',
    batchSize: spec.train.batchSize,
    optimizer: spec.train.optimizer,
    lr: spec.train.lr,
    momentum: spec.train.momentum,
    beta1: spec.train.beta1 ?? GAN_DEFAULT_BETA1,
    width: spec.gan.width,
    critic: spec.gan.critic,
    seed: spec.seed,
  };
}

function makeOptimizer(cfg: GanTrainConfig): tf.Optimizer {
  switch (cfg.optimizer) {
    case 'adam':
      return tf.train.adam(cfg.lr, cfg.beta1 ?? GAN_DEFAULT_BETA1, 0.999);
    // decay 0.99 = PyTorch's RMSprop alpha, what the WGAN reference ran with.
    case 'rmsprop':
      return tf.train.rmsprop(cfg.lr, 0.99, cfg.momentum, 1e-8);
    case 'sgd':
      return tf.train.momentum(cfg.lr, cfg.momentum);
  }
}

const vars = (m: tf.LayersModel) => m.trainableWeights.map((w) => w.read() as tf.Variable);

export class GanTrainer {
  readonly generator: tf.Sequential;
  readonly discriminator: tf.Sequential;
  readonly clip: number | undefined;
  private readonly gOpt: tf.Optimizer;
  private readonly dOpt: tf.Optimizer;
  private readonly noiseSeeds: Seeds;

  constructor(readonly cfg: GanTrainConfig) {
    const seeds = new Seeds(cfg.seed);
    this.generator = buildGenerator(cfg.kind, cfg.latent, cfg.shape, cfg.output, seeds, cfg.width);
    this.discriminator = buildDiscriminator(cfg.kind, cfg.shape, seeds, cfg.width);
    this.gOpt = makeOptimizer(cfg);
    this.dOpt = makeOptimizer(cfg);
    this.noiseSeeds = new Seeds(cfg.seed + 1);
    this.clip = cfg.critic.clip ?? (cfg.kind === 'wgan' ? DEFAULT_WGAN_CLIP : undefined);
  }

  noise(n: number): tf.Tensor2D {
    return tf.randomNormal([n, this.cfg.latent], 0, 1, 'float32', this.noiseSeeds.next());
  }

  /** Networks and optimizers for saveCheckpoint/loadCheckpoint (a fresh optimizer takes saved moments). */
  checkpointable(): Checkpointable {
    return { models: { generator: this.generator, discriminator: this.discriminator }, optimizers: { generator: this.gOpt, discriminator: this.dOpt } };
  }

  /** Noise draws so far; restoring it makes a resumed run draw the noise the uninterrupted one would. */
  get noisePosition(): number {
    return this.noiseSeeds.position;
  }
  set noisePosition(drawn: number) {
    this.noiseSeeds.seek(drawn);
  }

  /**
   * One discriminator/critic update. gan/dcgan: one batch, half real and half fake, cross-entropy.
   * wgan: clip, then a real batch and a fake batch, loss E[D(fake)] − E[D(real)].
   */
  async discriminatorStep(real: RealSource): Promise<{ loss: number; wasserstein?: number }> {
    if (this.clip !== undefined) clipWeights(this.discriminator, this.clip);
    const b = this.cfg.batchSize;
    const wgan = this.cfg.kind === 'wgan';
    const nReal = wgan ? b : Math.max(1, Math.floor(b / 2));
    const nFake = wgan ? b : Math.max(1, b - nReal);
    let estimate: tf.Scalar | undefined;
    const loss = tf.tidy(() => {
      const x = real.next(nReal);
      // Fakes are made outside the loss closure: this update must not touch the generator.
      const fake = this.generator.apply(this.noise(nFake), { training: true }) as tf.Tensor4D;
      return this.dOpt.minimize(
        () => {
          if (!wgan) {
            const logits = this.discriminator.apply(tf.concat([x, fake]), { training: true }) as tf.Tensor;
            return discriminatorCrossEntropy(logits, nReal);
          }
          const r = this.discriminator.apply(x, { training: true }) as tf.Tensor;
          const f = this.discriminator.apply(fake, { training: true }) as tf.Tensor;
          estimate = tf.keep(wassersteinEstimate(r, f));
          return criticLoss(r, f);
        },
        true,
        vars(this.discriminator),
      ) as tf.Scalar;
    });
    const lossValue = (await loss.data())[0]!;
    loss.dispose();
    if (!estimate) return { loss: lossValue };
    const w = (await (estimate as tf.Scalar).data())[0]!;
    (estimate as tf.Scalar).dispose();
    return { loss: lossValue, wasserstein: w };
  }

  /** One generator update through a frozen discriminator (only generator variables are in the list). */
  async generatorStep(): Promise<number> {
    const loss = tf.tidy(
      () =>
        this.gOpt.minimize(
          () => {
            const fake = this.generator.apply(this.noise(this.cfg.batchSize), { training: true }) as tf.Tensor;
            const scores = this.discriminator.apply(fake, { training: true }) as tf.Tensor;
            return this.cfg.kind === 'wgan' ? generatorWassersteinLoss(scores) : generatorCrossEntropy(scores);
          },
          true,
          vars(this.generator),
        ) as tf.Scalar,
    );
    const v = (await loss.data())[0]!;
    loss.dispose();
    return v;
  }

  /** Generator step `g` (0-based) preceded by the scheduled number of critic updates. */
  async step(g: number, real: RealSource): Promise<StepMetrics> {
    const n = criticSteps(g, this.cfg.critic);
    let dSum = 0;
    let wSum = 0;
    for (let i = 0; i < n; i++) {
      const r = await this.discriminatorStep(real);
      dSum += r.loss;
      wSum += r.wasserstein ?? 0;
    }
    const g_loss = await this.generatorStep();
    // Means over this step's critic updates: the last one alone is too noisy to read a trend from.
    const m: StepMetrics = { d_loss: dSum / n, g_loss, critic_steps: n };
    if (this.cfg.kind === 'wgan') m.wasserstein_estimate = wSum / n;
    return m;
  }

  /** Discriminator-only batches before the loop, so the generator starts against a useful signal. */
  async bootstrap(batches: number, real: RealSource): Promise<number> {
    let last = Number.NaN;
    for (let i = 0; i < batches; i++) last = (await this.discriminatorStep(real)).loss;
    return last;
  }

  /** Samples in inference mode (batch-norm moving statistics), e.g. from fixed noise for grids. */
  sample(noise: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => this.generator.apply(noise, { training: false }) as tf.Tensor4D);
  }

  dispose(): void {
    this.generator.dispose();
    this.discriminator.dispose();
    this.gOpt.dispose();
    this.dOpt.dispose();
  }
}
