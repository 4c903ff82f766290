// Exact and HNSW nearest neighbours by cosine similarity, and the nearest-class metrics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exactKnn, hnswIndex, nearestEval, recallAt } from '../src/train/nearest.js';

function rand(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

test('exact search ranks by cosine similarity, not by length', () => {
  const gallery = [
    [1, 0],
    [0, 1],
    [10, 9],
  ];
  // [1, 1.1] is closest in angle to [10, 9] (cos 0.995), then [0, 1] (0.74), then [1, 0] (0.67)
  assert.deepEqual(Array.from(exactKnn([1, 1.1], gallery, 2, 3)[0]!), [2, 1, 0]);
  assert.deepEqual(Array.from(exactKnn([5, 0.1, 0, 3], gallery, 2, 1).map((r) => r[0])), [0, 1]);
});

test('HNSW on 3000 random 24-d vectors: recall@10 against exact search ≥ 0.9', () => {
  const r = rand(11);
  const d = 24;
  const gallery = Array.from({ length: 3000 }, () => Array.from({ length: d }, r));
  const queries = Float32Array.from({ length: 100 * d }, r);
  const exact = exactKnn(queries, gallery, d, 10);
  const approx = hnswIndex(gallery, d, { seed: 1 }).search(queries, 10);
  const recall = recallAt(exact, approx);
  assert.ok(recall >= 0.9, `recall ${recall}`);
  // A deliberately crippled index (ef 1, m 2) must score lower: the recall measure can fail.
  const poor = recallAt(exact, hnswIndex(gallery, d, { m: 2, efConstruction: 2, ef: 1, seed: 1 }).search(queries, 10));
  assert.ok(poor < recall, `poor ${poor} vs ${recall}`);
});

test('nearest-class metrics: top-1, top-k and ANN recall', () => {
  const targets = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];
  // query 0 near class 0 (label 0: hit), query 1 near class 2 but labelled 1 (top-1 miss, top-2 hit)
  const pred = Float32Array.from([0.9, 0.1, 0, 0, 0.4, 0.9]);
  const m = nearestEval(pred, Int32Array.from([0, 1]), 3, targets, { k: 2, approximate: true });
  assert.equal(m.nn_top1, 0.5);
  assert.equal(m.nn_top2, 1);
  assert.equal(m.ann_recall, 1);
  assert.equal(m.ann_top1, 0.5);
});
