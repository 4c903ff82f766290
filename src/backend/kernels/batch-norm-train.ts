// Batch normalisation in training as one wasm kernel and one gradient kernel. tfjs-layers builds it
// from ~10 tensor ops (moments, then batchNorm) and differentiates through all of them, ~20 passes
// over the activation in the backward pass: on the demo's convnet (4 stages, width 16, batch 64 at
// 64×64) batch norm took 120 of 294 ms CPU per step (173.6 ms with `norm: none`, measured with a
// per-kernel profile). Here the gradient is the closed form
//   dx = γσ⁻¹·dy − γσ⁻¹·Σdy/M − γσ⁻³·Σ(dy·(x−μ))·(x−μ)/M,   dγ = σ⁻¹·Σ(dy·(x−μ)),   dβ = Σdy
// (σ² the biased batch variance + ε, M the reduced count), which is what differentiating through
// the moments gives. Every pass over the activation runs on XNNPACK's SIMD code rather than in a JS
// loop (a JS-loop version took 15.2 ms forward and 18.2 ms backward on 1M elements with 16 channels;
// this one 2.35 and 4.96 ms): a per-channel sum is an AvgPool over blocks of rows of an
// [1, blocks, block, C] view whose block means JS adds in float64, and a per-channel affine map
// a·v + b is a 1×1 FusedDepthwiseConv2D with a as the filter and b as the bias.
import * as tf from '@tensorflow/tfjs';
import { type Info, release, reshape, run, type WasmBackend } from './wasm-ops.js';

export const BN_TRAIN = 'AblateBatchNormTrain';
export const BN_TRAIN_GRAD = 'AblateBatchNormTrainGrad';

type F32 = Float32Array;
const heap = (b: WasmBackend, i: Info) => b.typedArrayFromHeap(i) as F32;

/**
 * Rows per AvgPool window: a divisor of `rows` near 2·√rows, so that float32 sums inside XNNPACK
 * stay short (hundreds of terms) and the float64 sum of block means in JS is small. Below 4 rows a
 * window gains nothing and the sum is done in JS alone.
 */
function blockRows(rows: number): number {
  for (let d = Math.min(rows, 2 * Math.ceil(Math.sqrt(rows))); d >= 4; d--) if (rows % d === 0) return d;
  return 1;
}

/** Σ over every axis but the last of v (C channels), in float64 outside the XNNPACK blocks. */
function channelSums(b: WasmBackend, v: Info, C: number): Float64Array {
  const rows = tf.util.sizeFromShape(v.shape) / C;
  const sums = new Float64Array(C);
  const block = blockRows(rows);
  if (block === 1) {
    const V = heap(b, v);
    for (let i = 0; i < V.length; ) for (let c = 0; c < C; c++) sums[c] += V[i++]!;
    return sums;
  }
  const view = reshape(b, v, [1, rows / block, block, C]);
  const means = run(b, 'AvgPool', { x: view }, { filterSize: [1, block], strides: [1, block], pad: 'valid' });
  const M = heap(b, means);
  for (let i = 0; i < M.length; ) for (let c = 0; c < C; c++) sums[c] += M[i++]!;
  for (let c = 0; c < C; c++) sums[c] *= block;
  release(b, view, means);
  return sums;
}

/** a[c]·v + b[c] per channel, shaped as v (the 1×1 depthwise conv of its [1, rows, 1, C] view). */
function affine(b: WasmBackend, v: Info, scale: ArrayLike<number>, shift: ArrayLike<number>): Info {
  const C = v.shape.at(-1)!;
  const rows = tf.util.sizeFromShape(v.shape) / C;
  const filter = b.makeOutput([1, 1, C, 1], 'float32');
  const bias = b.makeOutput([C], 'float32');
  heap(b, filter).set(scale);
  heap(b, bias).set(shift);
  const view = reshape(b, v, [1, rows, 1, C]);
  const out = run(
    b,
    'FusedDepthwiseConv2D',
    { x: view, filter, bias },
    { strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC', activation: 'linear' },
  );
  const shaped = reshape(b, out, [...v.shape]);
  release(b, view, out, filter, bias);
  return shaped;
}

/** A float32 output of shape [C] holding `values`. */
function vector(b: WasmBackend, values: ArrayLike<number>): Info {
  const out = b.makeOutput([values.length], 'float32');
  heap(b, out).set(values);
  return out;
}

const ones = (C: number) => new Float64Array(C).fill(1);
const negate = (a: Float64Array) => a.map((v) => -v);

function forward(b: WasmBackend, x: Info, gamma: Info, beta: Info, epsilon: number): Info[] {
  const C = x.shape.at(-1)!;
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const mu = channelSums(b, x, C).map((s) => s / rows);
  // Two passes as tf.moments does (mean first, then the mean squared deviation from it): the
  // one-pass E[x²]−E[x]² cancels catastrophically for activations far from zero.
  const xc = affine(b, x, ones(C), negate(mu));
  const sq = run(b, 'Square', { x: xc });
  const variance = channelSums(b, sq, C).map((s) => s / rows);
  release(b, sq);
  const G = heap(b, gamma);
  const B = Float64Array.from(heap(b, beta));
  const scale = variance.map((v, c) => G[c]! / Math.sqrt(v + epsilon));
  const y = affine(b, xc, scale, B);
  release(b, xc);
  return [y, vector(b, mu), vector(b, variance)];
}

function backward(b: WasmBackend, dy: Info, x: Info, mean: Info, variance: Info, gamma: Info, epsilon: number): Info[] {
  const C = x.shape.at(-1)!;
  const rows = tf.util.sizeFromShape(x.shape) / C;
  const mu = Float64Array.from(heap(b, mean));
  const inv = Float64Array.from(heap(b, variance), (v) => 1 / Math.sqrt(v + epsilon));
  const G = Float64Array.from(heap(b, gamma));
  const sumDy = channelSums(b, dy, C);
  const xc = affine(b, x, ones(C), negate(mu));
  const prod = run(b, 'Multiply', { a: dy, b: xc });
  const sumDyXc = channelSums(b, prod, C);
  release(b, prod);
  // dx = k1·dy − k3  +  (−k2)·(x−μ)
  const k1 = G.map((g, c) => g * inv[c]!);
  const k2 = G.map((g, c) => (g * inv[c]! ** 3 * sumDyXc[c]!) / rows);
  const k3 = G.map((g, c) => (g * inv[c]! * sumDy[c]!) / rows);
  const a = affine(b, dy, k1, negate(k3));
  const c2 = affine(b, xc, negate(k2), new Float64Array(C));
  release(b, xc);
  const dx = run(b, 'Add', { a, b: c2 });
  release(b, a, c2);
  return [dx, vector(b, sumDyXc.map((s, c) => s * inv[c]!)), vector(b, sumDy)];
}

const eps = (attrs: tf.NamedAttrMap | undefined) => (attrs as unknown as { epsilon: number }).epsilon;

export const batchNormTrainConfig: tf.KernelConfig = {
  kernelName: BN_TRAIN,
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs, backend }) =>
    forward(backend as unknown as WasmBackend, inputs.x as Info, inputs.gamma as Info, inputs.beta as Info, eps(attrs)),
};

export const batchNormTrainGradConfig: tf.KernelConfig = {
  kernelName: BN_TRAIN_GRAD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs, backend }) =>
    backward(
      backend as unknown as WasmBackend,
      inputs.dy as Info,
      inputs.x as Info,
      inputs.mean as Info,
      inputs.variance as Info,
      inputs.gamma as Info,
      eps(attrs),
    ),
};

// The batch mean and variance outputs only feed the moving averages, which no loss depends on:
// their incoming gradients are zero and are not propagated.
export const batchNormTrainGradient: tf.GradConfig = {
  kernelName: BN_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [x, gamma, mean, variance] = saved as tf.Tensor[];
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
    const [dx, dgamma, dbeta] = tf.engine().runKernel(BN_TRAIN_GRAD, { dy, x: x!, mean: mean!, variance: variance!, gamma: gamma! }, attrs ?? {}) as tf.Tensor[];
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
  },
};

/** y, batch mean and batch variance of x [.., C] over every axis but the last; float32 on wasm only. */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(BN_TRAIN, { x, gamma, beta }, { epsilon }) as [tf.Tensor, tf.Tensor, tf.Tensor];
}
