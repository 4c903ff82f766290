// Every loss term against values worked out by hand on tensors small enough to check on paper.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { featureNetwork } from '../src/models/cut.js';
import { buildLoss, contentLoss, cosineDistance, crossEntropy, gramMatrix, mae, mse, styleLoss } from '../src/train/losses.js';

before(async () => {
  await tf.setBackend('cpu');
});

const near = (got: number, want: number, tol = 1e-5) => assert.ok(Math.abs(got - want) <= tol, `got ${got}, want ${want}`);
const val = (t: tf.Tensor) => {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};

test('cross-entropy: -log softmax of the true class, with label smoothing', () => {
  near(val(crossEntropy(tf.tensor2d([[0, 0]]), tf.tensor1d([0], 'int32'))), Math.LN2);
  // logits [1,2,3], label 2: log(e + e² + e³) − 3
  near(val(crossEntropy(tf.tensor2d([[1, 2, 3]]), tf.tensor1d([2], 'int32'))), 0.407606);
  // smoothing 0.1 over 3 classes: targets [1/30, 1/30, 28/30] · [2.407606, 1.407606, 0.407606]
  near(val(crossEntropy(tf.tensor2d([[1, 2, 3]]), tf.tensor1d([2], 'int32'), 0.1)), 0.507606);
  // batch mean: (ln 2 + 0.407606) / 2
  near(val(crossEntropy(tf.tensor2d([[0, 0, -1e9], [1, 2, 3]]), tf.tensor1d([1, 2], 'int32'))), (Math.LN2 + 0.407606) / 2);
});

test('mse and mae: means over all elements', () => {
  near(val(mse(tf.tensor2d([[1, 2]]), tf.tensor2d([[3, 5]]))), 6.5); // (4 + 9) / 2
  near(val(mae(tf.tensor2d([[1, 2]]), tf.tensor2d([[3, 5]]))), 2.5); // (2 + 3) / 2
  near(val(mse(tf.tensor2d([[0, 0], [1, 1]]), tf.tensor2d([[0, 2], [1, 1]]))), 1); // 4 / 4
});

test('cosine distance: 1 − cos per row, averaged over the batch', () => {
  near(val(cosineDistance(tf.tensor2d([[1, 0]]), tf.tensor2d([[0, 1]]))), 1);
  near(val(cosineDistance(tf.tensor2d([[2, 0]]), tf.tensor2d([[5, 0]]))), 0); // magnitude does not matter
  near(val(cosineDistance(tf.tensor2d([[1, 0], [1, 1]]), tf.tensor2d([[0, 1], [1, 0]]))), (1 + (1 - Math.SQRT1_2)) / 2);
});

test('Gram matrix: FᵀF / (H·W·C) per image', () => {
  // one image, 1×2 pixels, 2 channels: F = [[1,2],[3,4]] → FᵀF = [[10,14],[14,20]], / 4
  const g = gramMatrix(tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]));
  assert.deepEqual(g.shape, [1, 2, 2]);
  assert.deepEqual(Array.from(g.dataSync()), [2.5, 3.5, 3.5, 5]);
});

/** A feature network with known activations: A = 2x, B = 3A, C = −B (1×1 convolutions, no bias). */
function scaleNet(): tf.LayersModel {
  const input = tf.input({ shape: [1, 2, 1] });
  const conv = (k: number, name: string) =>
    tf.layers.conv2d({ filters: 1, kernelSize: 1, useBias: false, kernelInitializer: tf.initializers.constant({ value: k }), name });
  const a = conv(2, 'A').apply(input) as tf.SymbolicTensor;
  const b = conv(3, 'B').apply(a) as tf.SymbolicTensor;
  const c = conv(-1, 'C').apply(b) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [a, b, c] });
}

test('content loss: per-layer weights over several layers (0.1, 0.8, 0.1)', () => {
  const net = scaleNet();
  const pred = tf.tensor4d([1, 1], [1, 1, 2, 1]);
  const target = tf.zeros([1, 1, 2, 1]);
  // activations of pred: A = 2, B = 6, C = −6 at both pixels; of target: 0 → mse 4, 36, 36
  near(val(contentLoss(net, pred, target, [0.1, 0.8, 0.1])), 0.1 * 4 + 0.8 * 36 + 0.1 * 36, 1e-4);
  // cosine distance per position: A(pred) ∥ A(pred·3) → 0
  near(val(contentLoss(net, pred, pred.mul(3), [1, 1, 1], 'cosine')), 0);
});

test('style loss: Gram matrices of the batch, per-layer weights', () => {
  const input = tf.input({ shape: [1, 2, 1] });
  const conv = (k: number, name: string) =>
    tf.layers.conv2d({ filters: 1, kernelSize: 1, useBias: false, kernelInitializer: tf.initializers.constant({ value: k }), name });
  const a = conv(2, 'A').apply(input) as tf.SymbolicTensor;
  const b = conv(3, 'B').apply(a) as tf.SymbolicTensor;
  const net = tf.model({ inputs: input, outputs: [a, b] });
  const pred = tf.tensor4d([1, 2], [1, 1, 2, 1]);
  const target = tf.tensor4d([0, 1], [1, 1, 2, 1]);
  // A: pred [2,4] → G = 20/2 = 10; target [0,2] → 2; (10−2)² = 64
  // B: pred [6,12] → 180/2 = 90; target [0,6] → 18; (90−18)² = 5184
  near(val(styleLoss(net, pred, target, [0.5, 0.1])), 0.5 * 64 + 0.1 * 5184, 1e-2);
});

test('content loss: no gradient flows into the target', () => {
  const net = scaleNet();
  const pred = tf.tensor4d([1, 1], [1, 1, 2, 1]);
  const target = tf.zeros([1, 1, 2, 1]);
  const [gp, gt] = tf.grads((p: tf.Tensor, t: tf.Tensor) => contentLoss(net, p, t, [1, 0, 0]))([pred, target]);
  // d/dp mean((2p − 0)²) over 2 pixels = 4p = 4 per pixel, halved by the mean → 4
  assert.deepEqual(Array.from(gp!.dataSync()), [4, 4]);
  assert.deepEqual(Array.from(gt!.dataSync()), [0, 0]);
});

test('weighted sum: total and each term, names unique per kind', async () => {
  const loss = await buildLoss([
    { kind: 'crossentropy', weight: 1, smoothing: 0 },
    { kind: 'mse', weight: 0.5 },
    { kind: 'mse', weight: 2 },
    { kind: 'cosine', weight: 3 },
  ]);
  assert.deepEqual(loss.names, ['crossentropy', 'mse', 'mse_2', 'cosine']);
  const pred = tf.tensor2d([[1, 0]]);
  const { total, terms } = loss.compute(pred, { labels: tf.tensor1d([0], 'int32'), target: tf.tensor2d([[0, 1]]) });
  const t = terms.map(val);
  const ce = Math.log(Math.E + 1) - 1; // −log(e / (e + 1))
  near(t[0]!, ce);
  near(t[1]!, 1); // ((1−0)² + (0−1)²) / 2
  near(t[2]!, 1);
  near(t[3]!, 1);
  near(val(total), ce + 0.5 + 2 + 3);
});

test('content and style on one network share one pass per image set, with the values of separate terms', async () => {
  const net = scaleNet();
  const loss = await buildLoss(
    [
      { kind: 'content', weight: 1, layers: ['A', 'B'], weights: [0.1, 0.9], distance: 'mse' },
      { kind: 'style', weight: 0.5, layers: ['B', 'C'], weights: [1, 2] },
    ],
    async () => net,
  );
  const pred = tf.tensor4d([1, 2], [1, 1, 2, 1]);
  const target = tf.tensor4d([0, 1], [1, 1, 2, 1]);
  let terms: number[] = [];
  const profile = await tf.profile(() => {
    terms = tf.tidy(() => loss.compute(pred, { target }).terms.map((t) => t.dataSync()[0]!));
  });
  // A, B and C once for the prediction and once for the target; separate terms would run 2 + 2 + 3 + 3.
  assert.equal(profile.kernels.filter((k) => /Conv2D/.test(k.name)).length, 6, profile.kernels.map((k) => k.name).join(' '));
  near(terms[0]!, val(contentLoss(featureNetwork(net, ['A', 'B']), pred, target, [0.1, 0.9])), 1e-4);
  near(terms[1]!, val(styleLoss(featureNetwork(net, ['B', 'C']), pred, target, [1, 2])), 1e-2);
  // A second batch gets its own activations, not the first batch's.
  const again = tf.tidy(() => loss.compute(pred.mul(2), { target }).terms.map((t) => t.dataSync()[0]!));
  near(again[0]!, val(contentLoss(featureNetwork(net, ['A', 'B']), pred.mul(2), target, [0.1, 0.9])), 1e-3);
});

test('a term without what it needs fails with a message naming it', async () => {
  const loss = await buildLoss([{ kind: 'cosine', weight: 1 }]);
  assert.throws(() => loss.compute(tf.tensor2d([[1, 0]]), { labels: tf.tensor1d([0], 'int32') }), /cosine.*target vectors/);
  await assert.rejects(buildLoss([{ kind: 'content', weight: 1, layers: ['A'], distance: 'mse' }]), /feature network/);
});
