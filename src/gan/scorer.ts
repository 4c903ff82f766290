// The small MNIST classifier behind the quality score: our stand-in for FID's Inception network,
// trained here so the score needs no downloaded weights. Its 64-unit penultimate layer gives the
// features for the Fréchet distance; its softmax gives the predicted classes for class coverage.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../models/io.js';
import { classEntropy, fitGaussian, frechetDistance, type Gaussian } from './frechet.js';
import type { Digits } from './mnist.js';
import { localPass, type RowPass, rowsOf, startPass } from '../train/parallel/pass.js';
import type { ReplicaTask, ShardMap } from '../train/parallel/replica.js';
import { rowBuffers, splitRows } from '../train/parallel/shards.js';
import { Seeds } from './random.js';

export const FEATURE_LAYER = 'features';
export const FEATURE_DIM = 64;

export function buildScorer(seed: number): tf.Sequential {
  const s = new Seeds(seed);
  const he = () => tf.initializers.heNormal({ seed: s.next() });
  const m = tf.sequential({ name: 'scorer' });
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, activation: 'relu', padding: 'same', kernelInitializer: he() }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', padding: 'same', kernelInitializer: he() }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: FEATURE_DIM, activation: 'relu', name: FEATURE_LAYER, kernelInitializer: he() }));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: s.next() }) }));
  return m;
}

export interface ScorerTraining {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  onEpoch?: (epoch: number, loss: number) => void;
}

/** Trains the classifier; returns its accuracy on `val`. */
export async function trainScorer(model: tf.LayersModel, train: Digits, val: Digits, o: ScorerTraining): Promise<number> {
  model.compile({ optimizer: tf.train.adam(o.lr), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const x = tf.tensor4d(train.images, [train.count, 28, 28, 1]);
  const y = tf.tensor1d(train.labels, 'float32');
  try {
    // tfjs shuffles with Math.random; one pre-shuffled pass order is enough for a scorer.
    await model.fit(x, y, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      shuffle: false,
      verbose: 0,
      callbacks: { onEpochEnd: async (e, logs) => o.onEpoch?.(e, logs?.loss ?? Number.NaN) },
    });
  } finally {
    x.dispose();
    y.dispose();
  }
  return accuracy(model, val);
}

export async function accuracy(model: tf.LayersModel, d: Digits): Promise<number> {
  const { predicted } = await scorerOutputs(model, tf.tensor4d(d.images, [d.count, 28, 28, 1]), true);
  let ok = 0;
  for (let i = 0; i < d.count; i++) if (predicted[i] === d.labels[i]) ok++;
  return ok / d.count;
}

/** Rows for the scorer's passes: images (28×28×1) for SCORE_IMAGES, noise vectors for SCORE_NOISE. */
export type ScoreRows = { n: number; x: Float32Array };
export interface ScorerOutputs {
  features: Float32Array;
  predicted: Int32Array;
}

/** The scorer's passes, by index. */
export const SCORE_IMAGES = 0;
export const SCORE_NOISE = 1;

/**
 * The scorer's forward passes on a shard: penultimate features and predicted class (as a float) of
 * each row, of images (SCORE_IMAGES) or, with a generator, of the images it makes from noise in
 * inference mode (SCORE_NOISE). The same code on every rank.
 */
export function scorerMaps(scorer: tf.LayersModel, generator?: tf.LayersModel, latent?: number): ShardMap<ScoreRows>[] {
  const both = tf.model({ inputs: scorer.inputs, outputs: [scorer.getLayer(FEATURE_LAYER).output as tf.SymbolicTensor, scorer.outputs[0]!] });
  const score = async (images: () => tf.Tensor) => {
    const [f, p] = tf.tidy(() => {
      const [f, probs] = both.predict(images()) as tf.Tensor[];
      return [f!, probs!.argMax(-1).toFloat()];
    });
    const out = [(await f!.data()) as Float32Array, (await p!.data()) as Float32Array];
    f!.dispose();
    p!.dispose();
    return out;
  };
  const maps: ShardMap<ScoreRows>[] = [(b) => score(() => tf.tensor4d(b.x, [b.n, 28, 28, 1]))];
  if (generator) maps.push((b) => score(() => generator.predict(tf.tensor2d(b.x, [b.n, latent!])) as tf.Tensor));
  return maps;
}

interface ScorerRecipe {
  latent: number | null;
}

/** Builds the scorer's passes in a data-parallel worker (models: the scorer, then the generator when there is one). */
export async function scorerReplica(c: ScorerRecipe, [scorer, generator]: tf.LayersModel[]): Promise<ReplicaTask<ScoreRows>> {
  return { phases: [], maps: scorerMaps(scorer!, generator, c.latent ?? undefined) };
}

/** The scorer's passes (and the generator's, when given) over `workers` ranks (`train.workers`), or on this thread with one. */
export function scorerPass(o: { scorer: tf.LayersModel; generator?: tf.LayersModel | undefined; latent?: number | undefined; workers: number; backend: string }): Promise<RowPass<ScoreRows>> {
  const models = o.generator ? [o.scorer, o.generator] : [o.scorer];
  return startPass({
    workers: o.workers,
    backend: o.backend,
    plan: {
      models,
      maps: scorerMaps(o.scorer, o.generator, o.latent),
      recipe: { module: import.meta.url, name: 'scorerReplica', config: { latent: o.generator ? o.latent! : null } satisfies ScorerRecipe },
      split: splitRows,
      buffers: rowBuffers,
    },
  });
}

/** Features and classes of `batches` (each pass `fn` of `pass`), concatenated in order. */
async function collect(pass: RowPass<ScoreRows>, fn: number, batches: Iterable<ScoreRows>, n: number): Promise<ScorerOutputs> {
  const features = new Float32Array(n * FEATURE_DIM);
  const predicted = new Int32Array(n);
  let at = 0;
  let index = 0;
  for (const b of batches) {
    const r = await pass.map(b, fn, index++);
    features.set(rowsOf(r, 0), at * FEATURE_DIM);
    predicted.set(rowsOf(r, 1), at);
    at += b.n;
  }
  return { features, predicted };
}

/**
 * Penultimate features and predicted classes of a batch of images (disposes `images` when asked),
 * `batch` images at a time; with `pass`, each split across its ranks (SCORE_IMAGES).
 */
export async function scorerOutputs(model: tf.LayersModel, images: tf.Tensor4D, dispose = false, batch = 250, pass?: RowPass<ScoreRows>): Promise<ScorerOutputs> {
  const n = images.shape[0];
  const data = (await images.data()) as Float32Array;
  if (dispose) images.dispose();
  const per = 28 * 28;
  function* chunks(): Generator<ScoreRows> {
    for (let at = 0; at < n; at += batch) {
      const size = Math.min(batch, n - at);
      yield { n: size, x: data.slice(at * per, (at + size) * per) };
    }
  }
  return collect(pass ?? localPass(scorerMaps(model)), SCORE_IMAGES, chunks(), n);
}

/**
 * Scorer outputs of `n` images the pass's generator makes from seeded noise, `batch` at a time
 * (the noise `generate` in evaluate-stage.ts draws, so the same images), each batch split across
 * the pass's ranks (SCORE_NOISE).
 */
export async function scoreGenerated(pass: RowPass<ScoreRows>, latent: number, n: number, seed: number, batch = 250): Promise<ScorerOutputs> {
  const seeds = new Seeds(seed);
  const z: ScoreRows[] = [];
  for (let at = 0; at < n; at += batch) {
    const size = Math.min(batch, n - at);
    const t = tf.randomNormal([size, latent], 0, 1, 'float32', seeds.next());
    z.push({ n: size, x: (await t.data()) as Float32Array });
    t.dispose();
  }
  return collect(pass, SCORE_NOISE, z, n);
}

export interface QualityScore {
  /** Fréchet distance between scorer features of real and generated digits (lower is better). */
  frechet: number;
  /** Entropy in bits of the generated digits' predicted classes (log2 10 ≈ 3.32 is every class equally). */
  classEntropy: number;
  /** classEntropy / log2(10), in [0, 1]. */
  coverage: number;
  /** Classes predicted for at least 1% of the samples. */
  classesSeen: number;
  samples: number;
}

export function realStatistics(features: Float32Array): Gaussian {
  return fitGaussian(features, FEATURE_DIM);
}

/** The quality score of generated images (values in the scorer's input range) against real statistics. */
export async function qualityScore(model: tf.LayersModel, real: Gaussian, generated: tf.Tensor4D): Promise<QualityScore> {
  return qualityOf(real, await scorerOutputs(model, generated));
}

/** The quality score from the scorer's outputs on generated images. */
export function qualityOf(real: Gaussian, { features, predicted }: ScorerOutputs): QualityScore {
  const h = classEntropy(predicted, 10);
  const counts = new Array<number>(10).fill(0);
  for (const p of predicted) counts[p]!++;
  return {
    frechet: frechetDistance(real, fitGaussian(features, FEATURE_DIM)),
    classEntropy: h,
    coverage: h / Math.log2(10),
    classesSeen: counts.filter((c) => c >= 0.01 * predicted.length).length,
    samples: predicted.length,
  };
}

export function gaussianToJson(g: Gaussian): { dim: number; mean: number[]; cov: number[] } {
  return { dim: g.dim, mean: Array.from(g.mean), cov: Array.from(g.cov) };
}
export function gaussianFromJson(j: { dim: number; mean: number[]; cov: number[] }): Gaussian {
  return { dim: j.dim, mean: Float64Array.from(j.mean), cov: Float64Array.from(j.cov) };
}

/** The scorer stage's output: the classifier and the feature statistics of real digits. */
export async function loadScorer(dir: string): Promise<{ model: tf.LayersModel; real: Gaussian }> {
  const [model, stats] = await Promise.all([loadModel(join(dir, 'model')), readFile(join(dir, 'real-stats.json'), 'utf8')]);
  return { model, real: gaussianFromJson(JSON.parse(stats)) };
}
