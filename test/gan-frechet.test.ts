import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classEntropy, fitGaussian, frechetDistance, sqrtPsd, symmetricEigen } from '../src/gan/frechet.js';
import { mulberry32 } from '../src/gan/random.js';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('eigen-decomposition and square root reproduce the matrix', () => {
  const m = Float64Array.from([4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2]);
  const { values } = symmetricEigen(m, 3);
  close([...values].reduce((a, b) => a + b), 9, 1e-9, 'trace');
  const r = sqrtPsd(m, 3);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += r[i * 3 + k]! * r[k * 3 + j]!;
      close(s, m[i * 3 + j]!, 1e-9, `(${i},${j})`);
    }
  }
});

test('Fréchet distance: closed forms for 1-D and diagonal Gaussians, zero for identical ones', () => {
  const g = (mean: number[], diag: number[]) => {
    const n = mean.length;
    const cov = new Float64Array(n * n);
    diag.forEach((v, i) => {
      cov[i * n + i] = v;
    });
    return { mean: Float64Array.from(mean), cov, dim: n };
  };
  // 1-D: (m1 − m2)² + (s1 − s2)²
  close(frechetDistance(g([1], [4]), g([3], [9])), 4 + 1, 1e-9);
  close(frechetDistance(g([0, 0], [1, 4]), g([1, 1], [4, 1])), 2 + 1 + 1, 1e-9);
  close(frechetDistance(g([0.5, 2, -1], [1, 2, 3]), g([0.5, 2, -1], [1, 2, 3])), 0, 1e-9);
});

test('Fréchet distance of sampled sets: near zero for the same distribution, the squared shift for a shifted copy', () => {
  const rand = mulberry32(7);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const sample = (n: number) => {
    const rows = new Float64Array(n * 4);
    for (let i = 0; i < n; i++) {
      const z = gauss();
      for (let j = 0; j < 4; j++) rows[i * 4 + j] = z * 0.5 + gauss();
    }
    return rows;
  };
  const rows = sample(4000);
  const a = fitGaussian(rows, 4);
  const same = frechetDistance(a, fitGaussian(sample(4000), 4));
  assert.ok(same < 0.05, `same ${same}`);
  // Same rows moved by 2 along one axis: identical covariance, so exactly the mean term.
  const moved = rows.map((v, i) => (i % 4 === 0 ? v + 2 : v));
  close(frechetDistance(a, fitGaussian(moved, 4)), 4, 1e-9, 'shift of 2 in one coordinate');
  // Scaling all features by 2 doubles each standard deviation: Tr(Σ) is added back once.
  const scaled = fitGaussian(rows.map((v) => v * 2), 4);
  let tr = 0;
  let m2 = 0;
  for (let i = 0; i < 4; i++) {
    tr += a.cov[i * 4 + i]!;
    m2 += a.mean[i]! ** 2;
  }
  close(frechetDistance(a, scaled), m2 + tr, 1e-9, 'scale by 2');
});

test('class entropy: uniform over 10 classes is log2 10, a collapsed generator is 0', () => {
  close(classEntropy(Array.from({ length: 1000 }, (_, i) => i % 10), 10), Math.log2(10), 1e-12);
  assert.equal(classEntropy(new Array(50).fill(3), 10), 0);
  close(classEntropy([0, 1, 0, 1], 10), 1, 1e-12);
});
