// The small MNIST classifier behind the quality score: our stand-in for FID's Inception network,
// trained here so the score needs no downloaded weights. Its 64-unit penultimate layer gives the
// features for the Fréchet distance; its softmax gives the predicted classes for class coverage.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../models/io.js';
import { classEntropy, fitGaussian, frechetDistance, type Gaussian } from './frechet.js';
import type { Digits } from './mnist.js';
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

/** Penultimate features and predicted classes of a batch of images (disposes `images` when asked). */
export async function scorerOutputs(model: tf.LayersModel, images: tf.Tensor4D, dispose = false, batch = 250): Promise<{ features: Float32Array; predicted: Int32Array }> {
  const both = tf.model({ inputs: model.inputs, outputs: [model.getLayer(FEATURE_LAYER).output as tf.SymbolicTensor, model.outputs[0]!] });
  const n = images.shape[0];
  const features = new Float32Array(n * FEATURE_DIM);
  const predicted = new Int32Array(n);
  for (let at = 0; at < n; at += batch) {
    const size = Math.min(batch, n - at);
    const [f, p] = tf.tidy(() => {
      const [f, probs] = both.predict(images.slice([at, 0, 0, 0], [size, -1, -1, -1])) as tf.Tensor[];
      return [f!, probs!.argMax(-1)];
    });
    features.set(await f!.data(), at * FEATURE_DIM);
    predicted.set((await p!.data()) as Int32Array, at);
    f!.dispose();
    p!.dispose();
  }
  if (dispose) images.dispose();
  return { features, predicted };
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
  const { features, predicted } = await scorerOutputs(model, generated);
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
