// Data-parallel training (src/train/parallel): N worker threads against 1 on the same global
// batches, determinism and mid-epoch resume with 2 workers, batch-norm statistics combined across
// shards, and a worker that fails. Tiny convnet, tiny data, wasm (the default backend).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initBackend } from '../src/backend/index.js';
import { openArray, writeArray } from '../src/data/zarr.js';
import { buildHead, convnet } from '../src/models/index.js';
import { buildLoss } from '../src/train/losses.js';
import { fit, type FitOptions, type LabelledArrays, TrainingAborted } from '../src/train/loop.js';
import { CORES_ENV, coresForRun, coresPerJob, resolveWorkers } from '../src/train/parallel/cores.js';
import { FAIL_ENV } from '../src/train/parallel/protocol.js';
import { shardSizes } from '../src/train/parallel/shards.js';
import type { BuiltTrial } from '../src/sweep/build.js';
import { ablateRunCommand, type LaunchContext } from '../src/sweep/run.js';

import { quadrantImages } from './fixtures/train-data.js';

let dir: string;
let train: LabelledArrays;

/** n 8×8 gray images of test/fixtures/train-data.ts (the class is the quadrant holding a bright square). */
async function quadrants(path: string, n: number): Promise<LabelledArrays> {
  const { x, y } = quadrantImages(n, 7);
  await writeArray(join(path, 'images'), x, [8, 8, 1], 'uint8', 16);
  await writeArray(join(path, 'labels'), y, [], 'int32', 16);
  return { x: await openArray(join(path, 'images')), y: await openArray(join(path, 'labels')), normalize: 'unit' };
}

before(async () => {
  await initBackend('wasm', () => {});
  dir = await mkdtemp(join(tmpdir(), 'ablate-parallel-'));
  // 56 samples in batches of 16: the last batch of an epoch has 8 (uneven shards for 3 workers).
  train = await quadrants(join(dir, 'train'), 56);
});
after(() => rm(dir, { recursive: true, force: true }));

const spec = {
  epochs: 2,
  batchSize: 16,
  optimizer: 'adam' as const,
  lr: 0.01,
  momentum: 0.9,
  schedule: { kind: 'constant' as const, every: 1, gamma: 1, patience: 2, warmupSteps: 0 },
  logEvery: 1,
  checkpointEvery: 1,
};

async function run(workers: number, extra: Partial<FitOptions> & { norm?: 'batch' } = {}) {
  const model = convnet({ inputShape: [8, 8, 1], outputs: 4, width: 2, seed: 3, ...(extra.norm ? { norm: extra.norm } : {}) });
  const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]);
  const steps: number[] = [];
  const r = await fit({ model, loss, train, spec: { ...spec, workers, ...extra.spec }, seed: 5, topK: 2, metric: (k, v) => k === 'train_step_loss' && steps.push(v), ...extra, ...(extra.spec ? { spec: { ...spec, workers, ...extra.spec } } : {}) });
  const weights = Object.fromEntries(model.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]));
  model.dispose();
  return { ...r, steps, weights };
}

const maxDiff = (a: Record<string, number[]>, b: Record<string, number[]>) => {
  assert.deepEqual(Object.keys(a), Object.keys(b));
  return Math.max(...Object.keys(a).map((k) => Math.max(...a[k]!.map((v, i) => Math.abs(v - b[k]![i]!)))));
};

const noTime = (h: Record<string, [number, number][]>) => Object.fromEntries(Object.entries(h).filter(([k]) => !/time|per_s/.test(k)));

test('shards: sizes differ by at most one row, nothing dropped', () => {
  assert.deepEqual(shardSizes(16, 3), [6, 5, 5]);
  assert.deepEqual(shardSizes(8, 2), [4, 4]);
  assert.deepEqual(shardSizes(2, 3), [1, 1, 0]);
});

test('train.workers defaults to the cores this run may use; a sweep gives each concurrent trial its share', () => {
  assert.equal(coresForRun({ [CORES_ENV]: '3' }), 3);
  assert.ok(coresForRun({}) >= 1);
  assert.equal(coresForRun({ [CORES_ENV]: 'x' }), coresForRun({}));
  assert.equal(resolveWorkers(undefined, { [CORES_ENV]: '8' }), 8);
  assert.equal(resolveWorkers(2, { [CORES_ENV]: '8' }), 2);
  assert.equal(coresPerJob(16, 2), 8);
  assert.equal(coresPerJob(2, 4), 1);
  const cmd = ablateRunCommand({ overrides: [] } as unknown as BuiltTrial, { sweep: { id: 's', base: { file: 'x.yaml' } }, parentRunId: 'p', tags: {}, runName: 'r', logFile: 'l', cores: 8 } as unknown as LaunchContext);
  assert.equal(cmd.env?.[CORES_ENV], '8');
});

test('2 and 3 workers train what 1 worker trains on the same global batches, to float tolerance', async () => {
  const one = await run(1);
  const two = await run(2);
  const three = await run(3);
  assert.equal(one.steps.length, 8);
  for (const other of [two, three]) {
    assert.equal(other.steps.length, one.steps.length);
    for (const [i, l] of one.steps.entries()) assert.ok(Math.abs(l - other.steps[i]!) < 1e-4, `step ${i + 1} loss ${l} vs ${other.steps[i]}`);
    const d = maxDiff(one.weights, other.weights);
    assert.ok(d < 1e-4, `weights differ by ${d}`);
    assert.ok(Math.abs(one.last.train_accuracy! - other.last.train_accuracy!) < 1e-9);
  }
  // Training did something (so matching is not trivially matching untouched weights).
  assert.ok(one.steps.at(-1)! < one.steps[0]!, `loss ${one.steps[0]} → ${one.steps.at(-1)}`);
});

// The uninterrupted 2-worker run the resume tests end against (run once).
let wholeRun: ReturnType<typeof run> | undefined;
const whole2 = () => (wholeRun ??= run(2));

test('2 workers: the same numbers on every run, and Ctrl-C mid-epoch resumes to the same end', async () => {
  const whole = await whole2();
  const again = await run(2, { checkpointDir: join(dir, 'ck-whole') });
  assert.deepEqual(again.weights, whole.weights);
  const ck = join(dir, 'ck-cut');
  const stop = new AbortController();
  let n = 0;
  // 4 steps an epoch: stop after step 6, two batches into the second epoch.
  await assert.rejects(run(2, { checkpointDir: ck, signal: stop.signal, metric: (k) => k === 'train_step_loss' && ++n === 6 && stop.abort() }), TrainingAborted);
  const logs: string[] = [];
  const resumed = await run(2, { checkpointDir: ck, log: { info: (m) => logs.push(m), warn() {} } });
  assert.ok(logs.includes('continuing epoch 2 after 2 batches'), logs.join('\n'));
  assert.equal(resumed.steps.length, 2);
  assert.deepEqual(resumed.weights, whole.weights);
  assert.deepEqual(noTime(resumed.history), noTime(whole.history));
});

test('batch norm: the moving statistics combine the shards (the first layer mean is the global batch mean, as with 1 worker)', async () => {
  const one = await run(1, { norm: 'batch', spec: { ...spec, steps: 1 } });
  const two = await run(2, { norm: 'batch', spec: { ...spec, steps: 1 } });
  const first = (w: Record<string, number[]>) => ({ mean: w['stage1_bn/moving_mean']!, variance: w['stage1_bn/moving_variance']! });
  assert.ok(first(one.weights).mean, Object.keys(one.weights).join(', '));
  // Rank 0 alone saw half the batch: its mean would be off by far more than this.
  assert.ok(maxDiff({ m: first(one.weights).mean }, { m: first(two.weights).mean }) < 1e-6);
  // The variance is the mean of the shards' variances (the between-shard part is left out): close, not equal.
  assert.ok(maxDiff({ v: first(one.weights).variance }, { v: first(two.weights).variance }) < 0.02);
  // Deeper layers normalise by each shard's own statistics (no cross-shard batch norm): near, not equal.
  assert.ok(maxDiff(one.weights, two.weights) < 0.05);
});

test('a worker that throws or exits fails the run with its error; the last checkpoint resumes', async (t) => {
  const ck = join(dir, 'ck-fail');
  t.after(() => {
    delete process.env[FAIL_ENV];
  });
  // Step index 5 (0-based) is the second batch of epoch 2: the checkpoint after epoch 1 stays.
  process.env[FAIL_ENV] = '1:5';
  await assert.rejects(run(2, { checkpointDir: ck }), /training worker 1 failed: injected failure of worker 1 at step 5/);
  process.env[FAIL_ENV] = '1:1:exit';
  await assert.rejects(run(2, { checkpointDir: join(dir, 'ck-exit') }), /training worker 1 exited with code 3/);
  delete process.env[FAIL_ENV];
  const resumed = await run(2, { checkpointDir: ck });
  assert.equal(resumed.resumedFrom, 1);
  assert.deepEqual(resumed.weights, (await whole2()).weights);
});

test('head on cached activations: 2 workers train and validate (on the same ranks) what 1 worker does', async () => {
  // Activations [2, 2, 3] per row (the head flattens them), labels from their sign pattern.
  const acts = async (path: string, n: number, seed: number): Promise<LabelledArrays> => {
    let a = seed;
    const x = new Float32Array(n * 12).map(() => {
      a = (a * 1103515245 + 12345) >>> 0;
      return a / 2 ** 31 - 1;
    });
    const y = Int32Array.from({ length: n }, (_, i) => (x[i * 12]! > 0 ? 1 : 0) + (x[i * 12 + 5]! > 0 ? 2 : 0));
    await writeArray(join(path, 'features'), x, [2, 2, 3], 'float32', 16);
    await writeArray(join(path, 'labels'), y, [], 'int32', 16);
    return { x: await openArray(join(path, 'features')), y: await openArray(join(path, 'labels')), normalize: 'none' };
  };
  const htrain = await acts(join(dir, 'head-train'), 40, 3);
  const hval = await acts(join(dir, 'head-val'), 19, 4);
  const head = async (workers: number) => {
    const model = buildHead([2, 2, 3], { kind: 'mlp', units: 8, activation: 'relu', dropout: 0, outputs: 4, seed: 2 });
    const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]);
    const steps: number[] = [];
    const val: number[] = [];
    const r = await fit({
      model,
      loss,
      train: htrain,
      val: hval,
      spec: { ...spec, epochs: 3, workers },
      seed: 5,
      topK: 2,
      metric: (k, v) => {
        if (k === 'train_step_loss') steps.push(v);
      },
      onEpochEnd: (_e, m) => val.push(m.val_loss!, m.val_accuracy!),
    });
    const weights = Object.fromEntries(model.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]));
    model.dispose();
    return { r, steps, val, weights };
  };
  const one = await head(1);
  const two = await head(2);
  assert.equal(one.steps.length, 9);
  assert.equal(one.val.length, 6);
  for (const [i, l] of one.steps.entries()) assert.ok(Math.abs(l - two.steps[i]!) < 1e-5, `step ${i + 1}: ${l} vs ${two.steps[i]}`);
  for (const [i, v] of one.val.entries()) assert.ok(Math.abs(v - two.val[i]!) < 1e-5, `validation value ${i}: ${v} vs ${two.val[i]}`);
  assert.ok(maxDiff(one.weights, two.weights) < 1e-5);
  assert.ok(one.steps.at(-1)! < one.steps[0]!, 'the head learned something');
  // Validation runs on the training ranks: a worker failing in its pass fails the run.
  process.env[FAIL_ENV] = '1:0:pass';
  try {
    await assert.rejects(head(2), /training worker 1 failed: injected failure of worker 1 at pass batch 0/);
  } finally {
    delete process.env[FAIL_ENV];
  }
});
