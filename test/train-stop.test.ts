// train.stop (early stopping) and train.budget in the training loop, on tiny quadrant data on the
// cpu backend: when it stops, which weights it keeps, and that an interruption mid-patience
// resumes to the same end as an uninterrupted run.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { openArray, writeArray } from '../src/data/zarr.js';
import { convnet } from '../src/models/index.js';
import { trainSchema } from '../src/spec/sections.js';
import { buildLoss } from '../src/train/losses.js';
import { fit, type FitOptions, type LabelledArrays, TrainingAborted } from '../src/train/loop.js';
import { quadrantImages } from './fixtures/train-data.js';

let dir: string;
let train: LabelledArrays;
let val: LabelledArrays;

async function arrays(path: string, n: number, seed: number): Promise<LabelledArrays> {
  const { x, y } = quadrantImages(n, seed);
  await writeArray(join(path, 'images'), x, [8, 8, 1], 'uint8', 16);
  await writeArray(join(path, 'labels'), y, [], 'int32', 16);
  return { x: await openArray(join(path, 'images')), y: await openArray(join(path, 'labels')), normalize: 'unit' };
}

before(async () => {
  await initBackend('cpu', () => {});
  dir = await mkdtemp(join(tmpdir(), 'ablate-stop-'));
  train = await arrays(join(dir, 'train'), 64, 1);
  val = await arrays(join(dir, 'val'), 32, 2);
});
after(() => rm(dir, { recursive: true, force: true }));

const base = { epochs: 30, batchSize: 16, optimizer: 'adam' as const, lr: 0.01, momentum: 0.9, schedule: { kind: 'constant' as const, every: 1, gamma: 0.5, patience: 2, warmupSteps: 0 }, logEvery: 100, checkpointEvery: 1 };
const stop = { metric: 'val_loss', mode: 'min' as const, patience: 2, minDelta: 0, restoreBest: true };

async function run(seed: number, extra: Partial<FitOptions> & { spec?: FitOptions['spec'] } = {}) {
  const model = convnet({ inputShape: [8, 8, 1], outputs: 4, width: 2, seed });
  const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]);
  const weights: Record<number, number[][]> = {};
  const logs: string[] = [];
  const r = await fit({
    model,
    loss,
    train,
    val,
    spec: base,
    seed,
    topK: 2,
    log: { info: (m) => logs.push(m), warn() {} },
    ...extra,
    onEpochEnd: (e, m) => {
      weights[e] = model.getWeights().map((w: tf.Tensor) => Array.from(w.dataSync()));
      extra.onEpochEnd?.(e, m);
    },
  });
  const final = model.getWeights().map((w: tf.Tensor) => Array.from(w.dataSync()));
  model.dispose();
  return { ...r, weights, final, logs };
}

test('a plateau stops training after `patience` epochs without improvement, and says why', async () => {
  // A learning rate of ~0 leaves val_loss flat: epoch 1 is the best, epochs 2 and 3 do not beat it
  // by minDelta, so training ends after epoch 3 of a possible 30.
  const r = await run(1, { spec: { ...base, lr: 1e-12, stop: { ...stop, minDelta: 0.01 } } });
  assert.equal(r.epochs, 3);
  assert.equal(r.stop.reason, 'patience');
  assert.equal(r.stop.bestEpoch, 1);
  assert.match(r.stop.message, /stopped after epoch 3: val_loss did not improve by more than 0.01 for 2 epochs \(best [0-9.]+ at epoch 1\)/);
  assert.ok(r.logs.some((l) => l.startsWith('train: stopped after epoch 3')), r.logs.join('\n'));
});

test('restoreBest ends with the best epoch\'s weights; without it, with the last epoch\'s', async () => {
  // Rising val_loss: a learning rate this high overshoots after the first epochs.
  const spec = { ...base, lr: 0.3, stop: { ...stop, patience: 3 } };
  const r = await run(2, { spec });
  const curve = r.history.val_loss!.map(([, v]) => v);
  const best = curve.indexOf(Math.min(...curve)) + 1;
  assert.equal(r.stop.bestEpoch, best);
  assert.equal(r.stop.reason, 'patience');
  assert.equal(r.epochs, best + 3);
  assert.deepEqual(r.final, r.weights[best], 'final weights are the best epoch\'s');
  assert.notDeepEqual(r.final, r.weights[r.epochs]);
  const kept = await run(2, { spec: { ...spec, stop: { ...spec.stop, restoreBest: false } } });
  assert.deepEqual(kept.final, kept.weights[kept.epochs], 'without restoreBest the last epoch\'s weights stay');
  assert.equal(kept.epochs, r.epochs);
});

test('stopping without improvement is counted from the checkpoint: Ctrl-C mid-patience resumes to the same end', async () => {
  const spec = { ...base, lr: 0.3, stop: { ...stop, patience: 3 } };
  const whole = await run(3, { spec, checkpointDir: join(dir, 'ck-whole') });
  assert.equal(whole.stop.reason, 'patience');
  const ck = join(dir, 'ck-cut');
  const abort = new AbortController();
  // Stop at the first epoch after the best one (inside the patience window).
  const cutAt = whole.stop.bestEpoch! + 1;
  await assert.rejects(run(3, { spec, checkpointDir: ck, signal: abort.signal, onEpochEnd: (e) => e === cutAt && abort.abort() }), TrainingAborted);
  const resumed = await run(3, { spec, checkpointDir: ck });
  assert.equal(resumed.resumedFrom, cutAt);
  assert.equal(resumed.epochs, whole.epochs);
  assert.equal(resumed.stop.bestEpoch, whole.stop.bestEpoch);
  assert.deepEqual(resumed.final, whole.final, 'best weights restored from the work folder after the resume');
  // A rerun of the finished run trains nothing and keeps the same end.
  const again = await run(3, { spec, checkpointDir: ck });
  assert.equal(again.epochs, whole.epochs);
  assert.deepEqual(again.final, whole.final);
});

test('train.budget.samples ends training once that many samples were seen, mid-epoch', async () => {
  const r = await run(4, { spec: { ...base, budget: { samples: 100 } } });
  // 16 per step: 7 steps reach 112 ≥ 100.
  assert.equal(r.steps, 7);
  assert.equal(r.stop.reason, 'budget');
  assert.equal(r.epochs, 2);
  assert.ok(r.history.val_accuracy?.some(([e]) => e === 2), 'the partial epoch is evaluated');
});

test('spec: stop defaults, a mode that contradicts the metric, and an empty budget are errors', () => {
  const ok = trainSchema.parse({ stop: {} });
  assert.deepEqual(ok.stop, { metric: 'val_loss', mode: 'min', patience: 5, minDelta: 0, restoreBest: true });
  const bad = trainSchema.safeParse({ stop: { metric: 'val_accuracy' } });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error?.issues), /higher val_accuracy is better; set mode: max/);
  assert.equal(trainSchema.safeParse({ budget: {} }).success, false);
  assert.equal(trainSchema.safeParse({ stop: { metric: 'accuracy' } }).success, false);
});

test('plateau schedule: the rate is multiplied by gamma after `patience` epochs without improvement, and the stop outwaits it', async () => {
  // Flat val_loss (a rate of ~0): epoch 1 is the best; with schedule patience 1 the rate halves
  // after epochs 2 and 3, and train.stop (patience 3) ends the run after epoch 4.
  const lrs: Array<[number, number]> = [];
  const spec = { ...base, lr: 1e-12, logEvery: 1, schedule: { ...base.schedule, kind: 'plateau' as const, patience: 1 }, stop: { ...stop, patience: 3, minDelta: 0.01 } };
  const r = await run(1, { spec, metric: (k, v, s) => (k === 'lr' ? lrs.push([s ?? 0, v]) : undefined) });
  assert.equal(r.epochs, 4);
  const lowered = r.logs.filter((l) => l.includes('learning rate ×'));
  assert.deepEqual(lowered, ['train: val_loss has not improved for 1 epochs: learning rate × 0.5 → 5.00e-13', 'train: val_loss has not improved for 1 epochs: learning rate × 0.5 → 2.50e-13']);
  // 4 steps an epoch: epochs 1 and 2 at lr, epoch 3 at lr/2, epoch 4 at lr/4.
  assert.deepEqual(lrs.map(([, v]) => v / 1e-12).map((x) => Math.round(x * 100) / 100), [1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]);
});

test('plateau schedule: an improving metric resets the wait; a resumed run keeps the lowered rate', async () => {
  const { plateauEpochEnd } = await import('../src/train/plateau.js');
  const s = { stop: undefined, schedule: { ...base.schedule, kind: 'plateau' as const, patience: 2, gamma: 0.1 } };
  const st: { factor: number; wait: number; best?: number } = { factor: 1, wait: 0 };
  const seen = [1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.87, 0.9, 0.7].map((v) => plateauEpochEnd(st, { val_loss: v }, s));
  // Misses at 0.95 (1), 0.85 (1), 0.86 (2: lowered), 0.87 (1), 0.9 (2: lowered); 0.7 is a new best.
  assert.deepEqual(seen.map((x) => (x === undefined ? '-' : x.toFixed(2))), ['-', '-', '-', '-', '-', '0.10', '-', '0.01', '-']);
  assert.equal(st.best, 0.7);
  // Interrupted after epoch 2 of the flat run and resumed: the rate it continues with is the lowered one.
  const ckpt = join(dir, 'plateau-resume');
  const spec = { ...base, lr: 1e-12, logEvery: 1, schedule: { ...base.schedule, kind: 'plateau' as const, patience: 1 }, stop: { ...stop, patience: 3, minDelta: 0.01 } };
  const ac = new AbortController();
  await assert.rejects(run(1, { spec, checkpointDir: ckpt, signal: ac.signal, onEpochEnd: (e) => (e === 2 ? ac.abort() : undefined) }), TrainingAborted);
  const lrs: number[] = [];
  const r = await run(1, { spec, checkpointDir: ckpt, metric: (k, v) => (k === 'lr' ? lrs.push(v) : undefined) });
  assert.equal(r.epochs, 4);
  assert.deepEqual(lrs.map((v) => Math.round((v / 1e-12) * 100) / 100), [0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]);
});

test('plateau schedule: the spec refuses a stop that cannot outwait it, and a GAN', async () => {
  const { experimentSchema } = await import('../src/spec/schema.js');
  const short = experimentSchema.safeParse({ train: { schedule: { kind: 'plateau', patience: 3 }, stop: { patience: 3 } } });
  assert.equal(short.success, false);
  assert.ok(short.error!.issues.some((i) => i.path.join('.') === 'train.stop.patience' && /before the plateau schedule ever lowers the rate/.test(i.message)));
  assert.equal(experimentSchema.safeParse({ train: { schedule: { kind: 'plateau', patience: 2 }, stop: { patience: 5 } } }).success, true);
  const gan = experimentSchema.safeParse({ task: 'gan', preprocess: { size: 28, channels: 1, normalize: 'unit' }, train: { schedule: { kind: 'plateau' } } });
  assert.ok(!gan.success && gan.error.issues.some((i) => i.path.join('.') === 'train.schedule.kind'));
});
