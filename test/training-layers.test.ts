// The wasm training paths of src/backend/training-layers.ts against tfjs-layers' own code (which
// the cpu backend still runs): batch norm's one-kernel forward and closed-form gradient, and
// Conv2D's unfused conv that skips the gradient of the model input.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { rng } from '../src/util/rng.js';

const R = rng(20261203);
const values = (n: number, offset = 0, spread = 1) => Float32Array.from({ length: n }, () => offset + spread * (R() * 2 - 1));

function maxRelErr(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  assert.equal(got.length, ref.length);
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < ref.length; i++) {
    assert.ok(Number.isFinite(got[i]!), `element ${i} is ${got[i]}`);
    diff = Math.max(diff, Math.abs(ref[i]! - got[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

before(async () => {
  await initBackend('wasm');
});

interface BnResult {
  y: Float32Array;
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
  movingMean: Float32Array;
  movingVariance: Float32Array;
}

/** One training-mode call of a fresh BatchNormalization layer with the given weights on `backend`. */
async function bnStep(backend: string, shape: number[], x: Float32Array, w: Float32Array, gamma: Float32Array, beta: Float32Array): Promise<BnResult> {
  await tf.setBackend(backend);
  const C = shape.at(-1)!;
  const layer = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3 });
  layer.build(shape);
  layer.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta), tf.zeros([C]), tf.ones([C])]);
  const xt = tf.tensor(x, shape);
  const wt = tf.tensor(w, shape);
  // Gradients through the layer with respect to its input and its own gamma/beta.
  const f = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, wt)) as tf.Scalar;
  const y = (layer.apply(xt, { training: true }) as tf.Tensor).dataSync() as Float32Array;
  const { grads } = tf.variableGrads(() => f(xt), layer.trainableWeights.map((v) => v.read() as tf.Variable));
  const dx = tf.grad(f)(xt).dataSync() as Float32Array;
  const [dgamma, dbeta] = Object.values(grads).map((t) => t.dataSync() as Float32Array);
  const [, , mm, mv] = layer.getWeights().map((t) => t.dataSync() as Float32Array);
  return { y, dx, dgamma: dgamma!, dbeta: dbeta!, movingMean: mm!, movingVariance: mv! };
}

test('batch norm in training on wasm (one kernel, closed-form gradient) matches tfjs-layers on cpu', async () => {
  const cases: { shape: number[]; offset: number; spread: number }[] = [
    { shape: [8, 6, 5, 16], offset: 0, spread: 1 },
    { shape: [3, 4, 4, 3], offset: 5, spread: 0.1 }, // far from zero: a one-pass variance would cancel
    { shape: [32, 64], offset: -2, spread: 3 }, // after a dense layer
    { shape: [2, 3, 3, 7], offset: 0, spread: 100 },
    // The same shape again with other statistics: a stale cached XNNPACK operator (its filter or bias
    // packed on an earlier call) would give the first case's scale and shift here.
    { shape: [8, 6, 5, 16], offset: 3, spread: 2 },
  ];
  for (const c of cases) {
    const n = c.shape.reduce((p, q) => p * q, 1);
    const C = c.shape.at(-1)!;
    const x = values(n, c.offset, c.spread);
    const w = values(n);
    const gamma = values(C, 1, 0.5);
    const beta = values(C, 0, 0.5);
    const ref = await bnStep('cpu', c.shape, x, w, gamma, beta);
    const got = await bnStep('wasm', c.shape, x, w, gamma, beta);
    for (const k of Object.keys(ref) as (keyof BnResult)[]) {
      const e = maxRelErr(ref[k], got[k]);
      assert.ok(e < 2e-4, `${JSON.stringify(c.shape)} offset ${c.offset}: ${k} differs by ${e.toExponential(2)} (relative to its largest value)`);
    }
  }
  await tf.setBackend('wasm');
});

test('the batch norm kernel takes the fast path on wasm and leaves no tensor or heap buffer behind', async () => {
  await tf.setBackend('wasm');
  const layer = tf.layers.batchNormalization({});
  layer.build([4, 5, 5, 8]);
  const x = tf.randomNormal([4, 5, 5, 8]);
  const step = () => tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(layer.apply(t, { training: true }) as tf.Tensor) as tf.Scalar)(x));
  step().dispose(); // warm-up: the first call allocates the layer's lazily created state
  const before = tf.memory();
  const profile = await tf.profile(() => step());
  const names = profile.kernels.map((k) => k.name);
  assert.ok(names.includes('AblateBatchNormTrain') && names.includes('AblateBatchNormTrainGrad'), `kernels run: ${[...new Set(names)].join(', ')}`);
  assert.ok(!names.includes('Mean'), 'batch moments came from tf.moments, not the fused kernel');
  profile.result instanceof tf.Tensor && profile.result.dispose();
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  x.dispose();
});

test('Conv2D in training on wasm skips the gradient of the model input and gives the same weight gradients as cpu', async () => {
  const shape: [number, number, number, number] = [4, 9, 9, 3];
  const x = values(4 * 9 * 9 * 3);
  const results: Record<string, Float32Array[]> = {};
  let kernelsOnWasm: string[] = [];
  for (const backend of ['cpu', 'wasm']) {
    await tf.setBackend(backend);
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: shape.slice(1), filters: 5, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: 'ones', name: 'c1' }),
        tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), name: 'c2' }),
        tf.layers.flatten(),
      ],
    });
    const xt = tf.tensor4d(x, shape);
    const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
    const loss = () => tf.sum(tf.square(model.apply(xt, { training: true }) as tf.Tensor)) as tf.Scalar;
    const profile = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(loss, vars);
      results[backend] = [value, ...Object.values(grads)].map((t) => t.dataSync() as Float32Array);
      return value;
    });
    if (backend === 'wasm') kernelsOnWasm = profile.kernels.map((k) => `${k.name} ${JSON.stringify(k.inputShapes)}`);
    // Inference keeps the fused op (and its numbers).
    const infer = model.predict(xt) as tf.Tensor;
    results[`${backend}-predict`] = [infer.dataSync() as Float32Array];
  }
  const names = ['loss', 'c1 kernel', 'c1 bias', 'c2 kernel', 'c2 bias'];
  results.cpu!.forEach((ref, i) => {
    const e = maxRelErr(ref, results.wasm![i]!);
    assert.ok(e < 1e-4, `${names[i]} differs by ${e.toExponential(2)}`);
  });
  assert.ok(maxRelErr(results['cpu-predict']![0]!, results['wasm-predict']![0]!) < 1e-5);
  // c2's input gradient is needed (to reach c1); c1's, the gradient of the model input, is not.
  const inputGrads = kernelsOnWasm.filter((k) => k.startsWith('Conv2DBackpropInput'));
  assert.equal(inputGrads.length, 1, `Conv2DBackpropInput calls: ${inputGrads.join('; ')}`);
  assert.ok(!inputGrads[0]!.includes('[3,3,3,5]'), inputGrads[0]);
  await tf.setBackend('wasm');
});
