// The quality score must rank generators the way a person would. One scorer trained here, and
// generators whose quality is known by construction:
//   - held-out real digits (perfect; never seen by the scorer nor by the real statistics),
//   - the dense GAN generator *trained* here to reproduce 500 digits from 500 fixed codes
//     (regression instead of the adversarial game, which is too slow for a unit test on 2 cores;
//     the adversarial runs are checked end to end, see docs/gans.md),
//   - the same generator untrained (same architecture, seed and codes),
//   - a collapsed "generator" that only ever draws ones.
// Nothing is hard-coded: every number comes out of networks trained in this test.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { loadDigits, MNIST_SHAPE, sliceDigits } from '../src/gan/mnist.js';
import { buildGenerator } from '../src/gan/models.js';
import { Seeds } from '../src/gan/random.js';
import { buildScorer, qualityScore, realStatistics, scorerOutputs, trainScorer } from '../src/gan/scorer.js';

before(async () => {
  await initBackend('wasm', () => {});
});

test('quality score: real digits ≈ trained generator ≪ untrained generator; collapse shows in coverage', async () => {
  const digits = loadDigits('symmetric', 0);
  const scorer = buildScorer(0);
  const acc = await trainScorer(scorer, sliceDigits(digits, 0, 4000), sliceDigits(digits, 9000, 9500), { epochs: 1, batchSize: 64, lr: 2e-3, seed: 0 });
  assert.ok(acc > 0.85, `scorer accuracy ${acc}`);
  const ref = sliceDigits(digits, 4000, 5500);
  const real = realStatistics((await scorerOutputs(scorer, tf.tensor4d(ref.images, [ref.count, 28, 28, 1]), true)).features);

  const n = 500;
  const targets = sliceDigits(digits, 5500, 5500 + n);
  const codes = tf.randomNormal([n, 32], 0, 1, 'float32', 11) as tf.Tensor2D;
  const untrained = buildGenerator('gan', 32, MNIST_SHAPE, 'tanh', new Seeds(3));
  const trained = buildGenerator('gan', 32, MNIST_SHAPE, 'tanh', new Seeds(3));
  const x = tf.tensor4d(targets.images, [n, 28, 28, 1]);
  const opt = tf.train.adam(2e-3);
  let mse = Number.NaN;
  for (let i = 0; i < 300; i++) {
    const l = opt.minimize(() => tf.losses.meanSquaredError(x, trained.apply(codes, { training: true }) as tf.Tensor), true) as tf.Scalar;
    mse = l.dataSync()[0]!;
    l.dispose();
  }
  assert.ok(mse < 0.1, `regression fit mse ${mse}`);

  const sTrained = await qualityScore(scorer, real, trained.predict(codes) as tf.Tensor4D);
  const sUntrained = await qualityScore(scorer, real, untrained.predict(codes) as tf.Tensor4D);
  const held = sliceDigits(digits, 9500, 10000);
  const sReal = await qualityScore(scorer, real, tf.tensor4d(held.images, [held.count, 28, 28, 1]));
  const ones: number[] = [];
  for (let i = 0; i < digits.count && ones.length < 300; i++) if (digits.labels[i] === 1) ones.push(i);
  const onesImages = tf.tidy(() => tf.gather(tf.tensor4d(digits.images, [digits.count, 28, 28, 1]), ones)) as tf.Tensor4D;
  const sOnes = await qualityScore(scorer, real, onesImages);
  console.log(JSON.stringify({ acc, mse, real: sReal, trained: sTrained, untrained: sUntrained, ones: sOnes }));

  assert.ok(sReal.frechet < sTrained.frechet, 'real digits beat the trained generator');
  assert.ok(sTrained.frechet * 5 < sUntrained.frechet, `trained ${sTrained.frechet} should be far below untrained ${sUntrained.frechet}`);
  assert.ok(sReal.coverage > 0.95 && sTrained.coverage > 0.9, 'real and trained cover the classes');
  assert.ok(sUntrained.coverage < 0.6, 'an untrained generator does not look like all ten digits');
  assert.ok(sOnes.coverage < 0.2 && sOnes.frechet > 10 * sReal.frechet, 'a collapsed generator is caught by both numbers');
  for (const t of [codes, x, onesImages]) t.dispose();
  trained.dispose();
  untrained.dispose();
  opt.dispose();
});
