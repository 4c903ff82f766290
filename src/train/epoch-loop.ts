// The epoch tasks (the classifier on images, the head on cached activations, pretraining,
// super-resolution) on the one training loop (training-loop.ts: a round is an epoch): seeded
// batches, per-step and per-epoch metrics, validation, the plateau schedule, progress lines. The
// loop itself holds the schedule, checkpoints (epoch ends, Ctrl-C between two steps, every
// `train.checkpointMinutes`), resuming mid-epoch, early stopping and the budget (StopRule). What
// differs per task is only its batches, its optimizer step and its validation: the task supplies
// them as a TrainTask, and the loop never looks inside a batch.
import * as tf from '@tensorflow/tfjs';
import { parallelisesItself } from '../backend/select.js';
import type { Progress, StageLogger } from '../pipeline/types.js';
import { type CheckpointState, resumeOrStart } from './checkpoint.js';
import { makeOptimizer, setLearningRate, type TrainSpec } from './optim.js';
import { resolveWorkers } from './parallel/cores.js';
import { DataParallel, localStep } from './parallel/group.js';
import type { RowPass } from './parallel/pass.js';
import { type ParallelTask, singlePhase } from './parallel/replica.js';
import { type PlateauState, plateauEpochEnd, plateauMetric } from './plateau.js';
import { StopRule, type StopSummary } from './stop-rule.js';
import { type RoundTask, TrainingAborted, trainRounds } from './training-loop.js';

export type MetricSink = (key: string, value: number, step: number) => void;

/** What one optimizer step reports back to the loop. */
export interface StepResult {
  /** The weighted total loss (a mean over the batch). */
  loss: number;
  /** The unweighted loss terms, means over the batch, in the order of TrainTask.terms. */
  terms: ArrayLike<number>;
  /** Per-batch counts (e.g. correct predictions), in the order of TrainTask.counts: summed, then divided by the samples seen. */
  counts?: ArrayLike<number> | undefined;
}

export interface TrainTask<B extends { n: number }> {
  /** Training samples per epoch. */
  samples: number;
  /** Names of the loss terms (`train_loss_<name>`, `train_step_loss_<name>`). */
  terms: readonly string[];
  /** Epoch metrics that are counts over the samples (e.g. `train_accuracy`). */
  counts?: readonly string[] | undefined;
  /** The training batches of one epoch; the same seed and epoch give the same order, which is what resuming mid-epoch relies on. */
  batches(epoch: number): AsyncIterable<B>;
  /**
   * The task's shard gradient and how to split a batch: the loop applies it itself with one worker,
   * and through DataParallel (src/train/parallel) over `train.workers` ranks otherwise.
   */
  parallel: ParallelTask<B>;
  /**
   * Validation metrics (`val_*`), run after the epochs validation is due; `pass` is the training
   * ranks (when there are several) for the task's forward passes (`parallel.maps`).
   */
  validate?: ((pass: RowPass<B> | undefined) => Promise<Record<string, number>>) | undefined;
  /** After every optimizer step (1-based count), e.g. super-resolution's triptychs. */
  afterStep?: ((step: number) => Promise<void>) | undefined;
  /** Metrics shown in the epoch's progress line. */
  shown: RegExp;
}

export type LoopSpec = Pick<TrainSpec, 'epochs' | 'steps' | 'batchSize' | 'optimizer' | 'lr' | 'momentum' | 'schedule' | 'logEvery' | 'checkpointEvery'> &
  Partial<Pick<TrainSpec, 'beta1' | 'decay' | 'epsilon' | 'checkpointMinutes' | 'stop' | 'budget' | 'workers'>>;

export interface LoopOptions<B extends { n: number }> {
  task: TrainTask<B>;
  /** The model being trained: checkpointed, and the one the stop rule keeps the best weights of. */
  model: tf.LayersModel;
  spec: LoopSpec;
  /** Validate every this many epochs (and always after the last, and every epoch under train.stop). */
  evalEvery?: number | undefined;
  /** Folder for the checkpoint (`<dir>/checkpoint`) and the best weights (`<dir>/best`); resumes from it when present. */
  checkpointDir?: string | undefined;
  metric?: MetricSink | undefined;
  progress?: Progress | undefined;
  log?: StageLogger | undefined;
  signal?: AbortSignal | undefined;
  /** Called after every epoch (and its checkpoint); tests watch memory and interrupt here. */
  onEpochEnd?: ((epoch: number, metrics: Record<string, number>) => void) | undefined;
}

export interface LoopResult {
  /** Epoch the run started at (> 0 when it resumed from a checkpoint). */
  resumedFrom: number;
  epochs: number;
  steps: number;
  /** Metrics of the last epoch. */
  last: Record<string, number>;
  history: CheckpointState['history'];
  /** How training ended (epoch limit, early stop, budget) and which weights the model holds. */
  stop: StopSummary;
}

export { TrainingAborted };

/**
 * The ranks a run trains with: `train.workers` (default: the cores this run may use), one on a
 * native backend (TensorFlow already uses every core there) and on webgpu (one GPU).
 */
export function trainingWorkers(requested: number | undefined): { workers: number; backend: string } {
  const backend = tf.getBackend();
  return { workers: parallelisesItself(backend) ? 1 : resolveWorkers(requested), backend };
}

export async function trainEpochs<B extends { n: number }>(o: LoopOptions<B>): Promise<LoopResult> {
  const { task, spec: s } = o;
  const evalEvery = o.evalEvery ?? 1;
  const n = task.samples;
  const counts = task.counts ?? [];
  const nT = task.terms.length;
  const stepsPerEpoch = Math.ceil(n / s.batchSize);
  const epochs = s.steps ? Math.ceil(s.steps / stepsPerEpoch) : StopRule.epochLimit(s.epochs, s.stop);
  const totalSteps = s.steps ?? epochs * stepsPerEpoch;
  const opt = makeOptimizer(s);
  const what = { models: { model: o.model }, optimizers: { opt } };
  const emit = (key: string, value: number, step: number) => o.metric?.(key, value, step);

  const { state, dir: ckptDir, resumedFrom, record } = await resumeOrStart(o.checkpointDir, what, emit, o.log);
  const rule = new StopRule(s.stop, s.budget, state, o.checkpointDir, o.log);
  // The plateau schedule's factor rides in the checkpoint with the rest of the state.
  const withPlateau = state as CheckpointState & { plateau?: PlateauState };
  if (s.schedule.kind === 'plateau') withPlateau.plateau ??= { factor: 1, wait: 0 };
  const plateau = withPlateau.plateau;
  const { workers, backend } = trainingWorkers(s.workers);
  let group: DataParallel<B> | undefined;
  // Each batch's progress tick is sent when the next batch starts, and the epoch's last one after
  // validation: a sweep's log line at "epoch 12/12 100%" then carries epoch 12's own val metric,
  // not epoch 11's.
  let tick: [number, string] | undefined;
  let epochNow = 0;
  let lastBatch = 0;
  const flush = () => {
    if (tick) o.progress?.tick(...tick);
    tick = undefined;
  };
  const round: RoundTask<B> = {
    rounds: epochs,
    totalSteps,
    counts: 'epochs',
    // [loss, ...terms, ...counts]
    sums: 1 + nT + counts.length,
    epochOf: (epoch) => epoch,
    lrFactor: () => plateau?.factor,
    items: (epoch) => task.batches(epoch),
    // Started after resumeOrStart, so the replicas begin from the restored weights.
    async start() {
      if (workers <= 1) return;
      group = await DataParallel.start({ workers, plan: singlePhase(o.model, task.parallel), backend });
      o.log?.info(`train: ${workers} data-parallel workers (${backend}), ${s.batchSize} samples a step split ${Math.ceil(s.batchSize / workers)}/${Math.floor(s.batchSize / workers)}`);
    },
    close: async () => group?.close(),
    setLearningRate: (lr) => setLearningRate(opt, lr),
    beginRound(epoch, ep) {
      epochNow = epoch;
      o.progress?.start(Math.min(n - ep.seen, (totalSteps - state.step) * s.batchSize), 'samples');
    },
    beforeStep: flush,
    async step(b, at) {
      lastBatch = b.n;
      const r = group ? await group.step(b, opt, at.step) : await localStep(task.parallel.grads, task.parallel.vars, b, opt);
      const sums = at.sums;
      sums[0]! += r.loss * b.n;
      for (let i = 0; i < nT; i++) sums[1 + i]! += r.terms[i]! * b.n;
      for (let i = 0; i < counts.length; i++) sums[1 + nT + i]! += r.counts?.[i] ?? 0;
      const done = at.step + 1;
      if (done % s.logEvery === 0) {
        emit('train_step_loss', r.loss, done);
        for (const [i, name] of task.terms.entries()) emit(`train_step_loss_${name}`, r.terms[i]!, done);
        emit('lr', at.lr, done);
      }
      return b.n;
    },
    async afterStep(done, ep) {
      await task.afterStep?.(done);
      tick = [lastBatch, `epoch ${epochNow + 1}/${epochs} loss ${(ep.sums[0]! / ep.seen).toFixed(4)} ${(ep.seen / ep.seconds()).toFixed(1)} samples/s`];
    },
    async roundEnd(epoch, ep, final) {
      const secs = ep.seconds();
      const seen = Math.max(1, ep.seen);
      const e1 = epoch + 1;
      const sums = ep.sums;
      let m: Record<string, number> = {
        train_loss: sums[0]! / seen,
        ...Object.fromEntries(task.terms.map((name, i) => [`train_loss_${name}`, sums[1 + i]! / seen])),
        ...Object.fromEntries(counts.map((name, i) => [name, sums[1 + nT + i]! / seen])),
        epoch_time_s: secs,
        samples_per_s: ep.seen / secs,
        // Per step, so arms with other batch counts compare: the cost of one optimizer step.
        train_ms_per_step: (1000 * secs) / Math.max(1, Math.ceil(ep.seen / s.batchSize)),
      };
      // Early stopping needs its metric every epoch, whatever evaluate.every says.
      if (task.validate && (e1 % evalEvery === 0 || final || s.stop || plateau)) m = { ...m, ...(await task.validate(task.parallel.maps ? group : undefined)) };
      return m;
    },
    async afterRound(e1, final, m, ep) {
      flush();
      if (plateau && !final) {
        const lowered = plateauEpochEnd(plateau, m, s);
        if (lowered !== undefined) o.log?.info(`train: ${plateauMetric(s).metric} has not improved for ${s.schedule.patience} epochs: learning rate × ${s.schedule.gamma} → ${(s.lr * lowered).toPrecision(3)}`);
      }
      const secs = ep.seconds();
      const shown = Object.entries(m).filter(([k]) => task.shown.test(k));
      o.progress?.done(`epoch ${e1}/${epochs}: ${shown.map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')} (${secs.toFixed(1)} s, ${(ep.seen / secs).toFixed(0)} samples/s)`);
    },
    checkpointDue: (e1, final) => e1 % s.checkpointEvery === 0 || final,
    onRoundEnd: (e1, m) => o.onEpochEnd?.(e1, m),
  };
  let last: Record<string, number> = {};
  try {
    last = await trainRounds({ task: round, state, dir: ckptDir, what, record, spec: s, rule, model: o.model, signal: o.signal, log: o.log });
  } finally {
    opt.dispose();
  }
  const stop = await rule.finish(state.epoch, o.model);
  if (s.stop || s.budget) o.log?.info(`train: ${stop.message}`);
  // A rerun of a finished run trains nothing: report the recorded last epoch.
  if (Object.keys(last).length === 0) {
    for (const [k, points] of Object.entries(state.history)) if (points.length && points[points.length - 1]![0] === state.epoch) last[k] = points[points.length - 1]![1];
  }
  return { resumedFrom, epochs: state.epoch, steps: state.step, last, history: state.history, stop };
}
