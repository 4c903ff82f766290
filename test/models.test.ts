// Built-in architectures, cut resolution (names, indices, rules) on them and on a Keras-style
// graph, heads/stacking and the model.json round trip.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  buildHead,
  convnet,
  cutModel,
  LayerNotFoundError,
  loadModel,
  resnet,
  resolveLayer,
  saveModel,
  setTrainable,
  stackModel,
} from '../src/models/index.js';

before(async () => {
  await tf.setBackend('cpu');
});

const small = { inputShape: [16, 16, 3] as [number, number, number], outputs: 4, width: 4, seed: 1 };

test('resnet: block boundaries are named stage{s}_block{b}_out', () => {
  const m = resnet(small);
  const names = m.layers.map((l) => l.name);
  for (const n of ['stem_conv', 'stage1_block2_out', 'stage2_block1_0_conv', 'stage3_block2_out', 'avg_pool', 'predictions']) assert.ok(names.includes(n), n);
  assert.deepEqual(m.getLayer('stage3_block2_out').outputShape, [null, 4, 4, 16]);
});

test('cut rules on the built-ins', () => {
  const r = resnet(small);
  assert.equal(resolveLayer(r, 'before-last-downsample').name, 'stage2_block2_out');
  assert.equal(resolveLayer(r, 'before-head').name, 'avg_pool');
  assert.equal(resolveLayer(r, -1).name, 'predictions');
  assert.equal(resolveLayer(r, -2).name, 'avg_pool');
  assert.equal(resolveLayer(r, 0).name, 'input');
  const c = convnet(small);
  assert.equal(resolveLayer(c, 'before-last-downsample').name, 'stage3_relu');
  assert.equal(resolveLayer(c, 'before-head').name, 'avg_pool');
});

test('a missing layer name lists the nearest names', () => {
  const r = resnet(small);
  assert.throws(
    () => resolveLayer(r, 'stage3_blok2_out'),
    (e: unknown) => e instanceof LayerNotFoundError && e.nearest[0] === 'stage3_block2_out' && /nearest layer names: stage3_block2_out/.test(e.message),
  );
  assert.throws(() => resolveLayer(r, 500), /out of range/);
});

test('before-last-downsample on a Keras ResNet-style graph with the stride inside the block', () => {
  // conv4_block1_out → conv5_block1 (1×1, 3×3 stride 2, shortcut stride 2) → add → out: the rule
  // must return the block boundary conv4_block1_out, not the layer feeding the strided conv.
  const input = tf.input({ shape: [8, 8, 4] });
  const conv = (x: tf.SymbolicTensor, name: string, strides = 1) => tf.layers.conv2d({ filters: 4, kernelSize: 1, strides, name }).apply(x) as tf.SymbolicTensor;
  const b4 = tf.layers.activation({ activation: 'relu', name: 'conv4_block1_out' }).apply(conv(input, 'conv4_block1_1_conv')) as tf.SymbolicTensor;
  const y = tf.layers.zeroPadding2d({ padding: 1, name: 'conv5_block1_pad' }).apply(conv(b4, 'conv5_block1_1_conv')) as tf.SymbolicTensor;
  const y2 = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, name: 'conv5_block1_2_conv' }).apply(y) as tf.SymbolicTensor;
  const s = conv(b4, 'conv5_block1_0_conv', 2);
  const out = tf.layers.add({ name: 'conv5_block1_add' }).apply([s, y2]) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(out) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, name: 'probs' }).apply(pooled) as tf.SymbolicTensor });
  assert.equal(resolveLayer(m, 'before-last-downsample').name, 'conv4_block1_out');
  assert.equal(resolveLayer(m, 'before-head').name, 'avg_pool');
});

test('cut with pooling halves the spatial size; head and stacked model share weights', () => {
  const r = resnet(small);
  const f = cutModel(r, 'before-last-downsample', 2);
  assert.deepEqual(f.outputs[0]!.shape, [null, 4, 4, 8]);
  const head = buildHead([4, 4, 8], { kind: 'mlp', units: 5, activation: 'relu', dropout: 0.5, outputs: 3, seed: 2 });
  const stacked = stackModel(f, head);
  const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 3);
  const viaStack = stacked.predict(x) as tf.Tensor;
  const viaHead = head.predict(f.predict(x) as tf.Tensor) as tf.Tensor;
  assert.ok(viaStack.sub(viaHead).abs().max().dataSync()[0]! < 1e-5);
  setTrainable(stacked, 'head', new Set(head.layers.map((l) => l.name)));
  assert.deepEqual(
    stacked.layers.filter((l) => l.trainable && l.trainableWeights.length).map((l) => l.name),
    ['head_hidden', 'head_out'],
  );
  setTrainable(stacked, { from: 'stage2_block2_1_conv' }, new Set());
  assert.ok(!stacked.getLayer('stage2_block1_1_conv').trainable);
  assert.ok(stacked.getLayer('stage2_block2_1_conv').trainable);
});

test('seeded initialisation: same seed, same weights; another seed, other weights', () => {
  const w = (seed: number) => resnet({ ...small, seed }).getWeights().map((t) => Array.from(t.dataSync()));
  assert.deepEqual(w(7), w(7));
  assert.notDeepEqual(w(7), w(8));
});

test('save and load: the model.json round trip predicts the same', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ablate-models-'));
  try {
    const m = convnet(small);
    await saveModel(m, join(dir, 'm'));
    const back = await loadModel(join(dir, 'm'));
    const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 4);
    assert.deepEqual(Array.from((back.predict(x) as tf.Tensor).dataSync()), Array.from((m.predict(x) as tf.Tensor).dataSync()));
    assert.equal(resolveLayer(back, 'before-last-downsample').name, 'stage3_relu');
    // A head with the custom dropout layer loads too.
    const head = buildHead([4], { kind: 'mlp', units: 3, activation: 'gelu', dropout: 0.2, outputs: 2, seed: 1 });
    await saveModel(head, join(dir, 'h'));
    assert.equal((await loadModel(join(dir, 'h', 'model.json'))).getLayer('head_dropout').getClassName(), 'SeededDropout');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('frozen batch-norm layers keep their moving statistics while the rest fine-tunes', () => {
  const r = resnet(small);
  const f = cutModel(r, 'before-last-downsample');
  const stacked = stackModel(f, buildHead([8, 8, 8], { kind: 'linear', units: 1, activation: 'relu', dropout: 0, outputs: 4, seed: 1 }));
  setTrainable(stacked, { from: 'stage2_block2_1_conv' }, new Set());
  const mean = (name: string) => Array.from((stacked.getLayer(name) as unknown as { movingMean: { read(): tf.Tensor } }).movingMean.read().dataSync());
  const frozen0 = mean('stage1_block1_1_bn');
  const live0 = mean('stage2_block2_1_bn');
  const opt = tf.train.sgd(0.01);
  const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 5);
  const vars = stacked.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  opt.minimize(() => (stacked.apply(x, { training: true }) as tf.Tensor).square().mean() as tf.Scalar, false, vars);
  assert.deepEqual(mean('stage1_block1_1_bn'), frozen0);
  assert.notDeepEqual(mean('stage2_block2_1_bn'), live0);
  // Unfreezing restores normal training behaviour.
  setTrainable(stacked, 'all', new Set());
  opt.minimize(() => (stacked.apply(x, { training: true }) as tf.Tensor).square().mean() as tf.Scalar, false, stacked.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val));
  assert.notDeepEqual(mean('stage1_block1_1_bn'), frozen0);
});
