// A GAN run stopped mid-way and rerun in the same work folder must end with the weights of a run that
// was never stopped: weights alone are not enough, the optimizers' moments, the noise stream and the
// real-image order must continue too. The checkpoint it resumes from is the one the stage wrote.
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NO_PARTS, specSlice } from '../src/pipeline/keys.js';
import { writeArray } from '../src/data/zarr.js';
import { learningRate } from '../src/train/optim.js';
import { stage } from '../src/gan/train-stage.js';
import { loadModel } from '../src/models/io.js';
import type { StageContext, StageRun } from '../src/pipeline/types.js';
import { experimentSchema } from '../src/spec/schema.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'gan-resume-'));
  // 12 images: the real source reshuffles several times in a run, so its position matters.
  const px = new Uint8Array(12 * 64).map((_, i) => (i * 37 + (i >> 6) * 11) % 256);
  await writeArray(join(root, 'pre', 'train', 'images'), px, [8, 8, 1], 'uint8', 16);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const STEPS = 8;
const CHECKPOINT_AT = 3;

const specs = {
  // Adam: its moments and iteration count only exist after the first update.
  dcgan: experimentSchema.parse({
    task: 'gan',
    seed: 5,
    preprocess: { size: 8, channels: 1, normalize: 'symmetric' },
    gan: { kind: 'dcgan', latent: 4, width: 4, bootstrap: 2, sampleEvery: CHECKPOINT_AT, critic: { steps: 2 } },
    train: { steps: STEPS, batchSize: 4, optimizer: 'adam', lr: 1e-2, backend: 'cpu' },
  }),
  wgan: experimentSchema.parse({
    task: 'gan',
    seed: 6,
    preprocess: { size: 8, channels: 1, normalize: 'symmetric' },
    gan: { kind: 'wgan', latent: 4, width: 4, sampleEvery: CHECKPOINT_AT, critic: { steps: 2, warmup: { steps: 3, generatorSteps: 2 }, clip: 0.05 } },
    // A schedule, which the GAN loop once ignored: the rate of each step must also survive a resume.
    train: { steps: STEPS, batchSize: 4, optimizer: 'rmsprop', lr: 5e-3, momentum: 0.5, backend: 'cpu', schedule: { kind: 'cosine', warmupSteps: 2 } },
  }),
};

interface Session {
  metrics: Map<string, Map<number, number>>;
  logs: string[];
}

/** `snapshot`: after that many steps, copy the work folder to `to`: what a hard kill then would leave. */
async function runStage(spec: (typeof specs)['dcgan'], out: string, stopAfterSteps?: number, snapshot?: { after: number; to: string }): Promise<Session> {
  const s: Session = { metrics: new Map(), logs: [] };
  const stop = new AbortController();
  let ticks = 0;
  const run: StageRun = {
    logMetric(key, value, step = 0) {
      const m = s.metrics.get(key) ?? new Map<number, number>();
      m.set(step, value);
      s.metrics.set(key, m);
    },
    setTag() {},
    async logArtifact() {},
    localDir: '',
  };
  const ctx: StageContext = {
    spec,
    stage: { kind: 'train', key: 'k', inputs: ['preprocess'], cacheable: false, dir: out, slice: specSlice(spec, stage), parts: NO_PARTS },
    out,
    input: (k) => (k === 'preprocess' ? join(root, 'pre') : assert.fail(k)),
    log: { info: (l) => s.logs.push(l), warn() {} },
    progress: {
      start() {},
      // What Ctrl-C does: the signal fires mid-run and the stage stops before its next step.
      tick: () => {
        ++ticks;
        if (ticks === snapshot?.after) cpSync(out, snapshot.to, { recursive: true });
        if (ticks === stopAfterSteps) stop.abort(new Error('interrupted'));
      },
      done() {},
    },
    run,
    signal: stop.signal,
  };
  await stage.run(ctx);
  return s;
}

async function finalWeights(out: string): Promise<Float32Array[]> {
  const all: Float32Array[] = [];
  for (const name of ['generator', 'discriminator']) {
    const m = await loadModel(join(out, 'checkpoint', 'models', name));
    for (const w of m.getWeights()) all.push(w.dataSync() as Float32Array);
    m.dispose();
  }
  return all;
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (const [i, x] of a.entries()) {
    assert.equal(x.length, b[i]!.length);
    for (let j = 0; j < x.length; j++) max = Math.max(max, Math.abs(x[j]! - b[i]![j]!));
  }
  return max;
}

for (const [kind, spec] of Object.entries(specs)) {
  test(`${kind}: an interrupted run resumes from the stage's checkpoint and ends where an uninterrupted one does`, async () => {
    const whole = join(root, `${kind}-whole`);
    const cut = join(root, `${kind}-cut`);
    const w = await runStage(spec, whole);
    if (spec.train.schedule.kind !== 'constant') {
      // train.schedule is honoured by generator step, with the formula every task uses.
      const want = Array.from({ length: STEPS }, (_, g) => learningRate(spec.train.lr, spec.train.schedule, { step: g, epoch: Math.floor(g / 3), totalSteps: STEPS }));
      assert.deepEqual([...w.metrics.get('lr')!.values()], want);
      assert.ok(want[0]! < want[1]! && want[7]! < want[2]!, 'warm-up, then decay');
    }

    // Ctrl-C two steps after the periodic checkpoint at step 3: the stage keeps those two steps.
    // A hard kill one step after it would leave the step-3 checkpoint (the snapshot), and a run
    // resumed from there must end the same way.
    const STOP = CHECKPOINT_AT + 2;
    const killed = join(root, `${kind}-killed`);
    await assert.rejects(runStage(spec, cut, STOP, { after: CHECKPOINT_AT + 1, to: killed }), /interrupted/);
    // A save that never finished leaves `checkpoint.partial`; even a complete-looking one (here the
    // finished run's, at step 8) must not be trusted over `checkpoint`.
    await cp(join(whole, 'checkpoint'), join(cut, 'checkpoint.partial'), { recursive: true });

    for (const [out, from] of [[cut, STOP], [killed, CHECKPOINT_AT]] as const) {
      const r = await runStage(spec, out);
      assert.ok(r.logs.includes(`resuming GAN training at generator step ${from} of ${STEPS}`), r.logs.join('\n'));
      const bootstraps = (logs: string[]) => logs.some((l) => l.startsWith('discriminator bootstrap'));
      assert.equal(bootstraps(w.logs), spec.gan.bootstrap > 0);
      assert.ok(!bootstraps(r.logs), 'a resumed run does not bootstrap again');
      // The steps before the checkpoint are replayed from it: the resumed run holds the whole curve.
      assert.deepEqual([...r.metrics.get('g_loss')!.keys()], [0, 1, 2, 3, 4, 5, 6, 7]);
      for (const key of ['d_loss', 'g_loss', 'critic_steps', ...['bootstrap_d_loss', 'lr'].filter((k) => w.metrics.has(k))]) {
        for (const [step, v] of r.metrics.get(key)!) {
          const ref = w.metrics.get(key)!.get(step)!;
          assert.ok(Math.abs(v - ref) < 1e-4 * Math.max(1, Math.abs(ref)), `${key} at step ${step}: ${v} vs ${ref}`);
        }
      }
      const diff = maxAbsDiff(await finalWeights(out), await finalWeights(whole));
      assert.ok(diff < 1e-5, `${out}: generator and discriminator weights differ by up to ${diff}`);
    }
  });
}

test('train.checkpointMinutes: checkpoints between grids, so a hard kill resumes from the last step saved', async () => {
  const spec = experimentSchema.parse({ ...specs.dcgan, gan: { ...specs.dcgan.gan, sampleEvery: 100 }, train: { ...specs.dcgan.train, checkpointMinutes: 1e-9 } });
  const whole = join(root, 'clock-whole');
  const killed = join(root, 'clock-killed');
  await runStage(spec, whole, undefined, { after: 5, to: killed });
  // The copy is taken at step 5's progress tick, before that step's save: step 4's checkpoint.
  const r = await runStage(spec, killed);
  assert.ok(r.logs.includes(`resuming GAN training at generator step 4 of ${STEPS}`), r.logs.join('\n'));
  const diff = maxAbsDiff(await finalWeights(killed), await finalWeights(whole));
  assert.ok(diff < 1e-5, `weights differ by up to ${diff}`);
});

test('dcgan with 2 workers: Ctrl-C mid-run, then a rerun ends where an uninterrupted 2-worker run does', async () => {
  const spec = experimentSchema.parse({ ...specs.dcgan, train: { ...specs.dcgan.train, workers: 2 } });
  const whole = join(root, 'w2-whole');
  const cut = join(root, 'w2-cut');
  const w = await runStage(spec, whole);
  assert.ok(w.logs.some((l) => l.startsWith('train: 2 data-parallel workers')), w.logs.join('\n'));
  const STOP = CHECKPOINT_AT + 2;
  await assert.rejects(runStage(spec, cut, STOP), /interrupted/);
  const r = await runStage(spec, cut);
  assert.ok(r.logs.includes(`resuming GAN training at generator step ${STOP} of ${STEPS}`), r.logs.join('\n'));
  for (const key of ['d_loss', 'g_loss']) {
    for (const [step, v] of r.metrics.get(key)!) {
      const ref = w.metrics.get(key)!.get(step)!;
      assert.ok(Math.abs(v - ref) < 1e-4 * Math.max(1, Math.abs(ref)), `${key} at step ${step}: ${v} vs ${ref}`);
    }
  }
  const diff = maxAbsDiff(await finalWeights(cut), await finalWeights(whole));
  assert.ok(diff < 1e-5, `generator and discriminator weights differ by up to ${diff}`);
});
