// The GAN train stage on the pipeline contract, on 8×8 images and the pure-JS backend: the critic
// schedule must be recoverable from the logged metrics alone, grids must be logged, and a rerun in
// the same work folder must resume instead of starting over.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NO_PARTS, specSlice } from '../src/pipeline/keys.js';
import { writeArray } from '../src/data/zarr.js';
import { criticSequence } from '../src/gan/schedule.js';
import { stage } from '../src/gan/train-stage.js';
import type { StageContext, StageRun } from '../src/pipeline/types.js';
import { experimentSchema } from '../src/spec/schema.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function recorder() {
  const metrics = new Map<string, { value: number; step: number }[]>();
  const artifacts: string[] = [];
  const run: StageRun = {
    logMetric(key, value, step = 0) {
      metrics.set(key, [...(metrics.get(key) ?? []), { value, step }]);
    },
    setTag() {},
    async logArtifact(p, a) {
      artifacts.push(join(a ?? '', p.split('/').at(-1)!));
    },
    localDir: '',
  };
  return { run, metrics, artifacts };
}

test('wgan train stage: critic_steps per generator step equals the schedule; grids logged; rerun resumes', async () => {
  const root = await mkdtemp(join(tmpdir(), 'gan-stage-'));
  dirs.push(root);
  const n = 40;
  const px = new Uint8Array(n * 64).map((_, i) => (i * 37) % 256);
  await writeArray(join(root, 'pre', 'train', 'images'), px, [8, 8, 1], 'uint8', 16);
  const spec = experimentSchema.parse({
    task: 'gan',
    preprocess: { size: 8, channels: 1, normalize: 'symmetric' },
    gan: { kind: 'wgan', latent: 4, sampleEvery: 3, critic: { steps: 2, warmup: { steps: 4, generatorSteps: 2 }, periodic: { steps: 3, every: 4 }, clip: 0.01 } },
    train: { steps: 7, batchSize: 4, optimizer: 'rmsprop', lr: 1e-3, momentum: 0, backend: 'cpu' },
  });
  const out = join(root, 'train');
  const ctx = (run: StageRun): StageContext => ({
    spec,
    stage: { kind: 'train', key: 'k', inputs: ['preprocess'], cacheable: false, dir: out, slice: specSlice(spec, stage), parts: NO_PARTS },
    out,
    input: (k) => (k === 'preprocess' ? join(root, 'pre') : assert.fail(k)),
    log: { info() {}, warn() {} },
    progress: { start() {}, tick() {}, done() {} },
    run,
    signal: new AbortController().signal,
  });

  const a = recorder();
  await stage.run(ctx(a.run));
  const critic = a.metrics.get('critic_steps')!;
  assert.deepEqual(critic.map((p) => p.step), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(critic.map((p) => p.value), criticSequence(7, spec.gan.critic));
  assert.deepEqual(critic.map((p) => p.value), [4, 4, 2, 2, 3, 2, 2]);
  for (const k of ['d_loss', 'g_loss', 'wasserstein_estimate']) assert.equal(a.metrics.get(k)?.length, 7, k);
  assert.deepEqual(a.artifacts.sort(), ['samples/final.png', 'samples/step-000003.png', 'samples/step-000006.png']);
  const png = await readFile(join(out, 'samples', 'final.png'));
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  assert.ok((await readdir(join(out, 'generator'))).includes('model.json'));
  assert.equal(JSON.parse(await readFile(join(out, 'generator.json'), 'utf8')).steps, 7);

  // Asking for more steps in the same work folder continues from the checkpoint at step 7; the
  // new run's record holds the whole curve (the first 7 steps replayed from the checkpoint).
  const more = { ...spec, train: { ...spec.train, steps: 9 } };
  const b = recorder();
  await stage.run({ ...ctx(b.run), spec: more });
  assert.deepEqual(b.metrics.get('critic_steps')!.map((p) => p.step), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(b.metrics.get('d_loss')!.slice(0, 7), a.metrics.get('d_loss'));
  assert.deepEqual(b.metrics.get('critic_steps')!.slice(7).map((p) => p.value), [2, 3]);
});
