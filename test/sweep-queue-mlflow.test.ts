// Queue workers that share only an MLflow tracking server with each other and the controller (each
// machine its own runs/ mirror, ABLATE_MIRROR here; one shared cache folder): skip, wait and resume
// are decided from the server. Real redis-server, the fake MLflow server, workers as processes.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { buildSweep } from '../src/sweep/build.js';
import { QueueLauncher, sweepJobs } from '../src/sweep/queue.js';
import { readSweepRuns, SWEEP_TAG } from '../src/sweep/records.js';
import { trialTags } from '../src/sweep/run.js';
import { TAG } from '../src/track/tags.js';
import { queueName, queueSweep, quiet, startWorker, stopWorkers, sweepFile, type WorkerProc } from './fixtures/queue-harness.js';
import { RedisServer, redisMissing } from './fixtures/redis.js';
import { type FakeMlflow, type FakeRun, startFakeMlflow } from './fixtures/track-mlflow-server.js';

/** The trial runs of a sweep on the server (parent excluded). */
function serverRuns(server: FakeMlflow, sweepId: string): FakeRun[] {
  return [...server.runs.values()].filter((r) => r.tags.get(TAG.sweepId) === sweepId && r.tags.get(SWEEP_TAG.role) !== 'parent');
}

const seedOf = (r: FakeRun) => r.tags.get('ablate.axis.seed');
const statuses = (runs: FakeRun[]) => runs.map((r) => `seed ${seedOf(r)} ${r.info.status}`).sort();

/** Trial runs in one machine's mirror. */
function mirrorRuns(dir: string, sweepId: string) {
  return readSweepRuns(dir, sweepId).filter((r) => r.tags[SWEEP_TAG.role] !== 'parent');
}

async function waitFor<T>(what: string, f: () => T | undefined | false | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('queue workers sharing only an MLflow tracking server', { skip: redisMissing() }, () => {
  let redis: RedisServer;
  let server: FakeMlflow;
  const saved = { uri: process.env.MLFLOW_TRACKING_URI, mirror: process.env.ABLATE_MIRROR };
  before(async () => {
    redis = await RedisServer.start();
    server = await startFakeMlflow();
  });
  after(async () => {
    await redis?.down();
    await server?.close();
    for (const [k, v] of [['MLFLOW_TRACKING_URI', saved.uri], ['ABLATE_MIRROR', saved.mirror]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test('a trial FINISHED on the server is skipped by a worker that never saw it, a lost machine\'s trial is closed on the server and resumed, one FINISHED run per trial', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ablate-queue-mlflow-'));
    const cache = join(dir, 'cache');
    const mirror = { ctl: join(dir, 'controller-runs'), a: join(dir, 'a-runs'), b: join(dir, 'b-runs') };
    // The controller tracks to the server as a user would set it; its mirror is its own.
    process.env.MLFLOW_TRACKING_URI = server.url;
    process.env.ABLATE_MIRROR = mirror.ctl;
    const env = { FAKE_STEPS: '40', FAKE_STEP_MS: '80', WORKER_LEASE_MS: '2500', MLFLOW_TRACKING_URI: server.url };
    const q = queueName();
    const base = [`cache.dir=${cache}`, 'preprocess.crop=border'];
    const workers: WorkerProc[] = [];
    try {
      // One trial of the sweep put on the queue by hand, as a controller would.
      const args = [...base, 'seed=0,1,2'];
      const sweep = buildSweep(sweepFile, args);
      const id = sweep.id;
      const t0 = sweep.trials[0]!;
      const launcher = await QueueLauncher.open({ url: redis.url, queue: q, out: quiet });
      const jobs = (launcher as unknown as { queue: Parameters<typeof sweepJobs>[0] }).queue;
      const runTrial0 = async () => {
        await launcher.enqueue([
          {
            trial: t0,
            ctx: { sweep, parentRunId: 'test-parent', tags: trialTags(sweep, t0), runName: `${sweep.name} ${t0.name}`, logFile: join(dir, 't0.log'), storeRoot: mirror.ctl, cores: 1 },
          },
        ]);
        return waitFor('trial 0 to complete', async () => {
          const [j] = await sweepJobs(jobs, id);
          return j?.state === 'completed' ? j : undefined;
        });
      };
      let b: WorkerProc;
      try {
        // 1. Seed 0 runs on machine A: its run is on the server and in A's mirror only.
        const a1 = startWorker(redis.url, q, { ...env, ABLATE_MIRROR: mirror.a, FAKE_STEPS: '4' });
        workers.push(a1);
        const ran = await runTrial0();
        assert.notEqual(ran.job.returnvalue?.already, true, a1.err());
        assert.deepEqual(statuses(serverRuns(server, id)), ['seed 0 FINISHED']);
        assert.equal(mirrorRuns(mirror.a, id).length, 1);
        a1.child.kill('SIGTERM');
        await a1.exited;

        // 2. The same trial delivered again (at least once: a lost completion, a controller that
        // could not read the server) to machine B, whose mirror has never seen it: B reads the
        // server, finds it FINISHED with the keys it computes, and runs nothing.
        b = startWorker(redis.url, q, { ...env, ABLATE_MIRROR: mirror.b });
        workers.push(b);
        const again = await runTrial0();
        assert.equal(again.job.returnvalue?.already, true, b.err());
        assert.doesNotMatch(b.err(), /starting/, 'B ran nothing');
        assert.deepEqual(statuses(serverRuns(server, id)), ['seed 0 FINISHED'], 'still one run for seed 0');
      } finally {
        await launcher.close();
      }

      // 3. The whole sweep: the controller skips seed 0 (from the server), A and B take seeds 1
      // and 2; once both have checkpointed, machine A is lost (worker and trial killed -9, nothing
      // ends the run: RUNNING on the server). B closes that run on the server and resumes the trial
      // from its checkpoint in the shared cache.
      const a = startWorker(redis.url, q, { ...env, ABLATE_MIRROR: mirror.a });
      workers.push(a);
      const sweepDone = queueSweep(redis.url, q, args);
      const ckpt = join(cache, '.fake-ckpt');
      await waitFor('two checkpoints', () => existsSync(ckpt) && readdirSync(ckpt).filter((f) => Number(readFileSync(join(ckpt, f), 'utf8')) >= 2).length >= 2);
      const onA = await waitFor("A's run on the server", () =>
        serverRuns(server, id).find((r) => r.info.status === 'RUNNING' && r.tags.get(SWEEP_TAG.worker) === `${hostname()}:${a.child.pid}` && r.tags.has(TAG.process)),
      );
      const writer = JSON.parse(onA.tags.get(TAG.process)!) as { pid: number; host: string };
      assert.equal(writer.host, hostname());
      process.kill(writer.pid, 'SIGKILL');
      a.child.kill('SIGKILL');
      const r = await sweepDone;
      const all = serverRuns(server, id);
      assert.equal(r.status, 'FINISHED', `${JSON.stringify(r.trials)}\n${b.err()}`);
      assert.equal(r.trials[0]!.action, 'skip', 'the controller skipped seed 0 from the server');
      // The table: every trial's metric, read from the server (the controller has no trial run).
      assert.deepEqual(r.trials.map((t) => t.metric?.toFixed(4)), ['0.9000', '0.9100', '0.9200']);
      assert.equal(mirrorRuns(mirror.ctl, id).length, 0);
      const lost = seedOf(onA);
      assert.deepEqual(statuses(all), ['seed 0 FINISHED', 'seed 1 FINISHED', 'seed 2 FINISHED', `seed ${lost} FAILED`].sort(), 'one FINISHED run per trial, none left RUNNING');
      const closed = all.find((x) => x.info.status === 'FAILED')!;
      assert.equal(closed.info.run_id, onA.info.run_id);
      assert.match(closed.tags.get(TAG.error)!, new RegExp(`process ${writer.pid} on ${hostname()} died without ending the run`));
      const retake = all.find((x) => seedOf(x) === lost && x.info.status === 'FINISHED')!;
      const resumed = retake.metrics.find((m) => m.key === 'resumed_from')!.value;
      assert.ok(resumed >= 2, `resumed from step ${resumed}`);
      assert.equal(retake.tags.get(SWEEP_TAG.worker), `${hostname()}:${b.child.pid}`);
      assert.match(b.err(), /closed its run/);
      // The MLflow UI nests every trial run of this sweep under the parent's server run, though
      // no worker's mirror has the parent.
      const parents = [...server.runs.values()].filter((x) => x.tags.get(TAG.sweepId) === id && x.tags.get(SWEEP_TAG.role) === 'parent');
      assert.equal(parents.length, 1);
      for (const x of all.filter((x) => seedOf(x) !== '0')) assert.equal(x.tags.get(TAG.parentRunId), parents[0]!.info.run_id, `seed ${seedOf(x)} ${x.info.status}`);
      // Each machine's mirror has only its own runs: nothing was read through a shared runs/.
      assert.ok(mirrorRuns(mirror.b, id).every((x) => x.tags[SWEEP_TAG.worker] === `${hostname()}:${b.child.pid}`));
    } finally {
      await stopWorkers(workers);
    }
  });
});
