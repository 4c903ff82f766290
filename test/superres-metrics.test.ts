// PSNR, SSIM and bicubic upscaling against hand-computed values, closed forms and independent
// direct (loop-by-loop, float64) implementations written here from the papers' definitions.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { bicubicMatrix, bicubicUpscale, cubicWeight, gaussianWindow, psnr, ssim, toUnitRange } from '../src/superres/metrics.js';

before(async () => {
  await tf.setBackend('cpu');
});

const near = (got: number, want: number, tol = 1e-5, what = '') => assert.ok(Math.abs(got - want) <= tol, `${what} got ${got}, want ${want} (±${tol})`);

/** Deterministic pseudo-random values in [0, 1) (LCG), so failures reproduce. */
function randomImage(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

test('PSNR: 10·log10(L²/MSE) per image, on hand-computed cases', () => {
  const z = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
  // image 0 off by 0.1 everywhere (MSE 0.01 → 20 dB), image 1 by 0.01 (MSE 1e-4 → 40 dB)
  const t = tf.concat([tf.fill([1, 4, 4, 3], 0.1), tf.fill([1, 4, 4, 3], 0.01)]) as tf.Tensor4D;
  const v = Array.from(psnr(z, t).dataSync());
  near(v[0]!, 20, 1e-4);
  near(v[1]!, 40, 1e-3);
  // one pixel of 16 off by 1 in a [0, 1] image: MSE 1/16 → 10·log10(16) = 12.0412 dB
  const one = tf.tensor4d(Array.from({ length: 16 }, (_, i) => (i === 5 ? 1 : 0)), [1, 4, 4, 1]);
  near(psnr(one, tf.zeros([1, 4, 4, 1]) as tf.Tensor4D).dataSync()[0]!, 12.041199826559248, 1e-4);
  // the same error on a 0..255 scale with L = 255
  near(psnr(one.mul(255) as tf.Tensor4D, tf.zeros([1, 4, 4, 1]) as tf.Tensor4D, 255).dataSync()[0]!, 12.041199826559248, 1e-4);
  // identical images: floored at 100 dB instead of +∞
  near(psnr(z, z).dataSync()[0]!, 100, 1e-3);
});

test('Gaussian window: 11×11, σ = 1.5, sums to 1, symmetric, peak at the centre', () => {
  const w = gaussianWindow();
  assert.equal(w.length, 121);
  near(
    w.reduce((a, b) => a + b, 0),
    1,
    1e-6,
  );
  near(w[0]!, w[120]!, 1e-9);
  near(w[5 * 11 + 0]!, w[0 * 11 + 5]!, 1e-9);
  assert.equal(Math.max(...w), w[60]);
  // centre over corner = exp(+2·25/(2·1.5²)) = exp(11.111…)
  near(w[60]! / w[0]!, Math.exp(50 / 4.5), 1);
});

/** SSIM written straight from Wang et al. 2004, eq. 13–14 with the 11×11 σ=1.5 window, in float64. */
function ssimReference(x: Float32Array, y: Float32Array, h: number, w: number, c: number, L = 1): number {
  const size = 11;
  const r = (size - 1) / 2;
  const g = Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * 1.5 * 1.5)));
  let gs = 0;
  for (let a = 0; a < size; a++) for (let b = 0; b < size; b++) gs += g[a]! * g[b]!;
  const C1 = (0.01 * L) ** 2;
  const C2 = (0.03 * L) ** 2;
  let total = 0;
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    let count = 0;
    for (let i = 0; i + size <= h; i++) {
      for (let j = 0; j + size <= w; j++) {
        let mx = 0;
        let my = 0;
        for (let a = 0; a < size; a++) {
          for (let b = 0; b < size; b++) {
            const wt = (g[a]! * g[b]!) / gs;
            mx += wt * x[((i + a) * w + j + b) * c + ch]!;
            my += wt * y[((i + a) * w + j + b) * c + ch]!;
          }
        }
        let vx = 0;
        let vy = 0;
        let cxy = 0;
        for (let a = 0; a < size; a++) {
          for (let b = 0; b < size; b++) {
            const wt = (g[a]! * g[b]!) / gs;
            const dx = x[((i + a) * w + j + b) * c + ch]! - mx;
            const dy = y[((i + a) * w + j + b) * c + ch]! - my;
            vx += wt * dx * dx;
            vy += wt * dy * dy;
            cxy += wt * dx * dy;
          }
        }
        sum += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
        count++;
      }
    }
    total += sum / count;
  }
  return total / c;
}

test('SSIM: identical images give 1', () => {
  const x = tf.tensor4d(randomImage(2 * 16 * 16 * 3, 1), [2, 16, 16, 3]);
  for (const v of ssim(x, x).dataSync()) near(v, 1, 1e-5);
});

test('SSIM: constant images a and b give (2ab + C1)/(a² + b² + C1)', () => {
  const C1 = 0.01 ** 2;
  for (const [a, b] of [
    [0.5, 0.6],
    [0.2, 0.8],
    [0.05, 0.01],
  ] as const) {
    const v = ssim(tf.fill([1, 12, 12, 1], a) as tf.Tensor4D, tf.fill([1, 12, 12, 1], b) as tf.Tensor4D).dataSync()[0]!;
    near(v, (2 * a * b + C1) / (a * a + b * b + C1), 1e-4, `a=${a} b=${b}`);
  }
  // On a 0..255 scale the constants scale with L: the same pair gives the same SSIM.
  const v255 = ssim(tf.fill([1, 12, 12, 1], 0.2 * 255) as tf.Tensor4D, tf.fill([1, 12, 12, 1], 0.8 * 255) as tf.Tensor4D, { dataRange: 255 }).dataSync()[0]!;
  near(v255, (2 * 0.16 + C1) / (0.04 + 0.64 + C1), 1e-4);
});

test('SSIM: agrees with a direct float64 implementation on random and structured pairs', () => {
  const [h, w, c] = [16, 19, 2];
  const n = h * w * c;
  const x = randomImage(n, 7);
  const noisy = randomImage(n, 8).map((v, i) => Math.min(1, Math.max(0, x[i]! + (v - 0.5) * 0.3)));
  // a smooth gradient against its offset copy: only the luminance term differs from 1
  const ramp = Float32Array.from({ length: n }, (_, i) => ((i / c) % w) / (2 * w) + Math.floor(i / (w * c)) / (2 * h));
  const shifted = ramp.map((v) => v + 0.1);
  const inverted = x.map((v) => 1 - v);
  for (const [name, a, b] of [
    ['noisy', x, noisy],
    ['offset', ramp, shifted],
    ['inverted', x, inverted],
  ] as const) {
    const got = ssim(tf.tensor4d(a, [1, h, w, c]), tf.tensor4d(b, [1, h, w, c])).dataSync()[0]!;
    const want = ssimReference(a, b, h, w, c);
    near(got, want, 2e-4, name);
  }
  // inverting an image flips the structure term: SSIM must be clearly negative
  assert.ok(ssimReference(x, inverted, h, w, c) < -0.5);
});

test('SSIM: refuses images smaller than the window', () => {
  assert.throws(() => ssim(tf.zeros([1, 8, 8, 1]) as tf.Tensor4D, tf.zeros([1, 8, 8, 1]) as tf.Tensor4D), /at least 11×11/);
});

test('cubic kernel (a = −0.5): hand-computed weights, partition of unity', () => {
  near(cubicWeight(0), 1, 1e-12);
  near(cubicWeight(1), 0, 1e-12);
  near(cubicWeight(2), 0, 1e-12);
  near(cubicWeight(0.5), 0.5625, 1e-12); // 1.5·0.125 − 2.5·0.25 + 1
  near(cubicWeight(1.5), -0.0625, 1e-12); // −0.5·3.375 + 2.5·2.25 − 4·1.5 + 2
  near(cubicWeight(-0.75), cubicWeight(0.75), 1e-12);
  for (const u of [0, 0.25, 0.5, 0.75]) near(cubicWeight(u + 1) + cubicWeight(u) + cubicWeight(u - 1) + cubicWeight(u - 2), 1, 1e-12);
  const m = bicubicMatrix(5, 2);
  for (let i = 0; i < 10; i++) near(m.slice(i * 5, i * 5 + 5).reduce((a, b) => a + b, 0), 1, 1e-6);
  // output pixel 0 of ×2 samples u = −0.25: neighbours −2, −1, 0 clamp to pixel 0, +1 is pixel 1
  near(m[0]!, cubicWeight(1.75) + cubicWeight(0.75) + cubicWeight(0.25), 1e-6);
  near(m[1]!, cubicWeight(1.25), 1e-6);
});

/** Bicubic upscaling as a direct 16-tap sum per output pixel, edge pixels repeated. */
function bicubicReference(x: Float32Array, h: number, w: number, c: number, f: number): Float64Array {
  const out = new Float64Array(h * f * w * f * c);
  const clamp = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  for (let i = 0; i < h * f; i++) {
    const v = (i + 0.5) / f - 0.5;
    for (let j = 0; j < w * f; j++) {
      const u = (j + 0.5) / f - 0.5;
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let a = Math.floor(v) - 1; a <= Math.floor(v) + 2; a++) {
          for (let b = Math.floor(u) - 1; b <= Math.floor(u) + 2; b++) {
            s += cubicWeight(v - a) * cubicWeight(u - b) * x[(clamp(a, h) * w + clamp(b, w)) * c + ch]!;
          }
        }
        out[(i * w * f + j) * c + ch] = s;
      }
    }
  }
  return out;
}

test('bicubic upscale: matches the direct 16-tap sum for ×2 and ×4 on a batch', () => {
  const [b, h, w, c] = [2, 5, 4, 3];
  const x = randomImage(b * h * w * c, 3);
  for (const f of [2, 4]) {
    const got = bicubicUpscale(tf.tensor4d(x, [b, h, w, c]), f);
    assert.deepEqual(got.shape, [b, h * f, w * f, c]);
    const g = got.dataSync();
    const per = h * w * c;
    for (let k = 0; k < b; k++) {
      const want = bicubicReference(x.subarray(k * per, (k + 1) * per), h, w, c, f);
      const off = k * want.length;
      for (let i = 0; i < want.length; i++) near(g[off + i]!, want[i]!, 1e-5, `f=${f} image ${k} element ${i}`);
    }
  }
});

test('bicubic upscale: keeps constants and reproduces a linear ramp away from the edges', () => {
  const flat = bicubicUpscale(tf.fill([1, 4, 4, 1], 0.3) as tf.Tensor4D, 4).dataSync();
  for (const v of flat) near(v, 0.3, 1e-6);
  // ramp value = column index; at ×2, output column j samples (j + 0.5)/2 − 0.5
  const n = 8;
  const ramp = tf.tensor4d(Array.from({ length: n * n }, (_, i) => i % n), [1, n, n, 1]);
  const up = bicubicUpscale(ramp, 2).dataSync();
  for (let j = 4; j < 2 * n - 4; j++) near(up[3 * 2 * n + j]!, (j + 0.5) / 2 - 0.5, 1e-5, `column ${j}`);
});

test('toUnitRange inverts the loader normalisations and clips', () => {
  const v = (t: tf.Tensor) => Array.from(t.dataSync());
  assert.deepEqual(v(toUnitRange(tf.tensor4d([-1, 0, 1, 3], [1, 2, 2, 1]), 'symmetric')), [0, 0.5, 1, 1]);
  assert.deepEqual(v(toUnitRange(tf.tensor4d([-0.5, 0.25, 0.5, 2], [1, 2, 2, 1]), 'unit')), [0, 0.25, 0.5, 1]);
  // ImageNet: (v − mean)/std back to v, per channel
  const px = [0.2, 0.5, 0.9];
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const got = v(toUnitRange(tf.tensor4d(px.map((p, i) => (p - mean[i]!) / std[i]!), [1, 1, 1, 3]), 'imagenet'));
  for (let i = 0; i < 3; i++) near(got[i]!, px[i]!, 1e-6);
});
