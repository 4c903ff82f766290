// The queue launcher when things go wrong, with a real redis-server and workers as separate
// processes: SIGTERM on a worker hands its trial back, a trial that always fails is retried then
// FAILED, cancel, and Redis restarted mid-sweep.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildSweep } from '../src/sweep/build.js';
import { cancelSweep, queueStatus } from '../src/sweep/queue-status.js';
import { SWEEP_TAG } from '../src/sweep/records.js';
import { checkpointed, queueName, queueSweep, runsOf, startWorker, stopWorkers, sweepFile, tmpStore, type WorkerProc } from './fixtures/queue-harness.js';
import { RedisServer, redisMissing } from './fixtures/redis.js';

describe('queue launcher: failures', { skip: redisMissing() }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis?.down();
  });

  test('SIGTERM on a worker checkpoints its trial and hands it back without using up a retry', async () => {
    const env = { FAKE_STEPS: '12', FAKE_STEP_MS: '80' };
    const store = tmpStore();
    const q = queueName();
    const a = startWorker(redis.url, q, env);
    let b: WorkerProc | undefined;
    try {
      const sweepDone = queueSweep(redis.url, q, [...store.args, 'seed=0', 'preprocess.crop=squish'], 0);
      await a.saw(/starting/);
      b = startWorker(redis.url, q, env);
      await checkpointed(store.dir, 1);
      a.child.kill('SIGTERM');
      assert.equal(await a.exited, 0, a.err());
      const r = await sweepDone;
      assert.equal(r.status, 'FINISHED', `${JSON.stringify(r.trials)}\n${a.err()}\n${b.err()}`);
      const runs = runsOf(store.dir, r.id);
      assert.deepEqual(runs.all.map((x) => x.info.status).sort(), ['FINISHED', 'KILLED']);
      assert.match(runs.all.find((x) => x.info.status === 'KILLED')!.tags[SWEEP_TAG.stopped]!, /got SIGTERM and handed the trial back/);
      assert.ok((runs.finished[0]!.metrics.resumed_from ?? 0) > 0, `${a.err()}\n${b.err()}\n${JSON.stringify(runs.all.map((x) => [x.info.status, x.metrics]))}`);
      assert.match(b.err(), /starting/);
    } finally {
      await stopWorkers([a, ...(b ? [b] : [])]);
    }
  });


  test('a trial that always fails is retried, then recorded FAILED with its error; the others finish', async () => {
    const env = { FAKE_STEPS: '5', FAKE_STEP_MS: '10', FAKE_FAIL: 'preprocess.crop=squish' };
    const store = tmpStore();
    const q = queueName();
    const ws = [startWorker(redis.url, q, env), startWorker(redis.url, q, env)];
    try {
      const r = await queueSweep(redis.url, q, [...store.args, 'seed=0', 'preprocess.crop=border,center,squish'], 1);
      assert.equal(r.status, 'FAILED');
      const by = Object.fromEntries(r.trials.map((t) => [t.name, t]));
      assert.equal(by['crop=border']!.status, 'FINISHED');
      assert.equal(by['crop=center']!.status, 'FINISHED');
      assert.equal(by['crop=squish']!.status, 'FAILED');
      assert.match(by['crop=squish']!.error!, /boom at step 3.*\(after 2 attempts\)/);
      const runs = runsOf(store.dir, r.id);
      assert.equal(runs.all.filter((x) => x.info.status === 'FAILED').length, 2, 'run once and retried once');
      assert.equal(runs.finished.length, 2);
    } finally {
      await stopWorkers(ws);
    }
  });


  test('ablate sweep cancel: waiting trials leave the queue, the running one ends KILLED and is not retried', async () => {
    // Cancel must find one trial running and one waiting. Under load (CI, 2 cores) a 2 s trial
    // could end before the cancel, or the worker could print "starting" before the controller had
    // enqueued the second trial: so the trial is long (the cancel stops it within a step of the
    // worker's 1 s cancel watch, so the test does not wait for it), and the cancel waits for the
    // queue itself to show one job active and one waiting (1 worker, 1 at a time: it stays so).
    const env = { FAKE_STEPS: '600', FAKE_STEP_MS: '50' };
    const store = tmpStore();
    const q = queueName();
    const w = startWorker(redis.url, q, env);
    try {
      const sweepDone = queueSweep(redis.url, q, [...store.args, 'seed=0,1', 'preprocess.crop=border']);
      // Once the trial has made a step: the fake trial (as a real one creating its run) would die of
      // a SIGTERM that comes before it handles signals, leaving its run RUNNING.
      await checkpointed(store.dir, 1, 1);
      const id = buildSweep(sweepFile, [...store.args, 'seed=0,1', 'preprocess.crop=border']).id;
      const t0 = Date.now();
      for (;;) {
        const states = (await queueStatus(redis.url, q, id)).map((s) => s.state).sort();
        if (states.join(' ') === 'active waiting') break;
        if (Date.now() - t0 > 20_000) assert.fail(`never one trial active and one waiting: ${states.join(' ')}\n${w.err()}`);
        await sleep(50);
      }
      assert.deepEqual(await cancelSweep(redis.url, q, id), { removed: 1, stopping: 1 });
      const r = await sweepDone;
      assert.equal(r.status, 'KILLED');
      assert.deepEqual(r.trials.map((t) => t.status), ['KILLED', 'KILLED'], `${JSON.stringify(r.trials)}\n${w.err()}`);
      const runs = runsOf(store.dir, r.id);
      assert.deepEqual(runs.all.map((x) => x.info.status), ['KILLED']);
      assert.equal(runs.all[0]!.tags[SWEEP_TAG.stopped], 'cancelled (ablate sweep cancel)');
      assert.match(w.err(), /cancelled/);
    } finally {
      await stopWorkers([w]);
    }
  });
});

describe('queue launcher: Redis restarted mid-sweep', { skip: redisMissing() }, () => {
  test('down longer than a lease, with persistence on: nothing is lost and no trial finishes twice; workers say so once, stop, reconnect and resume', async () => {
    const redis = await RedisServer.start({ persist: true });
    const env = { FAKE_STEPS: '16', FAKE_STEP_MS: '100', WORKER_LEASE_MS: '1000' };
    const store = tmpStore();
    const q = queueName();
    const ws = [startWorker(redis.url, q, env), startWorker(redis.url, q, env)];
    try {
      const sweepDone = queueSweep(redis.url, q, [...store.args, 'seed=0,1,2', 'preprocess.crop=border']);
      await checkpointed(store.dir, 1);
      await redis.down();
      await sleep(2000);
      await redis.up();
      const r = await sweepDone;
      assert.equal(r.status, 'FINISHED', `${JSON.stringify(r.trials)}\n${ws[0]!.err()}\n${ws[1]!.err()}`);
      const runs = runsOf(store.dir, r.id);
      assert.equal(runs.finished.length, 3, 'one FINISHED run per trial');
      assert.equal(new Set(runs.finished.map((x) => x.tags['ablate.spec_hash'])).size, 3);
      for (const w of ws) {
        assert.equal(w.err().match(/redis \S+ unreachable/g)?.length, 1, w.err());
        assert.match(w.err(), /reachable again/);
      }
      // The trials whose leases lapsed were stopped, and those that had checkpointed continued from
      // their checkpoint. A trial stopped before its first step (the fake trial logs val_accuracy,
      // then checkpoints, every step) had none and rightly starts over: the Redis outage can come
      // while the second worker's trial is still starting.
      assert.match(ws.map((w) => w.err()).join('\n'), /its lease was not renewed for \d+\.\d s \(Redis unreachable\?\); stopping it/);
      const killed = runs.all.filter((x) => x.info.status === 'KILLED');
      assert.ok(killed.length >= 1, runs.all.map((x) => x.info.status).join(' '));
      for (const k of killed) {
        assert.match(k.tags[SWEEP_TAG.stopped] ?? '', /lease was not renewed|lease was lost/, 'the run says why it stopped');
        if (k.metrics.val_accuracy == null) continue;
        const done = runs.finished.find((x) => x.tags['ablate.spec_hash'] === k.tags['ablate.spec_hash'])!;
        assert.ok((done.metrics.resumed_from ?? 0) > 0, `resumed from the checkpoint: ${JSON.stringify(runs.all.map((x) => [x.info.status, x.metrics]))}`);
      }
    } finally {
      await stopWorkers(ws);
      await redis.down();
    }
  });
});
