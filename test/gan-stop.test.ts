// gan.stop: the GAN's early stopping on the quality score. With minDelta far above any change the
// first score is the best and every later one a miss, so with patience 2 and a score every 2 steps
// training must stop after step 6 of 10, with the generator of step 2 restored; an interrupted run
// must resume mid-patience and end the same way; and the spec refuses gan.stop where there is no
// quality score and train.stop on a GAN.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { writeArray } from '../src/data/zarr.js';
import { NO_PARTS, specSlice } from '../src/pipeline/keys.js';
import { generate } from '../src/gan/evaluate-stage.js';
import { buildScorer, gaussianToJson, qualityScore, realStatistics, scorerOutputs } from '../src/gan/scorer.js';
import { stage } from '../src/gan/train-stage.js';
import { loadModel, saveModel } from '../src/models/io.js';
import type { StageContext, StageRun } from '../src/pipeline/types.js';
import { experimentSchema } from '../src/spec/schema.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function recorder(onMetric?: (key: string, step: number) => void) {
  const metrics = new Map<string, { value: number; step: number }[]>();
  const tags = new Map<string, string>();
  const run: StageRun = {
    logMetric(key, value, step = 0) {
      metrics.set(key, [...(metrics.get(key) ?? []), { value, step }]);
      onMetric?.(key, step);
    },
    setTag(k, v) {
      tags.set(k, v);
    },
    async logArtifact() {},
    localDir: '',
  };
  return { run, metrics, tags };
}

async function fixture() {
  await tf.setBackend('cpu');
  const root = await mkdtemp(join(tmpdir(), 'gan-stop-'));
  dirs.push(root);
  const n = 48;
  const px = new Uint8Array(n * 784).map((_, i) => (i * 37) % 256);
  await writeArray(join(root, 'pre', 'train', 'images'), px, [28, 28, 1], 'uint8', 16);
  // An untrained scorer is enough: the test is about the stopping, not what the score means.
  const scorer = buildScorer(0);
  const real = tf.tidy(() => tf.randomUniform([96, 28, 28, 1], -1, 1, 'float32', 3)) as tf.Tensor4D;
  const { features } = await scorerOutputs(scorer, real, true);
  await mkdir(join(root, 'scorer'), { recursive: true });
  await saveModel(scorer, join(root, 'scorer', 'model'));
  await writeFile(join(root, 'scorer', 'real-stats.json'), JSON.stringify(gaussianToJson(realStatistics(features))));
  scorer.dispose();
  const spec = experimentSchema.parse({
    task: 'gan',
    preprocess: { size: 28, channels: 1, normalize: 'symmetric' },
    gan: { kind: 'dcgan', latent: 4, width: 4, sampleEvery: 1000, stop: { every: 2, patience: 2, minDelta: 1e9, samples: 32 } },
    train: { steps: 10, batchSize: 4, optimizer: 'adam', lr: 1e-3, backend: 'cpu' },
  });
  const ctx = (out: string, run: StageRun, signal = new AbortController().signal): StageContext => ({
    spec,
    stage: { kind: 'train', key: 'k', inputs: ['preprocess', 'scorer'], cacheable: false, dir: out, slice: specSlice(spec, stage), parts: NO_PARTS },
    out,
    input: (k) => (k === 'preprocess' ? join(root, 'pre') : k === 'scorer' ? join(root, 'scorer') : assert.fail(k)),
    log: { info() {}, warn() {} },
    progress: { start() {}, tick() {}, done() {} },
    run,
    signal,
  });
  return { root, spec, ctx };
}

test('gan.stop: stops after `patience` scores without improvement and restores the best generator', async () => {
  const { root, spec, ctx } = await fixture();
  const out = join(root, 'a');
  const a = recorder();
  await stage.run(ctx(out, a.run));
  const scores = a.metrics.get('quality_frechet_distance')!;
  assert.deepEqual(scores.map((p) => p.step), [2, 4, 6]);
  assert.equal(a.metrics.get('g_loss')!.length, 6, 'no generator step after the stop');
  assert.match(a.tags.get('ablate.train.end')!, /^stopped after generator step 6: frechet_distance did not improve by more than 1000000000 for 2 scores \(best [\d.]+ at generator step 2\); weights of generator step 2 restored$/);
  assert.equal(a.tags.get('ablate.train.stop_reason'), 'patience');
  assert.deepEqual(a.metrics.get('best_step'), [{ value: 2, step: 6 }]);
  assert.deepEqual(a.metrics.get('generator_steps_trained'), [{ value: 6, step: 6 }]);
  assert.equal(JSON.parse(await readFile(join(out, 'generator.json'), 'utf8')).steps, 6);
  // The saved generator is the one of step 2: it scores what step 2 scored on the same noise.
  const gen = await loadModel(join(out, 'generator'));
  const { loadScorer } = await import('../src/gan/scorer.js');
  const s = await loadScorer(join(root, 'scorer'));
  const samples = generate(gen, spec.gan.latent, 32, spec.seed + 104723);
  const q = await qualityScore(s.model, s.real, samples);
  samples.dispose();
  assert.ok(Math.abs(q.frechet - scores[0]!.value) < 1e-6 * Math.max(1, scores[0]!.value), `${q.frechet} vs ${scores[0]!.value}`);
  assert.notEqual(scores[2]!.value, scores[0]!.value, 'the generator changed after step 2, so restoring it is visible');
  gen.dispose();
  s.model.dispose();

  // Interrupted after step 5 (one score missed, mid-patience), then rerun: same stop, same scores.
  const out2 = join(root, 'b');
  const ac = new AbortController();
  const b = recorder((key, step) => {
    if (key === 'g_loss' && step === 4) ac.abort();
  });
  await assert.rejects(stage.run(ctx(out2, b.run, ac.signal)));
  assert.deepEqual(b.metrics.get('quality_frechet_distance')!.map((p) => p.step), [2, 4]);
  const c = recorder();
  await stage.run(ctx(out2, c.run));
  // The whole curve, and the same scores (a resumed GAN matches to float tolerance, as in gan-resume.test.ts).
  const resumed = c.metrics.get('quality_frechet_distance')!;
  assert.deepEqual(resumed.map((p) => p.step), [2, 4, 6]);
  for (const [i, p] of resumed.entries()) assert.ok(Math.abs(p.value - scores[i]!.value) < 1e-4 * Math.max(1, scores[i]!.value), `step ${p.step}: ${p.value} vs ${scores[i]!.value}`);
  assert.match(c.tags.get('ablate.train.end')!, /^stopped after generator step 6: .* at generator step 2\); weights of generator step 2 restored$/);
  assert.equal(JSON.parse(await readFile(join(out2, 'generator.json'), 'utf8')).steps, 6);
});

test('gan.stop needs the quality score; train.stop is refused on a GAN', () => {
  const bad = experimentSchema.safeParse({ task: 'gan', preprocess: { size: 32, channels: 3, normalize: 'symmetric' }, gan: { stop: {} } });
  assert.equal(bad.success, false);
  assert.ok(bad.error!.issues.some((i) => i.path.join('.') === 'gan.stop' && /28×28×1 digits/.test(i.message)));
  const noQuality = experimentSchema.safeParse({ task: 'gan', preprocess: { size: 28, channels: 1, normalize: 'symmetric' }, evaluate: { quality: false }, gan: { stop: {} } });
  assert.equal(noQuality.success, false);
  const ok = experimentSchema.safeParse({ task: 'gan', preprocess: { size: 28, channels: 1, normalize: 'unit' }, gan: { stop: { metric: 'class_coverage' } } });
  assert.equal(ok.success, true);
  const trainStop = experimentSchema.safeParse({ task: 'gan', preprocess: { size: 28, channels: 1, normalize: 'unit' }, train: { stop: {} } });
  assert.equal(trainStop.success, false);
  assert.ok(trainStop.error!.issues.some((i) => i.path.join('.') === 'train.stop' && /use gan.stop/.test(i.message)));
});
