import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { clipWeights, criticLoss, discriminatorCrossEntropy, generatorCrossEntropy, wassersteinEstimate } from '../src/gan/losses.js';
import { buildDiscriminator, buildGenerator, DEFAULT_CONV_WIDTH, type GanKind } from '../src/gan/models.js';
import { Seeds } from '../src/gan/random.js';
import { ArraySource } from '../src/gan/real-source.js';
import { GanTrainer, type GanTrainConfig, ganConfigFromSpec } from '../src/gan/trainer.js';
import { GAN_BETA1 } from '../src/train/optim.js';
import { experimentSchema } from '../src/spec/schema.js';

before(async () => {
  await tf.setBackend('cpu');
});

const shape = { height: 8, width: 8, channels: 1 };
const tiny = (kind: GanKind, over: Partial<GanTrainConfig> = {}): GanTrainConfig => ({
  kind,
  latent: 4,
  shape,
  output: 'tanh',
  batchSize: 4,
  optimizer: kind === 'wgan' ? 'rmsprop' : 'adam',
  lr: 1e-2,
  momentum: 0,
  critic: kind === 'wgan' ? { steps: 2, warmup: { steps: 3, generatorSteps: 1 }, clip: 0.01 } : { steps: 1 },
  seed: 1,
  ...over,
});
const source = () => new ArraySource(Float32Array.from({ length: 16 * 64 }, (_, i) => Math.sin(i) * 0.9), shape, 3);
const snapshot = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));
const changed = (a: number[][], b: number[][]) => a.some((w, i) => w.some((v, j) => v !== b[i]![j]));

test('losses: cross-entropy of zero logits is log 2, Wasserstein estimate is a mean difference', () => {
  tf.tidy(() => {
    assert.ok(Math.abs(discriminatorCrossEntropy(tf.zeros([6, 1]), 3).dataSync()[0]! - Math.log(2)) < 1e-6);
    assert.ok(Math.abs(generatorCrossEntropy(tf.fill([2, 1], 2)).dataSync()[0]! - Math.log(1 + Math.exp(-2))) < 1e-6);
    const real = tf.tensor2d([[3], [1]]);
    const fake = tf.tensor2d([[0.5], [-0.5]]);
    assert.equal(wassersteinEstimate(real, fake).dataSync()[0], 2);
    assert.equal(criticLoss(real, fake).dataSync()[0], -2);
  });
});

for (const kind of ['gan', 'dcgan', 'wgan'] as const) {
  test(`${kind}: shapes, and each step only trains its own network`, async () => {
    const t = new GanTrainer(tiny(kind));
    const out = t.sample(t.noise(3));
    assert.deepEqual(out.shape, [3, 8, 8, 1]);
    const range = tf.tidy(() => [out.min().dataSync()[0]!, out.max().dataSync()[0]!]);
    assert.ok(range[0]! >= -1 && range[1]! <= 1, 'tanh output');
    out.dispose();
    const scores = tf.tidy(() => t.discriminator.predict(tf.zeros([2, 8, 8, 1])) as tf.Tensor);
    assert.deepEqual(scores.shape, [2, 1]);
    scores.dispose();

    const real = source();
    const g0 = snapshot(t.generator);
    const d0 = snapshot(t.discriminator);
    const d = await t.discriminatorStep(real);
    assert.ok(Number.isFinite(d.loss));
    const g1 = snapshot(t.generator);
    const d1 = snapshot(t.discriminator);
    assert.ok(changed(d0, d1), 'discriminator step updates D');
    // Batch-norm moving statistics do move (fakes are drawn in training mode), so the dense gan
    // is compared whole here and the trainable weights of every kind in the next test.
    if (kind === 'gan') assert.ok(!changed(g0, g1), 'discriminator step leaves G alone');
    const gLoss = await t.generatorStep();
    assert.ok(Number.isFinite(gLoss));
    assert.ok(!changed(d1, snapshot(t.discriminator)), 'generator step leaves D frozen');
    assert.ok(changed(g1, snapshot(t.generator)), 'generator step updates G');
    t.dispose();
  });
}

test('no trainable generator weight moves during a discriminator step (all kinds)', async () => {
  for (const kind of ['gan', 'dcgan', 'wgan'] as const) {
    const t = new GanTrainer(tiny(kind));
    const names = t.generator.trainableWeights.map((w) => w.name);
    const before = new Map(t.generator.trainableWeights.map((w) => [w.name, Array.from(w.read().dataSync())]));
    await t.discriminatorStep(source());
    for (const w of t.generator.trainableWeights) assert.deepEqual(Array.from(w.read().dataSync()), before.get(w.name), `${kind} ${w.name}`);
    assert.ok(names.length > 0);
    t.dispose();
  }
});

test('dcgan/wgan generators upsample + convolve, never transposed convolutions', () => {
  const g = buildGenerator('dcgan', 4, { height: 28, width: 28, channels: 1 }, 'tanh', new Seeds(0));
  const types = g.layers.map((l) => l.getClassName());
  assert.equal(types.filter((c) => c === 'UpSampling2D').length, 2);
  assert.ok(types.includes('BatchNormalization'));
  assert.ok(!types.includes('Conv2DTranspose'));
  assert.deepEqual(g.outputs[0]!.shape, [null, 28, 28, 1]);
  const d = buildDiscriminator('wgan', { height: 28, width: 28, channels: 1 }, new Seeds(0));
  const dTypes = d.layers.map((l) => l.getClassName());
  assert.ok(dTypes.includes('LeakyReLU') && !dTypes.includes('MaxPooling2D'));
  const last = d.layers.at(-1)!.getConfig();
  assert.equal(last.activation, 'linear', 'critic has no sigmoid');
  g.dispose();
  d.dispose();
});

test('wgan: weights are clipped to ±clip before every critic step', async () => {
  const t = new GanTrainer(tiny('wgan', { lr: 1e-6 }));
  const w = t.discriminator.trainableWeights[0]!;
  w.write(tf.fill(w.shape as number[], 5));
  await t.discriminatorStep(source());
  const max = tf.tidy(() => tf.max(tf.abs(w.read())).dataSync()[0]!);
  assert.ok(max <= 0.01 + 1e-4, `max |w| = ${max}`);
  clipWeights(t.discriminator, 0.001);
  for (const v of t.discriminator.trainableWeights) assert.ok(tf.tidy(() => tf.max(tf.abs(v.read())).dataSync()[0]!) <= Math.fround(0.001));
  t.dispose();
});

test('step runs the scheduled critic updates and reports the Wasserstein estimate for wgan', async () => {
  const t = new GanTrainer(tiny('wgan'));
  const real = source();
  const m0 = await t.step(0, real);
  const m1 = await t.step(1, real);
  assert.equal(m0.critic_steps, 3);
  assert.equal(m1.critic_steps, 2);
  assert.ok(Number.isFinite(m1.wasserstein_estimate));
  // For the critic the loss is exactly the negated estimate.
  assert.ok(Math.abs(m1.d_loss + m1.wasserstein_estimate!) < 1e-5);
  t.dispose();
  const g = new GanTrainer(tiny('gan'));
  const m = await g.step(0, source());
  assert.equal(m.critic_steps, 1);
  assert.equal(m.wasserstein_estimate, undefined);
  g.dispose();
});

test('same seed gives the same first steps', async () => {
  const run = async () => {
    const t = new GanTrainer(tiny('dcgan'));
    const m = await t.step(0, source());
    t.dispose();
    return m;
  };
  assert.deepEqual(await run(), await run());
});

test('train.beta1 and gan.width reach the optimizer and the networks (β1 0.5 for GANs when unset)', () => {
  const base = { name: 'w', task: 'gan', dataset: { source: 'mnist' }, preprocess: { size: 28, channels: 1, normalize: 'symmetric' } };
  const shape28 = { height: 28, width: 28, channels: 1 };
  const unset = ganConfigFromSpec(experimentSchema.parse({ ...base, gan: { kind: 'dcgan' } }), shape28);
  assert.equal(unset.beta1, GAN_BETA1);
  assert.equal(unset.width, DEFAULT_CONV_WIDTH);
  const set = ganConfigFromSpec(experimentSchema.parse({ ...base, gan: { kind: 'wgan', width: 8 }, train: { beta1: 0.7 } }), shape28);
  assert.equal(set.beta1, 0.7);
  assert.equal(set.width, 8);
  const t = new GanTrainer({ ...tiny('dcgan'), width: 8, beta1: 0.7 });
  const firstConv = (m: tf.LayersModel) => m.layers.find((l) => l.getClassName() === 'Conv2D')!.getConfig().filters;
  const convs = t.discriminator.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.getConfig().filters);
  assert.deepEqual(convs, [8, 16], 'the discriminator doubles the width once');
  assert.equal(firstConv(t.generator), 8);
  assert.equal((t as unknown as { gOpt: { beta1: number } }).gOpt.beta1, 0.7);
  t.dispose();
});

test('the wgan generator uses LeakyReLU (no dead ReLU plateaus under the clipped critic), dcgan keeps ReLU', () => {
  const kinds = (kind: GanKind) => {
    const g = buildGenerator(kind, 4, { height: 28, width: 28, channels: 1 }, 'tanh', new Seeds(0), 8);
    const types = g.layers.map((l) => l.getClassName());
    g.dispose();
    return types;
  };
  assert.ok(kinds('wgan').includes('LeakyReLU') && !kinds('wgan').includes('ReLU'));
  assert.ok(kinds('dcgan').includes('ReLU') && !kinds('dcgan').includes('LeakyReLU'));
});

test('2 data-parallel workers train the critic and generator as 1 worker does (batch 5 in uneven shards, weights clipped on rank 0 reach the workers)', async () => {
  const run = async (kind: 'gan' | 'wgan', workers: number) => {
    // gan: dense networks without batch norm, so shards compute exactly the whole batch's gradient;
    // a clip makes rank 0 change the critic between steps. wgan's generator has batch norm (each
    // shard normalises by its own statistics): it can only be compared with itself.
    const t = new GanTrainer(tiny(kind, { batchSize: 5, ...(kind === 'gan' ? { critic: { steps: 2, clip: 0.05 } } : {}) }));
    const w0 = [...snapshot(t.generator), ...snapshot(t.discriminator)];
    await t.startWorkers(workers, tf.getBackend());
    const src = source();
    const losses: number[] = [];
    try {
      for (let g = 0; g < 3; g++) {
        const m = await t.step(g, src);
        losses.push(m.d_loss, m.g_loss, m.wasserstein_estimate ?? 0);
      }
    } finally {
      await t.close();
    }
    const w = [...snapshot(t.generator), ...snapshot(t.discriminator)];
    t.dispose();
    return { losses, w, w0 };
  };
  const one = await run('gan', 1);
  const two = await run('gan', 2);
  {
    const kind = 'gan';
    for (const [i, v] of one.losses.entries()) assert.ok(Math.abs(v - two.losses[i]!) < 1e-4 * Math.max(1, Math.abs(v)), `${kind} loss ${i}: ${v} vs ${two.losses[i]}`);
    const d = Math.max(...one.w.map((w, i) => Math.max(...w.map((v, j) => Math.abs(v - two.w[i]![j]!)))));
    assert.ok(d < 1e-4, `${kind} weights differ by ${d}`);
    assert.ok(changed(one.w, one.w0), `${kind}: training changed nothing`);
  }
  const w1 = await run('wgan', 2);
  const w2 = await run('wgan', 2);
  assert.deepEqual(w1.losses, w2.losses);
  assert.ok(w1.losses.every(Number.isFinite) && w1.losses[2] !== 0, 'wgan reports its Wasserstein estimate');
});
