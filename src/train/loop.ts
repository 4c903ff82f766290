// Supervised training: the classifier's batches (seeded shuffling through the data module's
// chunk-shuffling loader, augmentation of images), its optimizer step and its validation, run by
// the one epoch loop (epoch-loop.ts). Works on images (fine-tuning, training from scratch) and on
// cached activations (head training) alike: both are Zarr arrays with labels.
import * as tf from '@tensorflow/tfjs';
import { type Batch, batches, type Normalize } from '../data/loader.js';
import type { ZarrArray } from '../data/zarr.js';
import type { Progress, StageLogger } from '../pipeline/types.js';
import { type LoopResult, type MetricSink, TrainingAborted, type TrainTask, trainEpochs } from './epoch-loop.js';
import { buildLoss, type CompositeLoss, type LossBatch, type LossTermSpec } from './losses.js';
import { classScores, hitCounts } from './metrics.js';
import type { TrainSpec } from './optim.js';
import { localPass, type RowPass, startPass, sumOf } from './parallel/pass.js';
import { type ReplicaTask, type ShardGrads, type ShardMap, tensorData } from './parallel/replica.js';
import { batchBuffers, splitBatch } from './parallel/shards.js';

/** A labelled array on disk: images (uint8, normalised on the fly) or activations (float32). */
export interface LabelledArrays {
  x: ZarrArray;
  y: ZarrArray;
  /** uint8 → float conversion; ignored for float arrays. */
  normalize: Normalize;
}

export type { MetricSink };

export interface FitOptions {
  model: tf.LayersModel;
  loss: CompositeLoss;
  train: LabelledArrays;
  val?: LabelledArrays | undefined;
  /** Per-class target vectors [K, D] for embedding training (cosine/mse targets, nearest-target accuracy). */
  classTargets?: tf.Tensor2D | undefined;
  spec: Pick<TrainSpec, 'epochs' | 'steps' | 'batchSize' | 'optimizer' | 'lr' | 'momentum' | 'beta1' | 'schedule' | 'logEvery' | 'checkpointEvery'> &
    Partial<Pick<TrainSpec, 'decay' | 'epsilon' | 'checkpointMinutes' | 'stop' | 'budget' | 'augment' | 'workers'>>;
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

export type FitResult = LoopResult;

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

/** A batch's images (or activations) as a float tensor. */
function inputTensor(b: Batch): tf.Tensor {
  return b.x instanceof Float32Array ? tf.tensor(b.x, b.shape, 'float32') : tf.tensor(Float32Array.from(b.x), b.shape, 'float32');
}

/** Forward passes of the classifier (ClassifyPass), by index. */
export const CLASSIFY_SUMS = 0;
export const CLASSIFY_OUTPUTS = 1;
export const CLASSIFY_TOP1 = 2;

/**
 * The classifier's forward passes on a shard, the same on every rank: CLASSIFY_SUMS, the loss and
 * its terms times the shard's rows and the top-1/top-k hits (sums, added up over the ranks);
 * CLASSIFY_OUTPUTS, the model's output rows; CLASSIFY_TOP1, per row the top-1 class and its
 * confidence (softmax of logits; cosine scores as they are with embedding targets). Without a
 * loss (predictions only) CLASSIFY_SUMS is unavailable.
 */
export function classifyMaps(model: tf.LayersModel, loss: CompositeLoss | undefined, classTargets: tf.Tensor2D | undefined, topK: number): ShardMap<Batch>[] {
  const read = async (t: tf.Tensor) => {
    const v = (await t.data()) as Float32Array;
    t.dispose();
    return v;
  };
  const sums: ShardMap<Batch> = async (b) => [
    await read(
      tf.tidy(() => {
        if (!loss) throw new Error('the classifier pass has no loss to evaluate');
        const y = tf.tensor1d(b.y!, 'int32');
        const pred = model.apply(inputTensor(b), { training: false }) as tf.Tensor;
        const { total, terms } = loss.compute(pred, lossBatch(y, classTargets));
        return tf.concat([tf.stack([total, ...terms]).mul(b.n), hitCounts(classScores(pred, classTargets), y, topK)]);
      }),
    ),
  ];
  const outputs: ShardMap<Batch> = async (b) => [await read(tf.tidy(() => model.predict(inputTensor(b)) as tf.Tensor))];
  const top1: ShardMap<Batch> = async (b) => [
    await read(
      tf.tidy(() => {
        const scores = classScores(model.apply(inputTensor(b), { training: false }) as tf.Tensor, classTargets);
        const conf = classTargets ? scores : tf.softmax(scores);
        return tf.stack([scores.argMax(-1).toFloat(), conf.max(-1)], 1);
      }),
    ),
  ];
  return [sums, outputs, top1];
}

interface ClassifyPassRecipe {
  terms: LossTermSpec[];
  classTargets: { data: number[]; shape: number[] } | null;
  topK: number;
}

function targetsOf(c: ClassifyPassRecipe): tf.Tensor2D | undefined {
  return c.classTargets ? tf.tensor2d(c.classTargets.data, c.classTargets.shape as [number, number]) : undefined;
}

/** Builds the classifier's forward passes in a data-parallel worker (the evaluate stage's ClassifyPass). */
export async function classifyPassReplica(config: ClassifyPassRecipe, [model]: tf.LayersModel[]): Promise<ReplicaTask<Batch>> {
  return { phases: [], maps: classifyMaps(model!, await buildLoss(config.terms), targetsOf(config), config.topK) };
}

/** The classifier's passes over `workers` ranks (the evaluate stage), or on this thread with one. */
export async function classifyPass(
  model: tf.LayersModel,
  loss: CompositeLoss,
  o: { topK: number; classTargets?: tf.Tensor2D | undefined; workers: number; backend: string },
): Promise<RowPass<Batch>> {
  const config: ClassifyPassRecipe = { terms: loss.specs, classTargets: o.classTargets ? tensorData(o.classTargets) : null, topK: o.topK };
  return startPass({
    workers: o.workers,
    backend: o.backend,
    plan: { models: [model], maps: classifyMaps(model, loss, o.classTargets, o.topK), recipe: { module: import.meta.url, name: 'classifyPassReplica', config }, split: splitBatch, buffers: batchBuffers },
  });
}

/**
 * Loss terms, accuracy and top-k over a whole labelled array, a batch at a time (no training);
 * with `pass`, each batch split across its ranks (the same sums, added in another order).
 */
export async function evaluateArrays(
  model: tf.LayersModel,
  loss: CompositeLoss,
  data: LabelledArrays,
  o: { batchSize: number; topK: number; classTargets?: tf.Tensor2D | undefined; pass?: RowPass<Batch> | undefined },
): Promise<EvalResult> {
  const pass = o.pass ?? localPass(classifyMaps(model, loss, o.classTargets, o.topK));
  let n = 0;
  let index = 0;
  const sums = new Float64Array(loss.names.length + 3);
  for await (const b of batches({ images: data.x, labels: data.y, batchSize: o.batchSize, seed: 0, epoch: 0, normalize: data.normalize })) {
    const v = sumOf(await pass.map(b, CLASSIFY_SUMS, index++));
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

export { TrainingAborted };

/** The classifier's shard gradient: the composite loss on the batch, its terms, and the batch's top-1 hits. */
function classifyGrads(model: tf.LayersModel, loss: CompositeLoss, classTargets: tf.Tensor2D | undefined, vars: tf.Variable[]): ShardGrads<Batch> {
  return async (b) => {
    const x = toTensor(b.x, b.shape);
    const y = tf.tensor1d(b.y!, 'int32');
    let extras: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const pred = model.apply(x, { training: true }) as tf.Tensor;
      const { total, terms } = loss.compute(pred, lossBatch(y, classTargets));
      extras = tf.keep(tf.concat([tf.stack(terms), hitCounts(classScores(pred, classTargets), y, 1).slice(0, 1)]));
      return total;
    }, vars);
    const [c, e] = await Promise.all([value.data(), extras!.data()]);
    tf.dispose([x, y, value, extras!]);
    const nT = loss.names.length;
    return { loss: c[0]!, terms: e.subarray(0, nT), counts: e.subarray(nT, nT + 1), grads: vars.map((v) => grads[v.name]!) };
  };
}

type ClassifyRecipe = ClassifyPassRecipe;

/** Builds the classifier's shard gradient and its passes (validation) in a data-parallel worker (TaskRecipe of fit). */
export async function classifyReplica(config: ClassifyRecipe, [model]: tf.LayersModel[], [vars]: tf.Variable[][]): Promise<ReplicaTask<Batch>> {
  const targets = targetsOf(config);
  const loss = await buildLoss(config.terms);
  return { phases: [classifyGrads(model!, loss, targets, vars!)], maps: classifyMaps(model!, loss, targets, config.topK) };
}

/** Trains a classifier (or a head on cached activations) through the one epoch loop. */
export async function fit(o: FitOptions): Promise<FitResult> {
  const s = o.spec;
  const topK = o.topK ?? 5;
  const vars = o.trainable ?? o.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const classes = o.classTargets ? o.classTargets.shape[0] : (o.model.outputs[0]!.shape.at(-1) ?? Number.POSITIVE_INFINITY);
  const val = o.val;
  const task: TrainTask<Batch> = {
    samples: o.train.x.shape[0]!,
    terms: o.loss.names,
    counts: ['train_accuracy'],
    batches: (epoch) => batches({ images: o.train.x, labels: o.train.y, batchSize: s.batchSize, seed: o.seed, epoch, normalize: o.train.normalize, augment: augmentOf(s, o.train) }),
    parallel: {
      vars,
      grads: classifyGrads(o.model, o.loss, o.classTargets, vars),
      maps: classifyMaps(o.model, o.loss, o.classTargets, topK),
      split: splitBatch,
      buffers: batchBuffers,
      recipe: { module: import.meta.url, name: 'classifyReplica', config: { terms: o.loss.specs, classTargets: o.classTargets ? tensorData(o.classTargets) : null, topK } satisfies ClassifyRecipe },
    },
    // On the training ranks when there are several (the same rows, split as the batches are).
    validate: val ? async (pass) => evalMetrics('val', await evaluateArrays(o.model, o.loss, val, { batchSize: s.batchSize, topK, classTargets: o.classTargets, pass }), topK, classes) : undefined,
    shown: /^(train_loss|val_loss|val_accuracy)$/,
  };
  return trainEpochs({ task, model: o.model, spec: s, evalEvery: o.evalEvery, checkpointDir: o.checkpointDir, metric: o.metric, progress: o.progress, log: o.log, signal: o.signal, onEpochEnd: o.onEpochEnd });
}
