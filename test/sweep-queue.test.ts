// The queue launcher end to end, with a real redis-server and workers as separate processes: the
// same table as a local sweep, enqueueing twice and --detach, a worker killed -9 mid-trial, a run
// left RUNNING by a lost machine, the controller killed and started again. Failures (SIGTERM,
// retries, cancel, Redis restarted): sweep-queue-failures.test.ts.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildSweep } from '../src/sweep/build.js';
import type { BuiltTrial } from '../src/sweep/build.js';
import { queueStatus } from '../src/sweep/queue-status.js';
import { readSweepRuns, SWEEP_TAG } from '../src/sweep/records.js';
import type { LaunchContext } from '../src/sweep/run.js';
import { runSweep } from '../src/sweep/run.js';
import { PROCESS_FILE } from '../src/track/file-store.js';
import { checkpointed, driver, fake, finalSet, queueName, queueSweep, quiet, runsOf, startWorker, stopWorkers, sweepFile, tmpStore, type WorkerProc } from './fixtures/queue-harness.js';
import { RedisServer, redisMissing } from './fixtures/redis.js';
import { runChild } from './fixtures/sweep-child.js';

describe('queue launcher (BullMQ on a real redis-server)', { skip: redisMissing() }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis?.down();
  });

  test('enqueued twice (two detached controllers) one job per trial; two workers give the same table as a local sweep', async () => {
    const env = { FAKE_STEPS: '3', FAKE_STEP_MS: '20' };
    const args = ['seed=0,1', 'preprocess.crop=border,squish'];
    const local = tmpStore();
    const fakeCommand = (trial: BuiltTrial, ctx: LaunchContext) => ({
      command: process.execPath,
      args: [fake, 'run', ctx.sweep.base.file, ...trial.overrides.map((o) => o.text), '--sweep-id', ctx.sweep.id, '--parent-run', ctx.parentRunId, '--run-name', ctx.runName, ...Object.entries(ctx.tags).flatMap(([k, v]) => ['--tag', `${k}=${v}`]), '--events'],
      env: { ...process.env, ...env },
      logFile: ctx.logFile,
    });
    const l = await runSweep(buildSweep(sweepFile, [...local.args, ...args]), { jobs: 2, command: fakeCommand, out: quiet, handleSignals: false });
    assert.equal(l.status, 'FINISHED');

    const store = tmpStore();
    const q = queueName();
    const detached = { ...process.env, DRIVER_QUEUE: redis.url, DRIVER_QUEUE_NAME: q, DRIVER_DETACH: '1' };
    const [d1, d2] = await Promise.all([runChild([driver, sweepFile, ...store.args, ...args], { env: detached }), runChild([driver, sweepFile, ...store.args, ...args], { env: detached })]);
    // Two controllers of one sweep at once: one holds the sweep and queues it, or both queue it.
    const queued = [d1, d2].filter((d) => d.code === 0);
    assert.ok(queued.length >= 1, `${d1.err}\n${d2.err}`);
    for (const d of [d1, d2]) if (d.code !== 0) assert.match(d.err, /already running/);
    assert.equal(queued[0]!.result!.detached, true);
    const again = await runChild([driver, sweepFile, ...store.args, ...args], { env: detached });
    assert.equal(again.code, 0, again.err);
    const id = queued[0]!.result!.id;
    const waiting = await queueStatus(redis.url, q, id);
    assert.deepEqual(waiting.map((r) => `${r.name} ${r.state}`), ['crop=border,seed=0 waiting', 'crop=border,seed=1 waiting', 'crop=squish,seed=0 waiting', 'crop=squish,seed=1 waiting']);

    const workers = [startWorker(redis.url, q, env), startWorker(redis.url, q, env)];
    try {
      const r = await queueSweep(redis.url, q, [...store.args, ...args]);
      assert.equal(r.status, 'FINISHED', JSON.stringify(r.trials));
      assert.equal(r.launcher, 'queue');
      assert.deepEqual(r.trials.map((t) => t.metric), l.trials.map((t) => t.metric));
      assert.deepEqual(finalSet(store.dir, id), finalSet(local.dir, l.id));
      assert.equal(runsOf(store.dir, id).all.length, 4, 'one run per trial');
      const done = await queueStatus(redis.url, q, id);
      assert.ok(done.every((s) => s.state === 'completed' && s.attempts === 1), JSON.stringify(done));
      // The parent run is closed by the controller that followed the sweep to its end.
      const parent = readSweepRuns(join(store.dir, 'runs'), id).filter((x) => x.tags[SWEEP_TAG.role] === 'parent');
      assert.equal(parent.length, 1);
      assert.equal(parent[0]!.info.status, 'FINISHED');
    } finally {
      await stopWorkers(workers);
    }
  });


  test('kill -9 of a worker mid-trial: its trial goes to the other worker and resumes from its checkpoint; one FINISHED run per trial', async () => {
    // A 2.5 s lease: with 1 s, a loaded CI machine (two test files on 2 cores) let the surviving worker's
    // renewals lapse too, so seed 0 was stopped a second time (two KILLED runs). 40 steps of 80 ms
    // still outlast the lease, so the renewal is exercised.
    const env = { FAKE_STEPS: '40', FAKE_STEP_MS: '80', WORKER_LEASE_MS: '2500' };
    const store = tmpStore();
    const q = queueName();
    const a = startWorker(redis.url, q, env);
    const b = startWorker(redis.url, q, env);
    try {
      const sweepDone = queueSweep(redis.url, q, [...store.args, 'seed=0,1', 'preprocess.crop=border']);
      await Promise.all([a.saw(/starting/), b.saw(/starting/)]);
      await checkpointed(store.dir, 2); // both trials a few steps in: a checkpoint to resume from
      a.child.kill('SIGKILL');
      const r = await sweepDone;
      assert.equal(r.status, 'FINISHED', JSON.stringify(r.trials));
      const runs = runsOf(store.dir, r.id);
      assert.equal(runs.finished.length, 2, 'one FINISHED run per trial');
      assert.equal(runs.running.length, 0, 'no run left RUNNING');
      // The killed worker's child noticed and ended its run KILLED; the retake resumed it.
      const killed = runs.all.filter((x) => x.info.status === 'KILLED');
      assert.equal(killed.length, 1, runs.all.map((x) => `${x.info.runName} ${x.info.status}`).join('\n'));
      const retake = runs.finished.find((x) => x.tags['ablate.spec_hash'] === killed[0]!.tags['ablate.spec_hash'])!;
      assert.ok((retake.metrics.resumed_from ?? 0) > 0, `resumed from step ${retake.metrics.resumed_from}`);
      assert.equal(runs.all.length, 3, 'the other trial ran once: its lease was renewed while it ran longer than the lease');
      // The records tell what happened: which worker ran each run, and which delivery it was.
      assert.equal(killed[0]!.tags[SWEEP_TAG.worker], `${hostname()}:${a.child.pid}`);
      assert.equal(retake.tags[SWEEP_TAG.worker], `${hostname()}:${b.child.pid}`);
      assert.equal(retake.tags[SWEEP_TAG.attempt], '2');
      assert.match(b.err(), /starting \(attempt 1\)[\s\S]*starting/, 'the surviving worker ran both trials');
      assert.deepEqual(Object.values(finalSet(store.dir, r.id)).map((s) => s.split(' ')[0]), ['FINISHED', 'FINISHED']);
    } finally {
      await stopWorkers([a, b]);
    }
  });


  test('a run left RUNNING by a machine that was lost is waited for a lease, closed, and its trial resumed on another', async () => {
    const env = { FAKE_STEPS: '16', FAKE_STEP_MS: '80', WORKER_LEASE_MS: '1000', WORKER_GRACE_MS: '500' };
    const store = tmpStore();
    const q = queueName();
    const a = startWorker(redis.url, q, env);
    let b: WorkerProc | undefined;
    try {
      const sweepDone = queueSweep(redis.url, q, [...store.args, 'seed=1', 'preprocess.crop=border']);
      await checkpointed(store.dir, 1);
      // The machine goes: its trial's process and its worker die at once, nothing ends the run.
      const running = runsOf(store.dir, buildSweep(sweepFile, [...store.args, 'seed=1', 'preprocess.crop=border']).id).running[0]!;
      const procFile = join(running.dir, PROCESS_FILE);
      const proc = JSON.parse(readFileSync(procFile, 'utf8')) as { pid: number; host: string };
      process.kill(proc.pid, 'SIGKILL');
      a.child.kill('SIGKILL');
      // As seen from the surviving machine: a run written by a process on another host.
      writeFileSync(procFile, JSON.stringify({ ...proc, host: 'lost-machine' }));
      b = startWorker(redis.url, q, env);
      const r = await sweepDone;
      assert.equal(r.status, 'FINISHED', `${JSON.stringify(r.trials)}\n${b.err()}`);
      const runs = runsOf(store.dir, r.id);
      assert.deepEqual(runs.all.map((x) => x.info.status).sort(), ['FAILED', 'FINISHED']);
      const closed = runs.all.find((x) => x.info.status === 'FAILED')!;
      assert.match(closed.tags['ablate.error']!, /on lost-machine died without ending the run \(its worker lost the trial's lease; .* took the trial over\)/);
      assert.ok((runs.finished[0]!.metrics.resumed_from ?? 0) > 0, 'resumed from the lost machine\'s checkpoint');
      assert.match(b.err(), /is still running; waiting for it[\s\S]*closed its run/);
    } finally {
      await stopWorkers([a, ...(b ? [b] : [])]);
    }
  });


  test('the controller killed -9 and started again reattaches to the running trials', async () => {
    const env = { FAKE_STEPS: '10', FAKE_STEP_MS: '60' };
    const store = tmpStore();
    const q = queueName();
    const w = startWorker(redis.url, q, env);
    try {
      const ctl = { ...process.env, DRIVER_QUEUE: redis.url, DRIVER_QUEUE_NAME: q };
      const args = [driver, sweepFile, ...store.args, 'seed=0,1', 'preprocess.crop=center'];
      let sent = false;
      const first = await runChild(args, {
        env: ctl,
        onStderr: (err, child) => {
          if (!sent && /running +train/.test(err)) {
            sent = true;
            child.kill('SIGKILL');
          }
        },
      });
      assert.equal(first.signal, 'SIGKILL', first.err);
      const second = await runChild(args, { env: ctl });
      assert.equal(second.code, 0, second.err);
      const r = second.result!;
      assert.ok(r.trials.every((t) => t.status === 'FINISHED'), JSON.stringify(r.trials));
      const runs = runsOf(store.dir, r.id);
      assert.equal(runs.finished.length, 2);
      assert.equal(runs.all.length, 2, 'no trial ran twice');
    } finally {
      await stopWorkers([w]);
    }
  });

});
