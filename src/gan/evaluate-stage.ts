// Stage 'evaluate' for task gan: the sample-quality score of the trained generator (Fréchet distance
// of scorer features against real digits, and class coverage), written to quality.json and logged.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/index.js';
import { loadModel } from '../models/io.js';
import type { StageImpl } from '../pipeline/types.js';
import { Seeds } from './random.js';
import { qualityApplies } from './quality-applies.js';
import { trainingWorkers } from '../train/epoch-loop.js';
import { loadScorer, type QualityScore, qualityOf, scoreGenerated, scorerPass } from './scorer.js';
import type { GeneratorInfo } from './train-stage.js';

export const GAN_EVALUATE_VERSION = 1;

/** Samples from `generator` in batches (inference mode), as one tensor. */
export function generate(generator: tf.LayersModel, latent: number, n: number, seed: number, batch = 250): tf.Tensor4D {
  const seeds = new Seeds(seed);
  const parts: tf.Tensor4D[] = [];
  for (let at = 0; at < n; at += batch) {
    const size = Math.min(batch, n - at);
    parts.push(tf.tidy(() => generator.predict(tf.randomNormal([size, latent], 0, 1, 'float32', seeds.next())) as tf.Tensor4D));
  }
  const all = tf.concat(parts);
  for (const p of parts) p.dispose();
  return all;
}

/** Run metrics as logged (names are what `ablate compare` and sweeps use). */
export function qualityMetrics(q: QualityScore): Record<string, number> {
  return { frechet_distance: q.frechet, class_entropy: q.classEntropy, class_coverage: q.coverage, classes_seen: q.classesSeen };
}

export const stage: StageImpl = {
  kind: 'evaluate',
  inputs: ['scorer', 'train'],
  cacheable: false,
  libraries: ['tfjs'],
  enabled: qualityApplies,
  // `evaluate.quality` only switches the stage on (enabled), but it is this stage's field.
  reads: ['gan.samples', 'evaluate.quality', 'seed', 'train.backend', 'train.workers'],
  async run(ctx) {
    await initBackend(ctx.spec.train.backend, (l) => ctx.log.info(l));
    const info = JSON.parse(await readFile(join(ctx.input('train'), 'generator.json'), 'utf8')) as GeneratorInfo;
    const [{ model: scorer, real }, generator] = await Promise.all([loadScorer(ctx.input('scorer')), loadModel(join(ctx.input('train'), 'generator'))]);
    // Generating and scoring split across the ranks of train.workers, as the training steps are.
    const { workers, backend } = trainingWorkers(ctx.spec.train.workers);
    const pass = await scorerPass({ scorer, generator, latent: info.latent, workers, backend });
    let q: QualityScore;
    try {
      q = qualityOf(real, await scoreGenerated(pass, info.latent, ctx.spec.gan.samples, ctx.spec.seed + 104729));
    } finally {
      await pass.close();
    }
    scorer.dispose();
    generator.dispose();
    const metrics = qualityMetrics(q);
    for (const [k, v] of Object.entries(metrics)) ctx.run?.logMetric(k, v);
    await writeFile(join(ctx.out, 'quality.json'), JSON.stringify({ ...q, generatorSteps: info.steps }, null, 2));
    ctx.log.info(`quality: Fréchet ${q.frechet.toFixed(2)}, class coverage ${(q.coverage * 100).toFixed(1)}% (${q.classesSeen} classes) over ${q.samples} samples`);
  },
};
