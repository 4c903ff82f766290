// Stage 'scorer' (cacheable): trains the small MNIST classifier of the quality score and stores it
// with the feature statistics of real digits. The key deliberately ignores spec.seed, the dataset
// and the GAN: every run and sweep trial of a given pixel range is scored by the same network.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend } from '../backend/index.js';
import { saveModel } from '../models/io.js';
import type { StageImpl } from '../pipeline/types.js';
import { loadDigits, sliceDigits } from './mnist.js';
import { qualityApplies, scorerRange } from './quality-applies.js';
import { trainingWorkers } from '../train/epoch-loop.js';
import { buildScorer, gaussianToJson, realStatistics, scorerOutputs, scorerPass, trainScorer } from './scorer.js';
import * as tf from '@tensorflow/tfjs';

export const SCORER_VERSION = 1;
export const SCORER_TRAINING = { epochs: 2, batchSize: 64, lr: 2e-3, seed: 0, trainDigits: 8000 } as const;

export const stage: StageImpl = {
  kind: 'scorer',
  inputs: [],
  cacheable: true,
  libraries: ['tfjs'],
  enabled: qualityApplies,
  // The scorer's own training recipe is SCORER_TRAINING, code (in the fingerprint); of the spec
  // only the pixel range (from normalize) and the backend shape it.
  reads: ['preprocess.normalize', 'train.backend', 'train.workers'],
  ignores: {
    // test/parallel-passes.test.ts checks the scorer's outputs are the same bytes for 1 and 2 workers.
    'train.workers': 'how many ranks compute the real digits\' features: each row is computed alone, the same bytes whatever the split',
  },
  async run(ctx) {
    await initBackend(ctx.spec.train.backend, (l) => ctx.log.info(l));
    const range = scorerRange(ctx.spec)!;
    const digits = loadDigits(range, SCORER_TRAINING.seed);
    const train = sliceDigits(digits, 0, SCORER_TRAINING.trainDigits);
    const held = sliceDigits(digits, SCORER_TRAINING.trainDigits, digits.count);
    const model = buildScorer(SCORER_TRAINING.seed);
    ctx.progress.start(SCORER_TRAINING.epochs, 'scorer epochs');
    const acc = await trainScorer(model, train, held, { ...SCORER_TRAINING, onEpoch: (_e, loss) => ctx.progress.tick(1, `loss ${loss.toFixed(4)}`) });
    ctx.progress.done(`scorer accuracy ${(acc * 100).toFixed(1)}% on ${held.count} held-out digits`);
    // Real statistics from digits the scorer never trained on, so a generator that reproduced
    // unseen real digits would score near 0 rather than be penalised for the scorer's overfitting.
    const { workers, backend } = trainingWorkers(ctx.spec.train.workers);
    const pass = await scorerPass({ scorer: model, workers, backend });
    let features: Float32Array;
    try {
      ({ features } = await scorerOutputs(model, tf.tensor4d(held.images, [held.count, 28, 28, 1]), true, 250, pass));
    } finally {
      await pass.close();
    }
    await saveModel(model, join(ctx.out, 'model'));
    await writeFile(join(ctx.out, 'real-stats.json'), JSON.stringify(gaussianToJson(realStatistics(features))));
    await writeFile(join(ctx.out, 'scorer.json'), JSON.stringify({ accuracy: acc, heldOut: held.count, range, ...SCORER_TRAINING }, null, 2));
    ctx.run?.logMetric('scorer_accuracy', acc);
    model.dispose();
  },
};
