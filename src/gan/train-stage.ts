// Stage 'train' for task gan: the adversarial steps on the one training loop (src/train/
// training-loop.ts), one round per generator step, gan.stop's score as its validation. Not cacheable: ctx.out is a stable work folder
// holding the checkpoint (a rerun continues exactly where the interrupted run stopped), the final
// generator for the evaluate stage, and the sample grids, which are also logged to the run as artifacts.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/index.js';
import { trainingWorkers } from '../train/epoch-loop.js';
import { saveModel } from '../models/io.js';
import type { SpecProblem, StageContext, StageImpl } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { resumeOrStart, saveCheckpoint } from '../train/checkpoint.js';
import { recordStop } from '../train/stop-rule.js';
import { withWorkers } from '../train/parallel/cores.js';
import { type RoundTask, trainRounds } from '../train/training-loop.js';
import { loadTrainingImages } from './data.js';
import { gridPng } from './grid.js';
import { Seeds } from './random.js';
import type { SourcePosition } from './real-source.js';
import { QualityStop } from './quality-stop.js';
import { criticSteps } from './schedule.js';
import { ganConfigFromSpec, GanTrainer } from './trainer.js';

// 3: the checkpoint is the training core's (optimizers, noise and real-image positions); work
// folders of version 2 hold a weights-only checkpoint in another layout.
export const GAN_TRAIN_VERSION = 3;
/** Samples in every grid, drawn from the same fixed noise so grids are comparable across steps. */
export const GRID_SAMPLES = 64;

/** What the evaluate stage needs to know about the trained generator. */
export interface GeneratorInfo {
  kind: ExperimentSpec['gan']['kind'];
  latent: number;
  shape: { height: number; width: number; channels: number };
  range: [number, number];
  steps: number;
  seconds: number;
}

/** The checkpoint's `extra`: with weights and optimizer moments, what makes the rest of a resumed run draw what the uninterrupted one would. */
interface GanProgress {
  seconds: number;
  noise: number;
  real: SourcePosition;
}

/** Generator steps in one pass over the training images: the GAN's "epoch" (`train.epochs`, the step and exponential schedules). */
export function ganStepsPerEpoch(spec: ExperimentSpec, trainCount: number): number {
  return Math.max(1, Math.floor(trainCount / spec.train.batchSize));
}

export function ganSteps(spec: ExperimentSpec, trainCount: number): number {
  return spec.train.steps ?? spec.train.epochs * ganStepsPerEpoch(spec, trainCount);
}

async function writeGrid(ctx: StageContext, trainer: GanTrainer, noise: tf.Tensor2D, range: [number, number], name: string): Promise<void> {
  const s = trainer.sample(noise);
  const [n, h, w, c] = s.shape;
  const png = await gridPng((await s.data()) as Float32Array, n, h, w, c, { range, cols: 8, scale: 2 });
  s.dispose();
  const dir = join(ctx.out, 'samples');
  await mkdir(dir, { recursive: true });
  const file = join(dir, name);
  await writeFile(file, png);
  await ctx.run?.logArtifact(file, 'samples');
}

export const stage: StageImpl = {
  kind: 'train',
  // The scorer only when it exists for the spec (inputs not in the plan are dropped): gan.stop scores while training.
  inputs: ['preprocess', 'scorer'],
  cacheable: false,
  libraries: ['tfjs'],
  // The train fields the GAN loop uses; the others (stop, budget, augment, logEvery: every step is
  // logged; checkpointEvery: it checkpoints at gan.sampleEvery) are not read, so a gan spec that
  // sets one is told it does nothing.
  reads: [
    'seed',
    'preprocess.normalize',
    'gan',
    ...['epochs', 'steps', 'batchSize', 'optimizer', 'lr', 'momentum', 'beta1', 'decay', 'epsilon', 'schedule', 'backend', 'workers', 'checkpointMinutes'].map((f) => `train.${f}`),
  ],
  // The worker count as the run resolves it: the critic and generator steps are data-parallel too.
  refine: withWorkers,
  ignores: {
    'gan.samples': 'samples drawn for the quality score, by evaluate',
    'train.checkpointMinutes': 'checkpoint cadence, by the clock: a resumed run continues where it stopped (the same results)',
  },
  check(spec) {
    const out: SpecProblem[] = [];
    if (spec.preprocess.normalize === 'imagenet') {
      out.push({ path: ['preprocess', 'normalize'], message: 'is imagenet, but task gan needs unit or symmetric (the generator ends in sigmoid or tanh)' });
    }
    const side = Array.isArray(spec.preprocess.size) ? spec.preprocess.size[0]! : spec.preprocess.size;
    if (spec.gan.kind !== 'gan' && side % 4 !== 0) {
      out.push({ path: ['preprocess', 'size'], message: `is ${side}, but ${spec.gan.kind} upsamples twice by 2, so the image side must be divisible by 4` });
    }
    return out;
  },
  async run(ctx) {
    const { spec } = ctx;
    const normalize = spec.preprocess.normalize;
    if (normalize === 'imagenet') throw new Error('task gan needs preprocess.normalize unit or symmetric (the generator ends in sigmoid or tanh)');
    await initBackend(spec.train.backend, (l) => ctx.log.info(l));
    const real = await loadTrainingImages(ctx.input('preprocess'), normalize, spec.seed);
    const cfg = ganConfigFromSpec(spec, real.shape);
    const range: [number, number] = cfg.output === 'tanh' ? [-1, 1] : [0, 1];
    const steps = ganSteps(spec, real.count);
    const perEpoch = ganStepsPerEpoch(spec, real.count);
    // The same train.schedule as every task, by generator step (a resumed run sets the same rates).
    const scheduled = spec.train.schedule.kind !== 'constant' || spec.train.schedule.warmupSteps > 0;
    const trainer = new GanTrainer(cfg);
    const noise = tf.randomNormal([GRID_SAMPLES, cfg.latent], 0, 1, 'float32', new Seeds(spec.seed + 7919).next()) as tf.Tensor2D;
    ctx.run?.setTag('gan.kind', cfg.kind);
    ctx.run?.setTag('gan.clip', String(trainer.clip ?? 'none'));

    // Checkpoints are written only after generator steps, so a resumed run never bootstraps again.
    // The per-step metrics so far travel in the checkpoint and are logged again on resume: a
    // resumed run (a new run, e.g. a resumed sweep trial) holds the whole curve, as every task's.
    const what = trainer.checkpointable();
    const emit = (key: string, value: number, step: number) => ctx.run?.logMetric(key, value, step);
    const { state, dir: ckptDir, record } = await resumeOrStart(ctx.out, what, emit, ctx.log, (c) => `resuming GAN training at generator step ${Math.min(c.step, steps)} of ${steps}`);
    const resumed = state.extra as GanProgress | undefined;
    let priorSeconds = 0;
    if (resumed) {
      trainer.noisePosition = resumed.noise;
      real.seek(resumed.real);
      priorSeconds = resumed.seconds;
      state.step = Math.min(state.step, steps);
      // The optimizer steps before this one (the bootstrap's, each generator step's critic steps and its own).
      trainer.optimizerSteps = spec.gan.bootstrap + Array.from({ length: state.step }, (_, g) => criticSteps(g, cfg.critic) + 1).reduce((a, b) => a + b, 0);
    }
    const start = state.step;
    // gan.stop keeps its best score, wait count and best generator in the state (saved with every checkpoint).
    const qstop = spec.gan.stop ? await QualityStop.open(spec.gan.stop, ctx.input('scorer'), cfg.latent, spec.seed, state, ctx.out, ctx.log) : undefined;
    const t0 = performance.now();
    const seconds = () => priorSeconds + (performance.now() - t0) / 1000;
    const progress = (): GanProgress => ({ seconds: seconds(), noise: trainer.noisePosition, real: real.position });
    if (start === 0 && spec.gan.bootstrap > 0) {
      const loss = await trainer.bootstrap(spec.gan.bootstrap, real);
      ctx.log.info(`discriminator bootstrap: ${spec.gan.bootstrap} batches, loss ${loss.toFixed(4)}`);
      record('bootstrap_d_loss', loss, 0);
    }
    const { workers, backend } = trainingWorkers(spec.train.workers);
    ctx.progress.start(steps - start, 'generator steps');
    let criticTotal = 0;
    let scored = false;
    // One round is one generator step (with its critic steps); the GAN has no epochs, so its
    // checkpoint's epoch stays 0 and its step counts generator steps.
    const round: RoundTask<number> = {
      rounds: steps,
      totalSteps: steps,
      counts: 'steps',
      sums: 0,
      epochOf: (g) => Math.floor(g / perEpoch),
      items: (g) => [g],
      async start() {
        await trainer.startWorkers(workers, backend, qstop?.scorerModel);
        if (workers > 1) ctx.log.info(`train: ${workers} data-parallel workers (${backend}) for the critic and generator steps${qstop ? ' and the quality score' : ''}`);
      },
      close: () => trainer.close(),
      setLearningRate: (lr) => trainer.setLearningRate(lr),
      async step(g, at) {
        const m = await trainer.step(g, real);
        if (scheduled) record('lr', at.lr, g);
        criticTotal += m.critic_steps;
        // Every generator step, regardless of train.logEvery: the schedule must be checkable from the store.
        for (const [k, v] of Object.entries(m)) record(k, v as number, g);
        const w = m.wasserstein_estimate;
        ctx.progress.tick(1, `d ${m.d_loss.toFixed(3)} g ${m.g_loss.toFixed(3)}${w === undefined ? '' : ` W ${w.toFixed(4)}`} critic ${m.critic_steps}`);
        if (!Number.isFinite(m.d_loss) || !Number.isFinite(m.g_loss)) throw new Error(`GAN losses became non-finite at generator step ${g} (d ${m.d_loss}, g ${m.g_loss}); lower train.lr`);
        return cfg.batchSize;
      },
      // gan.stop's score, when due: the round's "validation".
      async roundEnd(g) {
        const done = g + 1;
        scored = qstop?.due(done, steps) ?? false;
        return scored ? qstop!.score(trainer.generator, trainer.scorePass()) : {};
      },
      recordAs: (k) => `quality_${k}`,
      async afterRound(done, final) {
        if (!final && done % spec.gan.sampleEvery === 0) await writeGrid(ctx, trainer, noise, range, `step-${String(done).padStart(6, '0')}.png`);
      },
      // At grids, and after a score too, so a resumed run continues with the patience count it had.
      checkpointDue: (done, final) => !final && (done % spec.gan.sampleEvery === 0 || scored),
      extra: () => progress(),
    };
    await trainRounds({ task: round, state, dir: ckptDir, what, record, spec: spec.train, rule: qstop?.stopRule, model: trainer.generator, signal: ctx.signal, log: ctx.log });
    const trained = state.step;
    const checkpoint = (step: number, secs: number) => saveCheckpoint(ckptDir!, what, { ...state, epoch: 0, step, extra: { ...progress(), seconds: secs } satisfies GanProgress });
    const total = seconds();
    if (qstop) {
      const end = await qstop.finish(trained, trainer.generator);
      ctx.log.info(`train: ${end.message}`);
      recordStop(ctx.run, end, { trained: 'generator_steps_trained', best: 'best_step' });
    }
    ctx.progress.done(`${trained} generator steps, ${criticTotal} critic steps this session, ${total.toFixed(1)} s`);
    await writeGrid(ctx, trainer, noise, range, 'final.png');
    await saveModel(trainer.generator, join(ctx.out, 'generator'));
    const info: GeneratorInfo = { kind: cfg.kind, latent: cfg.latent, shape: cfg.shape, range, steps: trained, seconds: total };
    await writeFile(join(ctx.out, 'generator.json'), JSON.stringify(info, null, 2));
    await checkpoint(trained, total);
    ctx.run?.logMetric('train_seconds', total);
    ctx.run?.logMetric('critic_steps_total', Array.from({ length: trained }, (_, g) => criticSteps(g, cfg.critic)).reduce((a, b) => a + b, 0));
    noise.dispose();
    trainer.dispose();
  },
};
