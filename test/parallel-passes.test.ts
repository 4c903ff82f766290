// The forward passes split across the data-parallel ranks of train.workers: the activations at the
// cut (features stage), evaluation's sums and per-example predictions, and the GAN quality
// scorer's features and classes, each with 2 workers against 1 on tiny data (the same rows in the
// same order), and a worker that fails during a pass fails it with that worker's error.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { openArray } from '../src/data/zarr.js';
import { buildGenerator } from '../src/gan/models.js';
import { Seeds } from '../src/gan/random.js';
import { buildScorer, scoreGenerated, scorerMaps, scorerOutputs, scorerPass } from '../src/gan/scorer.js';
import { ganConfigFromSpec, GanTrainer } from '../src/gan/trainer.js';
import { experimentSchema } from '../src/spec/schema.js';
import { localPass } from '../src/train/parallel/pass.js';
import { generate } from '../src/gan/evaluate-stage.js';
import { convnet, cutModel } from '../src/models/index.js';
import { predictExamples } from '../src/train/examples.js';
import { extractFeatures, featuresPass } from '../src/train/features-stage.js';
import { buildLoss } from '../src/train/losses.js';
import { classifyPass, evaluateArrays, type LabelledArrays } from '../src/train/loop.js';
import { FAIL_ENV } from '../src/train/parallel/protocol.js';
import { writePreprocessed } from './fixtures/train-data.js';

let dir: string;
before(async () => {
  await initBackend('wasm', () => {});
  dir = await mkdtemp(join(tmpdir(), 'ablate-passes-'));
  // 40 training rows in chunks of 16: the last chunk has 8; 21 validation rows (uneven shards).
  await writePreprocessed(join(dir, 'pre'), { train: 40, val: 21 });
});
after(() => rm(dir, { recursive: true, force: true }));

const model = () => convnet({ inputShape: [8, 8, 1], outputs: 4, width: 2, seed: 3, norm: 'batch' });

async function features(workers: number): Promise<Float32Array> {
  const base = model();
  const cut = cutModel(base, 'before-head');
  const out = join(dir, `features-${workers}`);
  const pass = await featuresPass(cut, [8, 8, 1], workers, 'wasm');
  assert.equal(pass.workers, workers);
  try {
    await extractFeatures(cut, join(dir, 'pre'), out, 'train', 'unit', 'cut', undefined, pass);
  } finally {
    await pass.close();
  }
  base.dispose();
  const a = await openArray(join(out, 'train', 'features'));
  const rows = new Float32Array(a.shape[0]! * a.rowElems);
  for (let k = 0, at = 0; k < a.numChunks; k++) {
    const c = (await a.readChunk(k)) as Float32Array;
    const n = a.rowsInChunk(k) * a.rowElems;
    rows.set(c.subarray(0, n), at);
    at += n;
  }
  return rows;
}

test('features at the cut: 2 workers write the bytes 1 worker writes, row for row', async () => {
  const one = await features(1);
  const two = await features(2);
  assert.ok(one.length >= 40 && one.length % 40 === 0, `${one.length} values for 40 rows`);
  assert.ok(one.some((v) => v !== 0), 'the activations are not all zero');
  assert.deepEqual(two, one);
});

async function val(): Promise<LabelledArrays> {
  const p = join(dir, 'pre', 'val');
  return { x: await openArray(join(p, 'images')), y: await openArray(join(p, 'labels')), normalize: 'unit' };
}

async function evaluation(workers: number) {
  const m = model();
  const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]);
  const data = await val();
  const pass = await classifyPass(m, loss, { topK: 2, workers, backend: 'wasm' });
  try {
    const r = await evaluateArrays(m, loss, data, { batchSize: 8, topK: 2, pass });
    const ids = Array.from({ length: 21 }, (_, i) => `img-${String(i).padStart(2, '0')}`);
    const rows = await predictExamples(m, data, { classes: ['a', 'b', 'c', 'd'], ids, dims: [], batchSize: 8, pass });
    return { r, rows };
  } finally {
    await pass.close();
    m.dispose();
  }
}

test('evaluation: 2 workers give 1 worker\'s loss, accuracy and per-example predictions, in the same order', async () => {
  const one = await evaluation(1);
  const two = await evaluation(2);
  assert.equal(one.r.n, 21);
  assert.equal(two.r.n, 21);
  assert.ok(Math.abs(one.r.loss - two.r.loss) < 1e-6, `loss ${one.r.loss} vs ${two.r.loss}`);
  assert.equal(two.r.accuracy, one.r.accuracy);
  assert.equal(two.r.topK, one.r.topK);
  assert.equal(one.rows.length, 21);
  assert.deepEqual(two.rows.map((r) => [r.id, r.label, r.pred]), one.rows.map((r) => [r.id, r.label, r.pred]));
  for (const [i, r] of one.rows.entries()) assert.ok(Math.abs(r.confidence - two.rows[i]!.confidence) < 1e-6);
  // Without a pass, the same as the 1-worker pass (the local path runs the same code).
  const m = model();
  const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]);
  assert.equal((await evaluateArrays(m, loss, await val(), { batchSize: 8, topK: 2 })).loss, one.r.loss);
  m.dispose();
});

test('GAN quality scorer: 2 workers give 1 worker\'s features and classes, of images and of generated samples', async () => {
  const scorer = buildScorer(0);
  const generator = buildGenerator('dcgan', 4, { height: 28, width: 28, channels: 1 }, 'sigmoid', new Seeds(1), 4);
  const images = () => tf.randomUniform([13, 28, 28, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
  const scored = async (workers: number) => {
    const pass = await scorerPass({ scorer, generator, latent: 4, workers, backend: 'wasm' });
    try {
      return { images: await scorerOutputs(scorer, images(), true, 5, pass), generated: await scoreGenerated(pass, 4, 11, 9, 4) };
    } finally {
      await pass.close();
    }
  };
  const one = await scored(1);
  const two = await scored(2);
  assert.equal(one.images.predicted.length, 13);
  assert.deepEqual(two.images, one.images);
  assert.deepEqual(two.generated, one.generated);
  // SCORE_NOISE scores exactly the images `generate` makes from the same seed.
  const direct = await scorerOutputs(scorer, generate(generator, 4, 11, 9, 4), true, 4);
  assert.deepEqual(one.generated, direct);
  scorer.dispose();
  generator.dispose();
});

test('gan.stop on the training ranks: they score the generator rank 0 holds after a step, as this thread does', async () => {
  const spec = experimentSchema.parse({ task: 'gan', preprocess: { size: 28, channels: 1, normalize: 'unit' }, gan: { kind: 'dcgan', latent: 4, width: 4 }, train: { batchSize: 4, lr: 0.05 } });
  const trainer = new GanTrainer(ganConfigFromSpec(spec, { height: 28, width: 28, channels: 1 }));
  const scorer = buildScorer(0);
  await trainer.startWorkers(2, 'wasm', scorer);
  try {
    const pass = trainer.scorePass()!;
    assert.equal(pass.workers, 2);
    const local = () => scoreGenerated(localPass(scorerMaps(scorer, trainer.generator, 4)), 4, 10, 3, 4);
    const before = await local();
    await trainer.generatorStep();
    const after = await local();
    assert.notDeepEqual(after.features, before.features, 'the step changed the generator');
    // The workers' replicas were built before the step: they score the new weights only if rank 0 publishes them.
    assert.deepEqual(await scoreGenerated(pass, 4, 10, 3, 4), after);
  } finally {
    await trainer.close();
    trainer.dispose();
    scorer.dispose();
  }
});

test('a worker that fails during a pass fails it with that worker\'s error', async (t) => {
  t.after(() => {
    delete process.env[FAIL_ENV];
  });
  // Batch 1 (0-based) of the pass: the second batch of 8 validation rows.
  process.env[FAIL_ENV] = '1:1:pass';
  await assert.rejects(evaluation(2), /training worker 1 failed: injected failure of worker 1 at pass batch 1/);
  // A training step's hook leaves passes alone.
  process.env[FAIL_ENV] = '1:1';
  assert.equal((await evaluation(2)).r.n, 21);
});
