// The classify stages on the pipeline contract, run in order on tiny synthetic preprocess output:
// pretrain → features → train (head) → evaluate, a second head reusing the same activations,
// fine-tuning the stacked model, and embedding targets with nearest-neighbour evaluation.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NO_PARTS, specSlice } from '../src/pipeline/keys.js';
import * as tf from '@tensorflow/tfjs';
import { openArray } from '../src/data/zarr.js';
import type { StageContext, StageImpl, StageKind, StageRun } from '../src/pipeline/types.js';
import { experimentSchema, type ExperimentInput, type ExperimentSpec } from '../src/spec/schema.js';
import { stage as evaluateStage } from '../src/train/evaluate-stage.js';
import { stage as featuresStage } from '../src/train/features-stage.js';
import { mnistSource, stage as pretrainStage } from '../src/train/pretrain-stage.js';
import { convnet, loadModel, saveModel } from '../src/models/index.js';
import { stage as trainStage } from '../src/train/train-stage.js';
import { writePreprocessed } from './fixtures/train-data.js';

let dir: string;

before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'ablate-stages-'));
  await writePreprocessed(join(dir, 'preprocess'), { train: 96, val: 32, channels: 3 });
});
after(() => rm(dir, { recursive: true, force: true }));

function spec(over: ExperimentInput = {}): ExperimentSpec {
  const base: ExperimentInput = {
    seed: 0,
    model: { base: { arch: 'resnet', width: 2, pretrain: { source: 'shapes', epochs: 2, lr: 0.01 } }, cut: 'before-last-downsample', pool: 2 },
    train: { epochs: 6, batchSize: 16, lr: 0.02, backend: 'cpu' },
    evaluate: { topK: 2 },
  };
  return experimentSchema.parse({ ...base, ...over, model: { ...base.model, ...over.model } });
}

interface Recorded {
  metrics: [string, number, number | undefined][];
  logs: string[];
}

async function runStage(impl: StageImpl, s: ExperimentSpec, inputs: Partial<Record<StageKind, string>>, out: string, rec: Recorded): Promise<void> {
  const run: StageRun = {
    logMetric: (k, v, step) => rec.metrics.push([k, v, step]),
    setTag: () => {},
    logArtifact: async () => {},
    localDir: out,
  };
  const ctx: StageContext = {
    spec: s,
    stage: { kind: impl.kind, key: 'test', inputs: impl.inputs, cacheable: impl.cacheable, dir: out, slice: specSlice(s, impl), parts: NO_PARTS },
    out,
    input: (k) => inputs[k] ?? assert.fail(`no input ${k}`),
    log: { info: (m) => rec.logs.push(m), warn: (m) => rec.logs.push(m) },
    progress: { start() {}, tick() {}, done() {} },
    run,
    signal: new AbortController().signal,
  };
  await impl.run(ctx);
}

const last = (rec: Recorded, key: string) => rec.metrics.filter(([k]) => k === key).at(-1)?.[1];

test('pretrain → features → head → evaluate; another head reuses the activations', async () => {
  const s = spec();
  const rec: Recorded = { metrics: [], logs: [] };
  const inputs: Partial<Record<StageKind, string>> = { preprocess: join(dir, 'preprocess') };
  assert.ok(pretrainStage.enabled!(s) && featuresStage.enabled!(s));
  inputs.pretrain = join(dir, 'pretrain');
  await runStage(pretrainStage, s, inputs, inputs.pretrain, rec);
  assert.ok(last(rec, 'pretrain_val_accuracy') !== undefined);
  inputs.features = join(dir, 'features');
  await runStage(featuresStage, s, inputs, inputs.features, rec);
  const feats = await openArray(join(dir, 'features', 'train', 'features'));
  // 8×8 input: stage2 runs at 4×4 with 4 filters; pool 2 → 2×2×4
  assert.deepEqual(feats.shape, [96, 2, 2, 4]);
  assert.equal(feats.attributes.layer, 'stage2_block2_out');
  inputs.train = join(dir, 'train');
  await runStage(trainStage, s, inputs, inputs.train, rec);
  await runStage(evaluateStage, s, inputs, join(dir, 'evaluate'), rec);
  // The deployable model maps images to the head's outputs.
  const deployed = await loadModel(join(dir, 'train', 'final', 'model'));
  assert.deepEqual(deployed.outputs[0]!.shape, [null, 4]);
  assert.deepEqual(deployed.inputs[0]!.shape, [null, 8, 8, 3]);
  for (const k of ['train_loss', 'val_loss', 'val_accuracy', 'val_top2', 'train_loss_crossentropy', 'val_loss_crossentropy', 'eval_accuracy']) assert.ok(last(rec, k) !== undefined, k);
  assert.ok(last(rec, 'val_accuracy')! > 0.5, `val_accuracy ${last(rec, 'val_accuracy')} (chance 0.25)`);
  assert.equal(last(rec, 'eval_accuracy'), last(rec, 'val_accuracy'));

  // The features key ignores the head: an mlp head variant has the same slice, hence the same cache entry.
  const mlp = spec({ model: { head: { kind: 'mlp', units: 8, dropout: 0.2 } } });
  assert.deepEqual(specSlice(mlp, featuresStage), specSlice(s, featuresStage));
  assert.notDeepEqual(specSlice(mlp, trainStage), specSlice(s, trainStage));
  const rec2: Recorded = { metrics: [], logs: [] };
  await runStage(trainStage, mlp, inputs, join(dir, 'train-mlp'), rec2);
  assert.ok(rec2.logs.some((l) => l.includes('head (mlp) on cached activations at stage2_block2_out')));
});

test('fine-tuning the stacked model end to end from a layer', async () => {
  const s = spec({ model: { trainable: { from: 'stage2_block1_1_conv' } }, train: { epochs: 2, batchSize: 16, lr: 0.01, backend: 'cpu' } });
  assert.equal(featuresStage.enabled!(s), false);
  const rec: Recorded = { metrics: [], logs: [] };
  const inputs = { preprocess: join(dir, 'preprocess'), pretrain: join(dir, 'pretrain') };
  await runStage(trainStage, s, inputs, join(dir, 'train-ft'), rec);
  assert.ok(rec.logs.some((l) => /fine-tuning stacked .*cut at stage2_block2_out/.test(l)), rec.logs.join('\n'));
  await runStage(evaluateStage, s, { ...inputs, train: join(dir, 'train-ft') }, join(dir, 'eval-ft'), rec);
  assert.ok(last(rec, 'eval_accuracy') !== undefined);
});

test('embedding targets: cosine loss, nearest-neighbour evaluation with ANN recall', async () => {
  const targets = join(dir, 'targets.json');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(targets, JSON.stringify({ 'top-left': [1, 0, 0], 'top-right': [0, 1, 0], 'bottom-left': [0, 0, 1], 'bottom-right': [1, 1, 1] }));
  const s = spec({
    dataset: { source: 'shapes', targets: { kind: 'file', path: targets } },
    loss: { terms: [{ kind: 'cosine' }] },
    evaluate: { topK: 2, nearest: { k: 2, approximate: true } },
  });
  const rec: Recorded = { metrics: [], logs: [] };
  const inputs = { preprocess: join(dir, 'preprocess'), pretrain: join(dir, 'pretrain'), features: join(dir, 'features') };
  await runStage(trainStage, s, inputs, join(dir, 'train-emb'), rec);
  await runStage(evaluateStage, s, { ...inputs, train: join(dir, 'train-emb') }, join(dir, 'eval-emb'), rec);
  const m = JSON.parse(await readFile(join(dir, 'eval-emb', 'metrics.json'), 'utf8')) as Record<string, number>;
  for (const k of ['nn_top1', 'nn_top2', 'ann_top1', 'ann_recall', 'val_loss_cosine']) assert.ok(k in m || last(rec, k) !== undefined, k);
  assert.equal(m.ann_recall, 1); // four classes: HNSW is exact at this size
  // nn_top1 is nearest-target accuracy, the same definition as eval_accuracy with targets.
  assert.equal(m.nn_top1, m.eval_accuracy);
});

test('a user model on disk (model.base.path) as the base, cut before-head', async () => {
  const path = join(dir, 'user-model');
  await saveModel(convnet({ inputShape: [8, 8, 3], outputs: 10, width: 2, seed: 9 }), path);
  const s = spec({ model: { base: { arch: 'resnet', width: 2, path }, cut: 'before-head', pool: undefined }, train: { epochs: 2, batchSize: 16, lr: 0.02, backend: 'cpu' } });
  assert.equal(pretrainStage.enabled!(s), false);
  const rec: Recorded = { metrics: [], logs: [] };
  const inputs: Partial<Record<StageKind, string>> = { preprocess: join(dir, 'preprocess') };
  inputs.features = join(dir, 'features-user');
  await runStage(featuresStage, s, inputs, inputs.features, rec);
  assert.deepEqual((await openArray(join(dir, 'features-user', 'val', 'features'))).shape, [32, 8]);
  assert.ok(rec.logs.some((l) => l.includes('cut at avg_pool')));
  await runStage(trainStage, s, inputs, join(dir, 'train-user'), rec);
  assert.ok(last(rec, 'val_accuracy') !== undefined);
});

test('MNIST as the pretraining source: resized to the image shape, split 90/10', async () => {
  const out = join(dir, 'mnist-src');
  const classes = await mnistSource(out, [8, 8, 3], 0, 512);
  assert.deepEqual(classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const train = await openArray(join(out, 'train', 'images'));
  const val = await openArray(join(out, 'val', 'images'));
  assert.deepEqual(train.shape.slice(1), [8, 8, 3]);
  assert.equal(train.shape[0]! + val.shape[0]!, 10000);
  assert.equal(val.shape[0], 1000);
  const chunk = (await train.readChunk(0)) as Uint8Array;
  assert.ok(chunk.some((v) => v > 128), 'digits are visible after resizing');
});

test('no cut: a fresh built-in network trained whole, evaluated on images', async () => {
  const s = spec({ model: { base: { arch: 'convnet', width: 2 }, cut: undefined, pool: undefined }, train: { epochs: 2, batchSize: 16, lr: 0.02, backend: 'cpu' } });
  assert.equal(pretrainStage.enabled!(s) || featuresStage.enabled!(s), false);
  const rec: Recorded = { metrics: [], logs: [] };
  const inputs = { preprocess: join(dir, 'preprocess') };
  await runStage(trainStage, s, inputs, join(dir, 'train-whole'), rec);
  assert.ok(rec.logs.some((l) => l.includes('training convnet on images')), rec.logs.join('\n'));
  await runStage(evaluateStage, s, { ...inputs, train: join(dir, 'train-whole') }, join(dir, 'eval-whole'), rec);
  assert.equal(last(rec, 'eval_accuracy'), last(rec, 'val_accuracy'));
});
