import assert from 'node:assert/strict';
import { test } from 'node:test';
import { criticSequence, criticSteps, WGAN_REFERENCE } from '../src/gan/schedule.js';

// The rule exactly as the WGAN reference code writes it, independent of the implementation.
function referenceDiters(genIterations: number): number {
  return genIterations < 25 || genIterations % 500 === 0 ? 100 : 5;
}

test('schedule matches the WGAN reference rule for the first 1,500 generator steps', () => {
  const ours = criticSequence(1500, WGAN_REFERENCE);
  const ref = Array.from({ length: 1500 }, (_, g) => referenceDiters(g));
  assert.deepEqual(ours, ref);
  // Spot checks so a wrong reference could not make the comparison pass vacuously.
  assert.deepEqual([ours[0], ours[24], ours[25], ours[499], ours[500], ours[1000], ours[1001]], [100, 100, 5, 5, 100, 100, 5]);
  assert.equal(ours.filter((n) => n === 100).length, 25 + 2);
});

test('tiny schedule from CLI-sized integers', () => {
  const s = { steps: 2, warmup: { steps: 4, generatorSteps: 3 }, periodic: { steps: 6, every: 5 } };
  assert.deepEqual(criticSequence(12, s), [6, 4, 4, 2, 2, 6, 2, 2, 2, 2, 6, 2]);
});

test('warm-up and periodic counts replace the base count, even when smaller', () => {
  assert.deepEqual(criticSequence(4, { steps: 5, warmup: { steps: 1, generatorSteps: 2 } }), [1, 1, 5, 5]);
  assert.deepEqual(criticSequence(5, { steps: 3, periodic: { steps: 1, every: 2 } }), [1, 3, 1, 3, 1]);
  assert.deepEqual(criticSequence(3, { steps: 1 }), [1, 1, 1]);
  assert.equal(criticSteps(0, { steps: 1, warmup: { steps: 7, generatorSteps: 1 }, periodic: { steps: 9, every: 4 } }), 9);
});
