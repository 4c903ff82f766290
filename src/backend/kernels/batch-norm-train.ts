// Batch normalisation in training as one wasm kernel and one gradient kernel. tfjs-layers builds it
// from ~10 tensor ops (moments, then batchNorm) and differentiates through all of them, ~20 passes
// over the activation in the backward pass: on the demo's convnet (4 stages, width 16, batch 64 at
// 64×64) batch norm took 120 of 294 ms CPU per step (173.6 ms with `norm: none`, measured with a
// per-kernel profile). Here the forward pass is three passes (sum, squared deviation, output) and
// the backward pass two (the sums of dy and dy·(x−μ), then dx), with the closed-form gradient
//   dx = γσ⁻¹·dy − γσ⁻¹·Σdy/M − γσ⁻³·Σ(dy·(x−μ))·(x−μ)/M,   dγ = σ⁻¹·Σ(dy·(x−μ)),   dβ = Σdy
// (σ² the biased batch variance + ε, M the reduced count), which is what differentiating through
// the moments gives. Sums accumulate in float64 in element order, so the result does not depend
// on how the batch is split into rows.
import * as tf from '@tensorflow/tfjs';
import type { Info, WasmBackend } from './wasm-ops.js';

export const BN_TRAIN = 'AblateBatchNormTrain';
export const BN_TRAIN_GRAD = 'AblateBatchNormTrainGrad';

type F32 = Float32Array;
const heap = (b: WasmBackend, i: Info) => b.typedArrayFromHeap(i) as F32;

function forward(b: WasmBackend, x: Info, gamma: Info, beta: Info, epsilon: number): Info[] {
  const C = x.shape.at(-1)!;
  const n = tf.util.sizeFromShape(x.shape);
  const rows = n / C;
  const y = b.makeOutput([...x.shape], 'float32');
  const mean = b.makeOutput([C], 'float32');
  const variance = b.makeOutput([C], 'float32');
  // Views after every makeOutput: allocating may grow (and detach) the wasm heap.
  const X = heap(b, x);
  const G = heap(b, gamma);
  const B = heap(b, beta);
  const Y = heap(b, y);
  const Mu = heap(b, mean);
  const V = heap(b, variance);
  const acc = new Float64Array(C);
  for (let i = 0; i < n; ) for (let c = 0; c < C; c++) acc[c] += X[i++]!;
  for (let c = 0; c < C; c++) Mu[c] = acc[c]! / rows;
  acc.fill(0);
  // Two passes as tf.moments does (mean first, then the mean squared deviation from it): the
  // one-pass E[x²]−E[x]² cancels catastrophically for activations far from zero.
  for (let i = 0; i < n; ) {
    for (let c = 0; c < C; c++) {
      const d = X[i++]! - Mu[c]!;
      acc[c] += d * d;
    }
  }
  const scale = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    V[c] = acc[c]! / rows;
    scale[c] = G[c]! / Math.sqrt(V[c]! + epsilon);
  }
  for (let i = 0; i < n; ) for (let c = 0; c < C; c++, i++) Y[i] = (X[i]! - Mu[c]!) * scale[c]! + B[c]!;
  return [y, mean, variance];
}

function backward(b: WasmBackend, dy: Info, x: Info, mean: Info, variance: Info, gamma: Info, epsilon: number): Info[] {
  const C = x.shape.at(-1)!;
  const n = tf.util.sizeFromShape(x.shape);
  const rows = n / C;
  const dx = b.makeOutput([...x.shape], 'float32');
  const dgamma = b.makeOutput([C], 'float32');
  const dbeta = b.makeOutput([C], 'float32');
  const DY = heap(b, dy);
  const X = heap(b, x);
  const Mu = heap(b, mean);
  const V = heap(b, variance);
  const G = heap(b, gamma);
  const DX = heap(b, dx);
  const DG = heap(b, dgamma);
  const DB = heap(b, dbeta);
  const sumDy = new Float64Array(C);
  const sumDyXc = new Float64Array(C);
  for (let i = 0; i < n; ) {
    for (let c = 0; c < C; c++, i++) {
      const g = DY[i]!;
      sumDy[c] += g;
      sumDyXc[c] += g * (X[i]! - Mu[c]!);
    }
  }
  const k1 = new Float64Array(C);
  const k2 = new Float64Array(C);
  const k3 = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const inv = 1 / Math.sqrt(V[c]! + epsilon);
    DB[c] = sumDy[c]!;
    DG[c] = sumDyXc[c]! * inv;
    k1[c] = G[c]! * inv;
    k2[c] = (G[c]! * inv * inv * inv * sumDyXc[c]!) / rows;
    k3[c] = (G[c]! * inv * sumDy[c]!) / rows;
  }
  for (let i = 0; i < n; ) for (let c = 0; c < C; c++, i++) DX[i] = k1[c]! * DY[i]! - k2[c]! * (X[i]! - Mu[c]!) - k3[c]!;
  return [dx, dgamma, dbeta];
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
