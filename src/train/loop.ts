// The supervised training loop: seeded shuffling through the data module's chunk-shuffling loader,
// scheduled optimizer steps, per-step and per-epoch metrics, validation, checkpoints every N epochs
// and resuming from the last one. Works on images (fine-tuning, training from scratch) and on
// cached activations (head training) alike: both are Zarr arrays with labels.
import * as tf from '@tensorflow/tfjs';
import { batches, type Normalize } from '../data/loader.js';
import type { ZarrArray } from '../data/zarr.js';
import { setNoiseStep } from '../models/layers.js';
import type { Progress, StageLogger } from '../pipeline/types.js';
import { type CheckpointState, resumeOrStart } from './checkpoint.js';
import { EpochProgress, LoopCheckpoints } from './epoch-progress.js';
import type { CompositeLoss, LossBatch } from './losses.js';
import { classScores, hitCounts } from './metrics.js';
import { learningRate, makeOptimizer, setLearningRate, type TrainSpec } from './optim.js';
import { StopRule, type StopSummary } from './stop-rule.js';

/** A labelled array on disk: images (uint8, normalised on the fly) or activations (float32). */
export interface LabelledArrays {
  x: ZarrArray;
  y: ZarrArray;
  /** uint8 → float conversion; ignored for float arrays. */
  normalize: Normalize;
}

export type MetricSink = (key: string, value: number, step: number) => void;

export interface FitOptions {
  model: tf.LayersModel;
  loss: CompositeLoss;
  train: LabelledArrays;
  val?: LabelledArrays | undefined;
  /** Per-class target vectors [K, D] for embedding training (cosine/mse targets, nearest-target accuracy). */
  classTargets?: tf.Tensor2D | undefined;
  spec: Pick<TrainSpec, 'epochs' | 'steps' | 'batchSize' | 'optimizer' | 'lr' | 'momentum' | 'beta1' | 'schedule' | 'logEvery' | 'checkpointEvery'> &
    Partial<Pick<TrainSpec, 'checkpointMinutes' | 'stop' | 'budget' | 'augment'>>;
  seed: number;
  /** Validate every this many epochs (and always after the last). */
  evalEvery?: number;
  topK?: number;
  /** Folder for the checkpoint (`<dir>/checkpoint`); resumes from it when present. */
  checkpointDir?: string | undefined;
  /** Variables to train (default: the model's trainable weights). */
  trainable?: tf.Variable[] | undefined;
  metric?: MetricSink | undefined;
  progress?: Progress | undefined;
  log?: StageLogger | undefined;
  signal?: AbortSignal | undefined;
  /** Called after every epoch (and its checkpoint); tests watch memory and interrupt here. */
  onEpochEnd?: (epoch: number, metrics: Record<string, number>) => void;
}

export interface FitResult {
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

export interface EvalResult {
  n: number;
  loss: number;
  terms: Record<string, number>;
  accuracy: number;
  topK: number;
}

function toTensor(data: Float32Array | Uint8Array | Int32Array, shape: number[]): tf.Tensor {
  return data instanceof Int32Array ? tf.tensor(data, shape, 'int32') : tf.tensor(data, shape, 'float32');
}

function lossBatch(y: tf.Tensor, classTargets?: tf.Tensor2D): LossBatch {
  return classTargets ? { labels: y, target: tf.gather(classTargets, y) } : { labels: y };
}

/** Loss terms, accuracy and top-k over a whole labelled array, a batch at a time (no training). */
export async function evaluateArrays(model: tf.LayersModel, loss: CompositeLoss, data: LabelledArrays, o: { batchSize: number; topK: number; classTargets?: tf.Tensor2D | undefined }): Promise<EvalResult> {
  let n = 0;
  const sums = new Float64Array(loss.names.length + 3);
  for await (const b of batches({ images: data.x, labels: data.y, batchSize: o.batchSize, seed: 0, epoch: 0, normalize: data.normalize })) {
    const out = tf.tidy(() => {
      const x = toTensor(b.x, b.shape);
      const y = tf.tensor1d(b.y!, 'int32');
      const pred = model.apply(x, { training: false }) as tf.Tensor;
      const { total, terms } = loss.compute(pred, lossBatch(y, o.classTargets));
      return tf.concat([tf.stack([total, ...terms]).mul(b.n), hitCounts(classScores(pred, o.classTargets), y, o.topK)]);
    });
    const v = await out.data();
    out.dispose();
    for (let i = 0; i < v.length; i++) sums[i]! += v[i]!;
    n += b.n;
  }
  const d = Math.max(n, 1);
  return {
    n,
    loss: sums[0]! / d,
    terms: Object.fromEntries(loss.names.map((name, i) => [name, sums[i + 1]! / d])),
    accuracy: sums[loss.names.length + 1]! / d,
    topK: sums[loss.names.length + 2]! / d,
  };
}

/**
 * Flattens an evaluation into metric names: `<prefix>_loss`, `<prefix>_loss_<term>`, `<prefix>_accuracy`,
 * and `<prefix>_top<k>` only when k < classes (top-5 of 2 classes is 1.0 by construction).
 */
export function evalMetrics(prefix: string, r: EvalResult, k: number, classes = Number.POSITIVE_INFINITY): Record<string, number> {
  const m: Record<string, number> = { [`${prefix}_loss`]: r.loss, [`${prefix}_accuracy`]: r.accuracy, ...(k < classes ? { [`${prefix}_top${k}`]: r.topK } : {}) };
  for (const [t, v] of Object.entries(r.terms)) m[`${prefix}_loss_${t}`] = v;
  return m;
}

/** Augmentation applies to images only; cached activations (head training) are not images. */
function augmentOf(s: Partial<Pick<TrainSpec, 'augment'>>, data: LabelledArrays): TrainSpec['augment'] {
  return data.x.dtype === 'uint8' && data.x.shape.length === 4 ? (s.augment ?? 'none') : 'none';
}

export class TrainingAborted extends Error {
  constructor() {
    super('training aborted; rerun to resume from the last checkpoint');
    this.name = 'TrainingAborted';
  }
}

export async function fit(o: FitOptions): Promise<FitResult> {
  const s = o.spec;
  const topK = o.topK ?? 5;
  const evalEvery = o.evalEvery ?? 1;
  const n = o.train.x.shape[0]!;
  const stepsPerEpoch = Math.ceil(n / s.batchSize);
  const epochs = s.steps ? Math.ceil(s.steps / stepsPerEpoch) : StopRule.epochLimit(s.epochs, s.stop);
  const totalSteps = s.steps ?? epochs * stepsPerEpoch;
  const opt = makeOptimizer(s);
  const vars = o.trainable ?? o.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const what = { models: { model: o.model }, optimizers: { opt } };
  const emit = (key: string, value: number, step: number) => o.metric?.(key, value, step);

  const { state, dir: ckptDir, resumedFrom, record } = await resumeOrStart(o.checkpointDir, what, emit, o.log);
  const classes = o.classTargets ? o.classTargets.shape[0] : (o.model.outputs[0]!.shape.at(-1) ?? Number.POSITIVE_INFINITY);
  const checkpoints = new LoopCheckpoints(ckptDir, what, state, s.checkpointMinutes);
  const rule = new StopRule(s.stop, s.budget, state, o.checkpointDir, o.log);

  let last: Record<string, number> = {};
  try {
    for (let epoch = state.epoch; epoch < epochs && state.step < totalSteps && !rule.stopped; epoch++) {
      const ep = new EpochProgress(state, epoch, o.loss.names.length + 2, o.log);
      const sums = ep.sums;
      o.progress?.start(Math.min(n - ep.seen, (totalSteps - state.step) * s.batchSize), 'samples');
      // Each batch's progress tick is sent when the next batch starts, and the epoch's last one
      // after validation: a sweep's log line at "epoch 12/12 100%" then carries epoch 12's own
      // val metric, not epoch 11's.
      let tick: [number, string] | undefined;
      for await (const b of batches({ images: o.train.x, labels: o.train.y, batchSize: s.batchSize, seed: o.seed, epoch, normalize: o.train.normalize, augment: augmentOf(s, o.train) })) {
        if (ep.skipping()) continue;
        if (tick) o.progress?.tick(...tick);
        tick = undefined;
        if (o.signal?.aborted) {
          await checkpoints.keep(ep);
          throw new TrainingAborted();
        }
        if (state.step >= totalSteps || rule.stopped) break;
        const t0 = performance.now();
        const lr = learningRate(s.lr, s.schedule, { step: state.step, epoch, totalSteps });
        setLearningRate(opt, lr);
        setNoiseStep(state.step);
        const x = toTensor(b.x, b.shape);
        const y = tf.tensor1d(b.y!, 'int32');
        let extras: tf.Tensor | undefined;
        const cost = opt.minimize(
          () => {
            const pred = o.model.apply(x, { training: true }) as tf.Tensor;
            const { total, terms } = o.loss.compute(pred, lossBatch(y, o.classTargets));
            extras = tf.keep(tf.concat([tf.stack(terms), hitCounts(classScores(pred, o.classTargets), y, 1).slice(0, 1)]));
            return total;
          },
          true,
          vars,
        )!;
        const [c, e] = await Promise.all([cost.data(), extras!.data()]);
        tf.dispose([x, y, cost, extras!]);
        sums[0]! += c[0]! * b.n;
        for (let i = 0; i < e.length; i++) sums[i + 1]! += e[i]! * (i < o.loss.names.length ? b.n : 1);
        ep.trained(b.n);
        state.step++;
        rule.stepped(b.n, (performance.now() - t0) / 1000, epoch);
        if (state.step % s.logEvery === 0) {
          emit('train_step_loss', c[0]!, state.step);
          for (const [i, name] of o.loss.names.entries()) emit(`train_step_loss_${name}`, e[i]!, state.step);
          emit('lr', lr, state.step);
        }
        await checkpoints.keepIfDue(ep);
        tick = [b.n, `epoch ${epoch + 1}/${epochs} loss ${(sums[0]! / ep.seen).toFixed(4)} ${(ep.seen / ep.seconds()).toFixed(0)} samples/s`];
      }
      const secs = ep.seconds();
      const seen = ep.seen;
      const e1 = epoch + 1;
      last = {
        train_loss: sums[0]! / seen,
        ...Object.fromEntries(o.loss.names.map((name, i) => [`train_loss_${name}`, sums[i + 1]! / seen])),
        train_accuracy: sums[o.loss.names.length + 1]! / seen,
        epoch_time_s: secs,
        samples_per_s: seen / secs,
        // Per step, so arms with other batch counts compare: the cost of one optimizer step.
        train_ms_per_step: (1000 * secs) / Math.max(1, Math.ceil(seen / s.batchSize)),
      };
      let final = e1 >= epochs || state.step >= totalSteps || rule.stopped;
      // Early stopping needs its metric every epoch, whatever evaluate.every says.
      if (o.val && (e1 % evalEvery === 0 || final || s.stop)) {
        last = { ...last, ...evalMetrics('val', await evaluateArrays(o.model, o.loss, o.val, { batchSize: s.batchSize, topK, classTargets: o.classTargets }), topK, classes) };
      }
      for (const [k, v] of Object.entries(last)) record(k, v, e1);
      if (tick) o.progress?.tick(...tick);
      state.epoch = e1;
      if (await rule.epochEnd(e1, last, o.model)) final = true;
      o.progress?.done(`epoch ${e1}/${epochs}: ${Object.entries(last).filter(([k]) => /^(train_loss|val_loss|val_accuracy)$/.test(k)).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')} (${secs.toFixed(1)} s, ${(seen / secs).toFixed(0)} samples/s)`);
      await checkpoints.epochEnd(e1 % s.checkpointEvery === 0 || final);
      o.onEpochEnd?.(e1, last);
    }
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
