// Image-quality metrics for super-resolution, as tf ops so they run where the predictions already
// are (no copy to host memory until the per-batch sums). Every function takes images [B, H, W, C]
// with values in [0, dataRange] and returns one value per image; callers average over images, as
// SR papers do (PSNR averaged per image, not computed from the pooled MSE).
import * as tf from '@tensorflow/tfjs';
import type { Normalize } from '../data/loader.js';

/**
 * PSNR per image: 10·log10(L² / MSE) with the MSE over all pixels and channels of the image.
 * An exact reconstruction would be +∞; the MSE is floored at 1e-10·L² so it reads 100 dB and
 * averages stay finite.
 */
export function psnr(pred: tf.Tensor4D, target: tf.Tensor4D, dataRange = 1): tf.Tensor1D {
  return tf.tidy(() => {
    const mse = pred.sub(target).square().mean([1, 2, 3]).maximum(1e-10 * dataRange * dataRange);
    return tf.log(tf.scalar(dataRange * dataRange).div(mse)).mul(10 / Math.LN10) as tf.Tensor1D;
  });
}

export interface SsimOptions {
  /** L, the dynamic range of the values (1 for images in [0, 1]). */
  dataRange?: number;
  /** Side of the Gaussian window (11 in Wang et al.). */
  window?: number;
  /** σ of the Gaussian window (1.5 in Wang et al.). */
  sigma?: number;
  k1?: number;
  k2?: number;
}

/** The normalised 2-D Gaussian window (outer product of the 1-D one), as a plain array, row-major. */
export function gaussianWindow(size = 11, sigma = 1.5): Float32Array {
  const r = (size - 1) / 2;
  const g = Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const s = g.reduce((a, b) => a + b, 0);
  const w = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) w[y * size + x] = (g[y]! / s) * (g[x]! / s);
  return w;
}

/**
 * SSIM per image (Wang, Bovik, Sheikh, Simoncelli 2004): local statistics under an 11×11 Gaussian
 * window with σ = 1.5, C1 = (0.01·L)², C2 = (0.03·L)², population (not sample) variances, the map
 * taken over the positions where the window fits entirely ("valid", as the authors' ssim_index.m),
 * averaged over positions and then over channels (as scikit-image does for colour images).
 */
export function ssim(pred: tf.Tensor4D, target: tf.Tensor4D, o: SsimOptions = {}): tf.Tensor1D {
  const L = o.dataRange ?? 1;
  const size = o.window ?? 11;
  const sigma = o.sigma ?? 1.5;
  const c1 = ((o.k1 ?? 0.01) * L) ** 2;
  const c2 = ((o.k2 ?? 0.03) * L) ** 2;
  const [, h, w, c] = pred.shape;
  if (h < size || w < size) throw new Error(`SSIM needs images of at least ${size}×${size} pixels (got ${h}×${w})`);
  return tf.tidy(() => {
    // Each channel is filtered on its own: a depthwise convolution with the same window per channel.
    const kernel = tf.tensor4d(gaussianWindow(size, sigma), [size, size, 1, 1]).tile([1, 1, c, 1]) as tf.Tensor4D;
    const blur = (t: tf.Tensor4D) => tf.depthwiseConv2d(t, kernel, 1, 'valid');
    const x = pred.toFloat();
    const y = target.toFloat();
    const mx = blur(x);
    const my = blur(y);
    const mx2 = mx.square();
    const my2 = my.square();
    const mxy = mx.mul(my);
    const vx = blur(x.square()).sub(mx2);
    const vy = blur(y.square()).sub(my2);
    const cxy = blur(x.mul(y)).sub(mxy);
    const num = mxy.mul(2).add(c1).mul(cxy.mul(2).add(c2));
    const den = mx2.add(my2).add(c1).mul(vx.add(vy).add(c2));
    return num.div(den).mean([1, 2, 3]) as tf.Tensor1D;
  });
}

/** Keys' cubic convolution kernel with a = −0.5 (Catmull-Rom; MATLAB's imresize and libvips "cubic"). */
export function cubicWeight(t: number, a = -0.5): number {
  const x = Math.abs(t);
  if (x <= 1) return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1;
  if (x < 2) return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a;
  return 0;
}

/**
 * The [n·factor, n] matrix that upsamples one axis of length n by bicubic interpolation:
 * half-pixel centres (output pixel i samples input position (i + 0.5)/factor − 0.5) and edge
 * pixels repeated beyond the border (as OpenCV and PIL do). Rows sum to 1.
 */
export function bicubicMatrix(n: number, factor: number): Float32Array {
  const N = n * factor;
  const m = new Float32Array(N * n);
  for (let i = 0; i < N; i++) {
    const u = (i + 0.5) / factor - 0.5;
    const base = Math.floor(u);
    for (let k = base - 1; k <= base + 2; k++) {
      const j = Math.min(n - 1, Math.max(0, k));
      m[i * n + j]! += cubicWeight(u - k);
    }
  }
  return m;
}

/**
 * Bicubic upscaling of a batch [B, h, w, C] by an integer factor, as two matrix products (one per
 * axis) so it runs on any backend, batched, with float output (no rounding to uint8). The
 * baseline every super-resolution network must beat; also the network's global skip path.
 */
export function bicubicUpscale(x: tf.Tensor4D, factor: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  return tf.tidy(() => {
    const my = tf.tensor2d(bicubicMatrix(h, factor), [h * factor, h]);
    const mx = tf.tensor2d(bicubicMatrix(w, factor), [w * factor, w]);
    const H = h * factor;
    const W = w * factor;
    // Rows: [h, B·w·C] → [H, B·w·C]; then columns: [w, B·H·C] → [W, B·H·C].
    const rows = tf.matMul(my, x.transpose([1, 0, 2, 3]).reshape([h, b * w * c])).reshape([H, b, w, c]);
    const cols = tf.matMul(mx, rows.transpose([2, 1, 0, 3]).reshape([w, b * H * c])).reshape([W, b, H, c]);
    return cols.transpose([1, 2, 0, 3]) as tf.Tensor4D;
  });
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * Loader-normalised images back to [0, 1] and clipped there, so PSNR and SSIM always use L = 1
 * whatever `preprocess.normalize` the network trained with (inverse of data/loader's table).
 */
export function toUnitRange(x: tf.Tensor4D, normalize: Normalize): tf.Tensor4D {
  return tf.tidy(() => {
    const c = x.shape[3];
    let u: tf.Tensor4D;
    if (normalize === 'symmetric') u = x.add(1).div(2);
    else if (normalize === 'imagenet') {
      const mean = c === 3 ? IMAGENET_MEAN : [0.449];
      const std = c === 3 ? IMAGENET_STD : [0.226];
      u = x.mul(tf.tensor1d(std)).add(tf.tensor1d(mean));
    } else if (normalize === 'none') u = x.div(255);
    else u = x;
    return u.clipByValue(0, 1) as tf.Tensor4D;
  });
}
