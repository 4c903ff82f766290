// What a sweep's progress line shows about an epoch: the loop's last progress tick of an epoch
// comes after that epoch's validation metrics (a log line at "epoch 3/3 100%" carries epoch 3's
// val_accuracy, not epoch 2's), and top-k is reported only when k is below the class count.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { initBackend } from '../src/backend/index.js';
import { openArray, writeArray } from '../src/data/zarr.js';
import { convnet } from '../src/models/index.js';
import { buildLoss } from '../src/train/losses.js';
import { evalMetrics, fit, type LabelledArrays } from '../src/train/loop.js';
import { quadrantImages } from './fixtures/train-data.js';

const dir = await mkdtemp(join(tmpdir(), 'ablate-progress-'));
after(() => rm(dir, { recursive: true, force: true }));

async function arrays(split: string, n: number, seed: number): Promise<LabelledArrays> {
  const { x, y } = quadrantImages(n, seed);
  await writeArray(join(dir, split, 'images'), x, [8, 8, 1], 'uint8', 16);
  await writeArray(join(dir, split, 'labels'), y, [], 'int32', 16);
  return { x: await openArray(join(dir, split, 'images')), y: await openArray(join(dir, split, 'labels')), normalize: 'unit' };
}

test("an epoch's last progress tick follows its validation metrics", async () => {
  await initBackend('cpu', () => {});
  const train = await arrays('train', 48, 1);
  const val = await arrays('val', 16, 2);
  const events: string[] = [];
  let done = 0;
  let total = 0;
  await fit({
    model: convnet({ inputShape: [8, 8, 1], outputs: 4, width: 2, seed: 0 }),
    loss: await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]),
    train,
    val,
    spec: { epochs: 3, batchSize: 16, optimizer: 'adam', lr: 0.01, momentum: 0.9, schedule: { kind: 'constant', every: 1, gamma: 1, patience: 2, warmupSteps: 0 }, logEvery: 100, checkpointEvery: 10 },
    seed: 0,
    topK: 2,
    metric: (k, _v, step) => {
      if (k === 'val_accuracy') events.push(`val ${step}`);
    },
    progress: {
      start(t) {
        total = t;
        done = 0;
      },
      tick(n = 1, extra = '') {
        done += n;
        if (done === total) events.push(`100% ${/epoch (\d+)\//.exec(extra)?.[1]}`);
      },
      done() {},
    },
  });
  assert.deepEqual(events, ['val 1', '100% 1', 'val 2', '100% 2', 'val 3', '100% 3']);
});

test('top-k is reported only when k < classes', () => {
  const r = { n: 4, loss: 0.7, terms: {}, accuracy: 0.5, topK: 1 };
  assert.deepEqual(Object.keys(evalMetrics('eval', r, 5, 2)).sort(), ['eval_accuracy', 'eval_loss']);
  assert.equal(evalMetrics('eval', r, 5, 8).eval_top5, 1);
  assert.equal(evalMetrics('val', r, 2, 3).val_top2, 1);
});
