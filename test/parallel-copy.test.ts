// The data-parallel step's copies and gradient sum (src/train/parallel/copy.ts, sumGradients in
// group.ts): the fast paths must give the same bits as the plain ones they replaced, on wasm (whose
// tensors are copied into its heap) and on cpu (which keeps the array it is given).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { readInto, tensorOf } from '../src/train/parallel/copy.js';
import { sumGradients } from '../src/train/parallel/group.js';

/** The sum as the step computed it before: a zeroed float32 array, each rank added in rank order. */
function plainSum(slots: Float32Array[], weights: number[], len: number): Float32Array {
  const sum = new Float32Array(len);
  for (const [r, s] of slots.entries()) for (let i = 0; i < len; i++) sum[i]! += weights[r]! * s[i]!;
  return sum;
}

function slotsOf(ranks: number, len: number): Float32Array[] {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return (seed / 2 ** 31 - 0.5) * 1e3;
  };
  return Array.from({ length: ranks }, (_, r) => {
    const s = new Float32Array(len + 3).map(rand);
    // Signed zeros and values whose weighted sum rounds differently in float32 and float64.
    s[0] = -0;
    s[1] = r === 0 ? 1 + 2 ** -23 : 2 ** -24;
    return s;
  });
}

for (const ranks of [1, 2, 3, 4]) {
  test(`sumGradients over ${ranks} rank(s) gives the bits of the rank-by-rank float32 sum`, () => {
    const len = 1001;
    const slots = slotsOf(ranks, len);
    // Shard weights as the step makes them: n_r / n with uneven shards.
    const sizes = Array.from({ length: ranks }, (_, r) => 5 + (r === 0 ? 1 : 0));
    const n = sizes.reduce((a, b) => a + b, 0);
    const weights = sizes.map((s) => s / n);
    const sum = new Float32Array(len + 3).fill(42);
    sumGradients(sum, slots, weights, len);
    const want = plainSum(slots, weights, len);
    assert.deepEqual(new Uint32Array(sum.buffer, 0, len), new Uint32Array(want.buffer), 'bit-identical sums');
    assert.deepEqual(Array.from(sum.subarray(len)), [42, 42, 42], 'nothing written past len');
  });
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`readInto and tensorOf on ${backend}: the values, and a tensor independent of the buffer it came from`, async () => {
    await initBackend(backend, () => {});
    const shared = new Float32Array(new SharedArrayBuffer(12 * 4));
    const t = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    readInto(t, shared, 4);
    assert.deepEqual(Array.from(shared), [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0]);
    const u = tensorOf(shared.subarray(4, 10), [3, 2]);
    shared.fill(9);
    assert.deepEqual(u.shape, [3, 2]);
    assert.deepEqual(Array.from(u.dataSync()), [1, 2, 3, 4, 5, 6], 'later writes to the buffer do not reach the tensor');
    tf.dispose([t, u]);
  });
}
