// A checkpoint save killed at any point leaves a complete checkpoint to resume from: the new one, or
// the previous one set aside as `<dir>.old` until the new one is in place.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { type Checkpointable, loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';

const root = await mkdtemp(join(tmpdir(), 'ablate-ckpt-'));
after(() => rm(root, { recursive: true, force: true }));

function build(): Checkpointable & { step(): void; value(): number[] } {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], kernelInitializer: 'ones' })] });
  const opt = tf.train.adam(0.1);
  const x = tf.ones([4, 3]);
  return {
    models: { net: model },
    optimizers: { net: opt },
    step: () => {
      tf.tidy(() => {
        opt.minimize(() => (model.apply(x) as tf.Tensor).square().mean() as tf.Scalar);
      });
    },
    value: () => Array.from(model.getWeights()[0]!.dataSync()),
  };
}

const state = (step: number) => ({ epoch: step, step, history: { loss: [[step, step / 10]] as [number, number][] } });

test('a save interrupted between setting the old checkpoint aside and renaming the new one in loses nothing', async () => {
  await initBackend('cpu');
  const dir = join(root, 'checkpoint');
  const a = build();
  a.step();
  await saveCheckpoint(dir, a, state(1));
  a.step();
  await saveCheckpoint(dir, a, state(2));
  assert.ok(!existsSync(`${dir}.old`), 'the previous checkpoint is removed once the new one is in place');
  const atTwo = a.value();

  // The kill: the step-2 checkpoint already moved aside, the step-3 one still partial.
  await rename(dir, `${dir}.old`);
  await mkdir(join(`${dir}.partial`, 'models'), { recursive: true });
  await writeFile(join(`${dir}.partial`, 'state.json.tmp'), '{');

  const b = build();
  const restored = await loadCheckpoint(dir, b);
  assert.equal(restored?.step, 2);
  assert.deepEqual(b.value(), atTwo);
  // Saving again from that state works and settles on one checkpoint.
  b.step();
  await saveCheckpoint(dir, b, state(3));
  const c = build();
  assert.equal((await loadCheckpoint(dir, c))?.step, 3);
  assert.deepEqual(c.value(), b.value());
  assert.ok(!existsSync(`${dir}.old`) && !existsSync(`${dir}.partial`));
  // The restored optimizer continues as the saved one would: one more step from equal states agrees.
  const d = build();
  await loadCheckpoint(dir, d);
  b.step();
  d.step();
  const diff = Math.max(...d.value().map((v, i) => Math.abs(v - b.value()[i]!)));
  assert.ok(diff < 1e-5, `one step after restoring, weights differ by ${diff}`);
});

test('no checkpoint at all: null, and the models are untouched', async () => {
  await initBackend('cpu');
  const m = build();
  const before = m.value();
  assert.equal(await loadCheckpoint(join(root, 'none'), m), null);
  assert.deepEqual(m.value(), before);
});
