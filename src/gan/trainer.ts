// The adversarial steps of all three kinds (the loop that runs them is src/train/training-loop.ts,
// through gan/train-stage.ts). What differs per kind is data: the models
// (models.ts), the losses (losses.ts), clipping and the critic schedule (schedule.ts).
import * as tf from '@tensorflow/tfjs';
import type { ExperimentSpec } from '../spec/schema.js';
import type { Checkpointable } from '../train/checkpoint.js';
import { DataParallel, localStep } from '../train/parallel/group.js';
import type { RowPass } from '../train/parallel/pass.js';
import type { ReplicaTask, ShardGrads, ShardMap } from '../train/parallel/replica.js';
import { shardSizes } from '../train/parallel/shards.js';
import { GAN_BETA1, makeOptimizer, setLearningRate } from '../train/optim.js';
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
import { SCORE_NOISE, type ScoreRows, scorerMaps } from './scorer.js';
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
  /** RMSprop ρ and the adam/rmsprop epsilon (`train.decay`, `train.epsilon`; unset: the factory's defaults). */
  decay?: number | undefined;
  epsilon?: number | undefined;
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
    beta1: spec.train.beta1 ?? GAN_BETA1,
    decay: spec.train.decay,
    epsilon: spec.train.epsilon,
    width: spec.gan.width,
    critic: spec.gan.critic,
    seed: spec.seed,
  };
}

const vars = (m: tf.LayersModel) => m.trainableWeights.map((w) => w.read() as tf.Variable);

/**
 * One critic or generator step's data on the host: `nReal` real images, then one noise vector per
 * generated image; `n` counts both (the losses are means over all of them). A shard takes its
 * share of each, so the shards' size-weighted losses add up to the whole batch's.
 */
export interface GanBatch {
  n: number;
  nReal: number;
  real: Float32Array;
  z: Float32Array;
}

/** A tensor's values on the host (read asynchronously: webgpu has no synchronous readback in Node). */
const host = async (t: tf.Tensor): Promise<Float32Array> => {
  const a = (await t.data()) as Float32Array;
  t.dispose();
  return a;
};

function splitGan(b: GanBatch, parts: number): GanBatch[] {
  const reals = shardSizes(b.nReal, parts);
  const fakes = shardSizes(b.n - b.nReal, parts);
  const perReal = b.nReal ? b.real.length / b.nReal : 0;
  const perZ = b.n - b.nReal ? b.z.length / (b.n - b.nReal) : 0;
  let r0 = 0;
  let z0 = 0;
  return reals.map((nr, i) => {
    const nf = fakes[i]!;
    const shard = { n: nr + nf, nReal: nr, real: b.real.slice(r0 * perReal, (r0 + nr) * perReal), z: b.z.slice(z0 * perZ, (z0 + nf) * perZ) };
    r0 += nr;
    z0 += nf;
    return shard;
  });
}

/**
 * The critic's and the generator's shard gradients (phases 0 and 1): the same code on rank 0 and on
 * every data-parallel worker. terms: [wasserstein estimate] for wgan's critic step.
 */
function ganPhases(kind: GanKind, latent: number, shape: ImageShape, g: tf.LayersModel, d: tf.LayersModel, dVars: tf.Variable[], gVars: tf.Variable[]): ShardGrads<GanBatch>[] {
  const wgan = kind === 'wgan';
  const critic: ShardGrads<GanBatch> = async (b) => {
    const x = tf.tensor4d(b.real, [b.nReal, shape.height, shape.width, shape.channels]);
    const z = tf.tensor2d(b.z, [b.n - b.nReal, latent]);
    // Fakes are made outside the loss closure: this update must not touch the generator.
    const fake = tf.tidy(() => g.apply(z, { training: true }) as tf.Tensor4D);
    let estimate: tf.Scalar | undefined;
    const { value, grads } = tf.variableGrads(() => {
      if (!wgan) {
        const logits = d.apply(tf.concat([x, fake]), { training: true }) as tf.Tensor;
        return discriminatorCrossEntropy(logits, b.nReal);
      }
      const r = d.apply(x, { training: true }) as tf.Tensor;
      const f = d.apply(fake, { training: true }) as tf.Tensor;
      estimate = tf.keep(wassersteinEstimate(r, f));
      return criticLoss(r, f);
    }, dVars);
    const loss = (await value.data())[0]!;
    const terms = estimate ? [(await estimate.data())[0]!] : [];
    tf.dispose([x, z, fake, value, ...(estimate ? [estimate] : [])]);
    return { loss, terms, grads: dVars.map((v) => grads[v.name]!) };
  };
  const generator: ShardGrads<GanBatch> = async (b) => {
    const z = tf.tensor2d(b.z, [b.n, latent]);
    const { value, grads } = tf.variableGrads(() => {
      const scores = d.apply(g.apply(z, { training: true }) as tf.Tensor, { training: true }) as tf.Tensor;
      return wgan ? generatorWassersteinLoss(scores) : generatorCrossEntropy(scores);
    }, gVars);
    const loss = (await value.data())[0]!;
    tf.dispose([z, value]);
    return { loss, terms: [], grads: gVars.map((v) => grads[v.name]!) };
  };
  return [critic, generator];
}

interface GanRecipe {
  kind: GanKind;
  latent: number;
  shape: ImageShape;
  /** Whether the third model is the quality scorer (gan.stop scores on the training ranks). */
  score: boolean;
}

/** The quality scorer's pass on generated images (SCORE_NOISE) as a pass over the GAN's batches (their noise). */
function qualityMap(scorer: tf.LayersModel, g: tf.LayersModel, latent: number): ShardMap<GanBatch> {
  const noise = scorerMaps(scorer, g, latent)[SCORE_NOISE]!;
  return (b) => noise({ n: b.n, x: b.z });
}

/** Builds the GAN's shard gradients (and the quality pass) in a data-parallel worker (TaskRecipe of GanTrainer.startWorkers). */
export async function ganReplica(c: GanRecipe, [g, d, scorer]: tf.LayersModel[], [dVars, gVars]: tf.Variable[][]): Promise<ReplicaTask<GanBatch>> {
  return { phases: ganPhases(c.kind, c.latent, c.shape, g!, d!, dVars!, gVars!), maps: c.score ? [qualityMap(scorer!, g!, c.latent)] : [] };
}

export class GanTrainer {
  readonly generator: tf.Sequential;
  readonly discriminator: tf.Sequential;
  readonly clip: number | undefined;
  private readonly gOpt: tf.Optimizer;
  private readonly dOpt: tf.Optimizer;
  private readonly noiseSeeds: Seeds;
  private readonly phases: ShardGrads<GanBatch>[];
  private group: DataParallel<GanBatch> | undefined;
  /** Optimizer steps so far (critic and generator), for the data-parallel ranks. */
  private stepCount = 0;

  constructor(readonly cfg: GanTrainConfig) {
    const seeds = new Seeds(cfg.seed);
    this.generator = buildGenerator(cfg.kind, cfg.latent, cfg.shape, cfg.output, seeds, cfg.width);
    this.discriminator = buildDiscriminator(cfg.kind, cfg.shape, seeds, cfg.width);
    // The one factory of every task (src/train/optim.ts): rmsprop, adam and sgd mean the same here.
    const opt = { ...cfg, beta1: cfg.beta1 ?? GAN_BETA1 };
    this.gOpt = makeOptimizer(opt);
    this.dOpt = makeOptimizer(opt);
    this.noiseSeeds = new Seeds(cfg.seed + 1);
    this.clip = cfg.critic.clip ?? (cfg.kind === 'wgan' ? DEFAULT_WGAN_CLIP : undefined);
    this.phases = ganPhases(cfg.kind, cfg.latent, cfg.shape, this.generator, this.discriminator, vars(this.discriminator), vars(this.generator));
  }

  /**
   * Data-parallel critic and generator steps over `workers` ranks (train.workers). Rank 0 publishes
   * its weights before every step, so a restored checkpoint or a clip reaches the workers. With the
   * quality `scorer` (gan.stop), the same ranks score the generator (scorePass).
   */
  async startWorkers(workers: number, backend: string, scorer?: tf.LayersModel): Promise<void> {
    if (workers <= 1 || this.group) return;
    const { latent } = this.cfg;
    this.group = await DataParallel.start({
      workers,
      backend,
      plan: {
        models: scorer ? [this.generator, this.discriminator, scorer] : [this.generator, this.discriminator],
        phases: [
          { vars: vars(this.discriminator), grads: this.phases[0]! },
          { vars: vars(this.generator), grads: this.phases[1]! },
        ],
        maps: scorer ? [qualityMap(scorer, this.generator, latent)] : undefined,
        recipe: { module: import.meta.url, name: 'ganReplica', config: { kind: this.cfg.kind, latent, shape: this.cfg.shape, score: scorer !== undefined } satisfies GanRecipe },
        split: splitGan,
        buffers: (b) => [b.real.buffer as ArrayBuffer, b.z.buffer as ArrayBuffer],
      },
    });
  }

  /**
   * The quality scorer's pass on generated images (SCORE_NOISE) over the training ranks, when they
   * were started with the scorer; undefined otherwise (the caller scores on this thread).
   */
  scorePass(): RowPass<ScoreRows> | undefined {
    const group = this.group;
    if (!group?.hasMaps) return undefined;
    return {
      workers: group.workers,
      map: (b, _fn, index) => group.map({ n: b.n, nReal: 0, real: new Float32Array(0), z: b.x }, 0, index),
      // The ranks stay for training: close() ends them.
      close: async () => {},
    };
  }

  private run(phase: 0 | 1, b: GanBatch) {
    const opt = phase === 0 ? this.dOpt : this.gOpt;
    const step = this.stepCount++;
    return this.group ? this.group.step(b, opt, step, phase) : localStep(this.phases[phase]!, phase === 0 ? vars(this.discriminator) : vars(this.generator), b, opt);
  }

  /**
   * Optimizer steps (critic and generator) taken so far, the step index the data-parallel ranks
   * see; a resumed run sets it to what the interrupted one had reached.
   */
  get optimizerSteps(): number {
    return this.stepCount;
  }
  set optimizerSteps(n: number) {
    this.stepCount = n;
  }

  /** The learning rate of both networks for the next step (`train.schedule`). */
  setLearningRate(lr: number): void {
    setLearningRate(this.gOpt, lr);
    setLearningRate(this.dOpt, lr);
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
    // Drawn here, on rank 0, in the order one worker always drew them: the same images and noise
    // whatever the worker count.
    const x = await host(real.next(nReal));
    const z = await host(this.noise(nFake));
    const r = await this.run(0, { n: nReal + nFake, nReal, real: x, z });
    return wgan ? { loss: r.loss, wasserstein: r.terms[0]! } : { loss: r.loss };
  }

  /** One generator update through a frozen discriminator (only generator variables are in the list). */
  async generatorStep(): Promise<number> {
    const b = this.cfg.batchSize;
    return (await this.run(1, { n: b, nReal: 0, real: new Float32Array(0), z: await host(this.noise(b)) })).loss;
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

  /** Stops the data-parallel workers (if any). */
  async close(): Promise<void> {
    await this.group?.close();
    this.group = undefined;
  }

  dispose(): void {
    void this.close();
    this.generator.dispose();
    this.discriminator.dispose();
    this.gOpt.dispose();
    this.dOpt.dispose();
  }
}
