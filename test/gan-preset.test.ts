// Issue 13, problem 7: one optimizer factory for every task (rmsprop once meant decay 0.9 for
// classify and 0.99 for GANs), and `gan.preset: wgan-2017` for the reference WGAN recipe, under
// every explicit field, expanded before the stage keys are computed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { criticSequence } from '../src/gan/schedule.js';
import { GanTrainer } from '../src/gan/trainer.js';
import { planPipeline } from '../src/pipeline/plan.js';
import { loadSpec } from '../src/spec/load.js';
import { PRESETS } from '../src/spec/presets.js';
import { makeOptimizer, OPTIMIZER_DEFAULTS } from '../src/train/optim.js';

const tmp = mkdtempSync(join(tmpdir(), 'ablate-preset-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
before(async () => {
  await tf.setBackend('cpu');
});

let n = 0;
function load(text: string, overrides: string[] = []) {
  const file = join(tmp, `s${n++}.yaml`);
  writeFileSync(file, text);
  return loadSpec(file, overrides);
}
const GAN = 'task: gan\ndataset: { source: mnist }\npreprocess: { size: 28, channels: 1, normalize: symmetric }\n';

interface RmsFields {
  decay: number;
  momentum: number;
  epsilon: number;
}
const fields = (o: tf.Optimizer): RmsFields => {
  const r = o as unknown as RmsFields;
  return { decay: r.decay, momentum: r.momentum, epsilon: r.epsilon };
};

test('rmsprop means the same decay and epsilon for a GAN as for classify, unset or set', () => {
  const shape = { height: 8, width: 8, channels: 1 };
  for (const set of [{}, { decay: 0.99, epsilon: 1e-8 }]) {
    const trainer = new GanTrainer({ kind: 'wgan', latent: 4, shape, output: 'tanh', batchSize: 4, optimizer: 'rmsprop', lr: 1e-3, momentum: 0, critic: { steps: 1 }, seed: 0, ...set });
    const classify = makeOptimizer({ optimizer: 'rmsprop', lr: 1e-3, momentum: 0, ...set });
    const { generator, discriminator } = trainer.checkpointable().optimizers;
    assert.deepEqual(fields(generator!), fields(classify));
    assert.deepEqual(fields(discriminator!), fields(classify));
    trainer.dispose();
  }
  assert.deepEqual(fields(makeOptimizer({ optimizer: 'rmsprop', lr: 1e-3, momentum: 0 })), { decay: OPTIMIZER_DEFAULTS.decay, momentum: 0, epsilon: OPTIMIZER_DEFAULTS.epsilon });
});

test('gan.preset: wgan-2017 is the reference recipe: critic 5, 100 for the first 25 and every 500th, clip 0.01, RMSprop 5e-5', () => {
  const { spec } = load(`${GAN}gan: { preset: wgan-2017 }\n`);
  assert.equal(spec.gan.kind, 'wgan');
  assert.equal(spec.gan.critic.clip, 0.01);
  const seq = criticSequence(1001, spec.gan.critic);
  // The reference code: Diters = 100 if gen_iterations < 25 or gen_iterations % 500 == 0 else 5.
  assert.deepEqual(seq, Array.from({ length: 1001 }, (_, g) => (g < 25 || g % 500 === 0 ? 100 : 5)));
  assert.deepEqual(
    { optimizer: spec.train.optimizer, lr: spec.train.lr, momentum: spec.train.momentum, decay: spec.train.decay, epsilon: spec.train.epsilon, batchSize: spec.train.batchSize },
    { optimizer: 'rmsprop', lr: 5e-5, momentum: 0, decay: 0.99, epsilon: 1e-8, batchSize: 64 },
  );
});

test('every field set explicitly wins over the preset: in the file, a base, or an override', () => {
  const { spec } = load(`${GAN}gan:\n  preset: wgan-2017\n  critic: { warmup: { steps: 10, generatorSteps: 3 } }\ntrain: { lr: 0.0005 }\n`, ['gan.critic.steps=3']);
  assert.equal(spec.train.lr, 5e-4);
  assert.equal(spec.gan.critic.steps, 3);
  assert.deepEqual(spec.gan.critic.warmup, { steps: 10, generatorSteps: 3 });
  // What nothing set comes from the preset.
  assert.deepEqual(spec.gan.critic.periodic, { steps: 100, every: 500 });
  assert.equal(spec.train.optimizer, 'rmsprop');
  // The preset may come from an override, and a typo is located at the field.
  assert.equal(load(GAN, ['gan.preset=wgan-2017']).spec.gan.kind, 'wgan');
  assert.throws(() => load(`${GAN}gan: { preset: wgan-2018 }\n`), /gan\.preset {2}expected one of wgan-2017/);
});

test('the GAN train key follows the expanded preset', async () => {
  const key = async (text: string, o: string[] = []) => (await planPipeline(load(text, o).spec)).find((s) => s.kind === 'train')!.key;
  const plain = await key(`${GAN}gan: { kind: wgan }\n`);
  const preset = await key(`${GAN}gan: { preset: wgan-2017 }\n`);
  assert.notEqual(preset, plain);
  assert.notEqual(await key(`${GAN}gan: { preset: wgan-2017 }\n`, ['train.lr=0.0005']), preset);
  // The preset written out field by field is the same run: the same key.
  const r = PRESETS['wgan-2017'] as { gan: { critic: unknown }; train: Record<string, unknown> };
  const spelled = `${GAN}gan: { preset: wgan-2017, kind: wgan, critic: ${JSON.stringify(r.gan.critic)} }\ntrain: ${JSON.stringify(r.train)}\n`;
  assert.equal(await key(spelled), preset);
});

test('the shipped scaled-down WGAN config uses the preset and its comments name every field where it departs', () => {
  const text = readFileSync('configs/wgan-mnist.yaml', 'utf8');
  const { spec } = loadSpec('configs/wgan-mnist.yaml');
  assert.equal(spec.gan.preset, 'wgan-2017');
  const reference = load(`${GAN}gan: { preset: wgan-2017 }\n`).spec;
  const comments = text
    .split('\n')
    .filter((l) => l.startsWith('#'))
    .join('\n');
  const differs: string[] = [];
  for (const section of ['gan', 'train'] as const) {
    const a = spec[section] as Record<string, unknown>;
    const b = reference[section] as Record<string, unknown>;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(a[k]) === JSON.stringify(b[k])) continue;
      if (section === 'gan' && k === 'critic') {
        for (const c of ['steps', 'warmup', 'periodic', 'clip'] as const) if (JSON.stringify(spec.gan.critic[c]) !== JSON.stringify(reference.gan.critic[c])) differs.push(`gan.critic.${c}`);
      } else differs.push(`${section}.${k}`);
    }
  }
  assert.ok(differs.length >= 4, differs.join(', '));
  for (const f of differs) assert.match(comments, new RegExp(`^#\\s+${f.replace('.', '\\.')}\\s`, 'm'), `${f} departs from the reference but the comments do not say so`);
});
