// The training loop on tiny separable data on the cpu backend: determinism (same seed ⇒ identical
// metrics), flat tensor memory across epochs, resuming an interrupted run from its checkpoint,
// and the learning-rate schedules.
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { openArray, writeArray } from '../src/data/zarr.js';
import { initBackend } from '../src/backend/index.js';
import { convnet } from '../src/models/index.js';
import { buildLoss } from '../src/train/losses.js';
import { fit, type FitOptions, type LabelledArrays, TrainingAborted } from '../src/train/loop.js';
import { learningRate, makeOptimizer, setLearningRate } from '../src/train/optim.js';

let dir: string;
let train: LabelledArrays;
let val: LabelledArrays;

/** 8×8 gray images; the class is the quadrant holding a bright 4×4 square, plus noise. */
async function quadrants(path: string, n: number, seed: number): Promise<LabelledArrays> {
  let a = seed;
  const rand = () => {
    a = (a * 1103515245 + 12345) >>> 0;
    return a / 2 ** 32;
  };
  const x = new Uint8Array(n * 64);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    y[i] = c;
    for (let p = 0; p < 64; p++) {
      const r = p >> 3;
      const q = p & 7;
      const inside = (r < 4) === (c < 2) && (q < 4) === (c % 2 === 0);
      x[i * 64 + p] = Math.min(255, (inside ? 160 : 20) + Math.floor(rand() * 60));
    }
  }
  await writeArray(join(path, 'images'), x, [8, 8, 1], 'uint8', 16);
  await writeArray(join(path, 'labels'), y, [], 'int32', 16);
  return { x: await openArray(join(path, 'images')), y: await openArray(join(path, 'labels')), normalize: 'unit' };
}

before(async () => {
  await initBackend('cpu', () => {});
  dir = await mkdtemp(join(tmpdir(), 'ablate-train-'));
  train = await quadrants(join(dir, 'train'), 64, 1);
  val = await quadrants(join(dir, 'val'), 32, 2);
});
after(() => rm(dir, { recursive: true, force: true }));

const spec = {
  epochs: 3,
  batchSize: 16,
  optimizer: 'adam' as const,
  lr: 0.01,
  momentum: 0.9,
  schedule: { kind: 'cosine' as const, every: 1, gamma: 0.5, patience: 2, warmupSteps: 2 },
  logEvery: 2,
  checkpointEvery: 1,
};

async function run(seed: number, extra: Partial<FitOptions> = {}) {
  const model = convnet({ inputShape: [8, 8, 1], outputs: 4, width: 2, seed });
  const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0.1 }]);
  const logged: [string, number, number][] = [];
  const r = await fit({ model, loss, train, val, spec, seed, topK: 2, metric: (k, v, s) => logged.push([k, v, s]), ...extra });
  model.dispose();
  return { ...r, logged };
}

const noTime = (h: Record<string, [number, number][]>) => Object.fromEntries(Object.entries(h).filter(([k]) => !/time|per_s/.test(k)));

test('same spec + seed + backend ⇒ identical metrics; another seed differs', async () => {
  const a = await run(3);
  const b = await run(3);
  const c = await run(4);
  assert.deepEqual(noTime(a.history), noTime(b.history));
  assert.notDeepEqual(noTime(a.history).train_loss, noTime(c.history).train_loss);
  for (const k of ['train_loss', 'train_loss_crossentropy', 'val_loss', 'val_loss_crossentropy', 'val_accuracy', 'val_top2', 'train_step_loss', 'lr']) {
    assert.ok(a.logged.some(([key]) => key === k), `metric ${k} logged`);
  }
  // The data is easy: three short epochs must beat chance (0.25) clearly.
  assert.ok(a.last.val_accuracy! > 0.5, `val_accuracy ${a.last.val_accuracy}`);
});

test('determinism holds on wasm too (the default backend here), with its own numbers', async () => {
  await initBackend('wasm', () => {});
  try {
    const a = await run(3, { spec: { ...spec, epochs: 2 } });
    const b = await run(3, { spec: { ...spec, epochs: 2 } });
    assert.deepEqual(noTime(a.history), noTime(b.history));
  } finally {
    await initBackend('cpu', () => {});
  }
});

test('tensor memory does not grow across epochs', async () => {
  const counts: number[] = [];
  await run(5, { spec: { ...spec, epochs: 4 }, onEpochEnd: () => counts.push(tf.memory().numTensors) });
  assert.equal(counts.length, 4);
  assert.deepEqual(counts.slice(1), [counts[0], counts[0], counts[0]], `numTensors per epoch: ${counts.join(', ')}`);
});

test('an interrupted run resumes from its last checkpoint and ends where an uninterrupted one does', async () => {
  const whole = await run(6, { checkpointDir: join(dir, 'ck-whole') });
  const ck = join(dir, 'ck-cut');
  const stop = new AbortController();
  await assert.rejects(run(6, { checkpointDir: ck, signal: stop.signal, onEpochEnd: (e) => e === 1 && stop.abort() }), TrainingAborted);
  const resumed = await run(6, { checkpointDir: ck });
  assert.equal(resumed.resumedFrom, 1);
  assert.equal(whole.resumedFrom, 0);
  assert.deepEqual(noTime(resumed.history), noTime(whole.history));
  // The resumed run re-logs the first epoch, so its record is complete.
  assert.ok(resumed.logged.some(([k, , s]) => k === 'train_loss' && s === 1));
  const again = await run(6, { checkpointDir: ck });
  assert.equal(again.resumedFrom, 3);
  assert.equal(again.last.val_accuracy, whole.last.val_accuracy);
});

test('Ctrl-C inside an epoch keeps the batches done: the rerun continues mid-epoch and ends where an uninterrupted run does', async () => {
  const whole = await run(7, { checkpointDir: join(dir, 'ck-mid-whole') });
  const ck = join(dir, 'ck-mid');
  const stop = new AbortController();
  // 4 steps an epoch: stop after step 6, half-way through the second epoch (its checkpoint after epoch 1 is at step 4).
  await assert.rejects(run(7, { checkpointDir: ck, signal: stop.signal, metric: (k, _v, step) => k === 'train_step_loss' && step === 6 && stop.abort() }), TrainingAborted);
  const logs: string[] = [];
  const resumed = await run(7, { checkpointDir: ck, log: { info: (m) => logs.push(m), warn() {} } });
  assert.ok(logs.includes('continuing epoch 2 after 2 batches'), logs.join('\n'));
  assert.equal(resumed.resumedFrom, 1);
  assert.equal(resumed.steps, whole.steps);
  // Epoch 2's train_loss averages over all its batches, half of them trained before the stop.
  assert.deepEqual(noTime(resumed.history), noTime(whole.history));
  assert.equal(resumed.last.val_accuracy, whole.last.val_accuracy);
});

test('train.checkpointMinutes: checkpoints inside an epoch, so a hard kill mid-epoch resumes there', async () => {
  const whole = await run(8, { checkpointDir: join(dir, 'ck-clock-whole') });
  const ck = join(dir, 'ck-clock');
  const killed = join(dir, 'ck-clock-killed');
  // A tiny interval saves after every batch; the copy taken while step 8 is logged (its own save
  // comes after) holds the checkpoint after step 7, three batches into epoch 2: what a SIGKILL
  // right then would leave behind.
  await run(8, {
    checkpointDir: ck,
    spec: { ...spec, checkpointMinutes: 1e-9 },
    metric: (k, _v, step) => void (k === 'train_step_loss' && step === 8 && cpSync(ck, killed, { recursive: true })),
  });
  const logs: string[] = [];
  const resumed = await run(8, { checkpointDir: killed, log: { info: (m) => logs.push(m), warn() {} } });
  assert.ok(logs.includes('continuing epoch 2 after 3 batches'), logs.join('\n'));
  assert.deepEqual(noTime(resumed.history), noTime(whole.history));
});

test('learning-rate schedules', () => {
  const s = { kind: 'constant' as const, every: 2, gamma: 0.5, patience: 2, warmupSteps: 4 };
  const at = (step: number, epoch = 0) => ({ step, epoch, totalSteps: 104 });
  assert.equal(learningRate(1, s, at(0)), 0.25);
  assert.equal(learningRate(1, s, at(3)), 1);
  assert.equal(learningRate(1, { ...s, kind: 'step' }, at(50, 5)), 0.25); // 0.5^floor(5/2)
  assert.equal(learningRate(1, { ...s, kind: 'exponential' }, at(50, 3)), 0.125);
  assert.equal(learningRate(1, { ...s, kind: 'cosine' }, at(4)), 1);
  assert.ok(Math.abs(learningRate(1, { ...s, kind: 'cosine' }, at(54)) - 0.5) < 1e-12);
  assert.ok(learningRate(1, { ...s, kind: 'cosine' }, at(104)) < 1e-12);
  assert.equal(learningRate(1, { ...s, kind: 'plateau' }, { ...at(50, 5), factor: 0.25 }), 0.25);
  assert.equal(learningRate(1, { ...s, kind: 'plateau' }, at(2)), 0.75); // warm-up first
});

test('setLearningRate takes effect on every optimizer (the schedule relies on it)', () => {
  for (const optimizer of ['sgd', 'adam', 'rmsprop'] as const) {
    for (const momentum of [0, 0.9]) {
      const step = (lr: number) => {
        const x = tf.variable(tf.scalar(1));
        const opt = makeOptimizer({ optimizer, lr: 0.01, momentum });
        setLearningRate(opt, lr);
        opt.minimize(() => x.mul(3) as tf.Scalar, false, [x]);
        const moved = 1 - x.dataSync()[0]!;
        opt.dispose();
        x.dispose();
        return moved;
      };
      const ratio = step(0.02) / step(0.01);
      assert.ok(Math.abs(ratio - 2) < 1e-3, `${optimizer} momentum ${momentum}: first step ratio ${ratio}`);
    }
  }
});

test('train.beta1 reaches Adam', () => {
  const first = (beta1: number | undefined) => {
    const x = tf.variable(tf.scalar(1));
    const opt = makeOptimizer({ optimizer: 'adam', lr: 0.1, momentum: 0, beta1 });
    for (let i = 0; i < 3; i++) opt.minimize(() => x.square() as tf.Scalar, false, [x]);
    const v = x.dataSync()[0]!;
    opt.dispose();
    x.dispose();
    return v;
  };
  assert.equal(first(undefined), first(0.9));
  assert.notEqual(first(0.5), first(0.9));
});

test('train.steps stops mid-epoch and overrides epochs', async () => {
  // 64 samples / batch 16 = 4 steps per epoch: 6 steps is one and a half epochs.
  const r = await run(7, { spec: { ...spec, epochs: 50, steps: 6 } as typeof spec });
  assert.equal(r.steps, 6);
  assert.equal(r.epochs, 2);
  assert.equal(r.history.train_loss!.length, 2);
});

test("TrainingAborted carries the abort reason's message; a plain Ctrl-C says how to resume", () => {
  const plain = new AbortController();
  plain.abort();
  assert.equal(new TrainingAborted(plain.signal.reason).message, 'training aborted; rerun to resume from the last checkpoint');
  assert.equal(new TrainingAborted(new Error('interrupted')).message, 'interrupted');
  assert.equal(new TrainingAborted().name, 'TrainingAborted');
});
