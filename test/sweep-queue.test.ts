// The queue launcher end to end, with a real redis-server and workers as separate processes
// (test/fixtures/queue-worker-driver.mjs: `ablate worker` running the fake trial): the same table as
// a local sweep, enqueueing twice and --detach, a worker killed -9 mid-trial, SIGTERM handing a
// trial back, the controller killed and started again, Redis restarted mid-sweep, a trial that
// always fails, cancel.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stitch } from '../src/report/load.js';
import { buildSweep } from '../src/sweep/build.js';
import { QueueLauncher } from '../src/sweep/queue.js';
import { cancelSweep, queueStatus } from '../src/sweep/queue-status.js';
import { readSweepRuns, SWEEP_TAG } from '../src/sweep/records.js';
import { PROCESS_FILE } from '../src/track/file-store.js';
import type { BuiltTrial } from '../src/sweep/build.js';
import type { LaunchContext } from '../src/sweep/run.js';
import { runSweep } from '../src/sweep/run.js';
import { RedisServer, redisMissing } from './fixtures/redis.js';
import { runChild } from './fixtures/sweep-child.js';

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures');
const sweepFile = join(fixtures, 'sweep-basic', 'grid.sweep.yaml');
const fake = join(fixtures, 'sweep-fake-trial.mjs');
const driver = join(fixtures, 'sweep-driver.mjs');
const workerDriver = join(fixtures, 'queue-worker-driver.mjs');
const quiet = { write: () => true };
const missing = redisMissing();

function tmpStore(): { dir: string; args: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-queue-'));
  return { dir, args: [`track.uri=${join(dir, 'runs')}`, `cache.dir=${join(dir, 'cache')}`] };
}

/** Per trial: status, final metric and curve steps as compare reads them; one trial per key. */
function finalSet(store: string, id: string): Record<string, string> {
  const runs = readSweepRuns(join(store, 'runs'), id, true).filter((r) => r.tags[SWEEP_TAG.role] !== 'parent');
  const out: Record<string, string> = {};
  for (const t of stitch(runs, ['preprocess.crop'], 'seed')) {
    const key = `${t.values['preprocess.crop']},${t.values.seed}`;
    assert.equal(out[key], undefined, `two trials for ${key}`);
    out[key] = `${t.status} ${t.metrics.val_accuracy?.toFixed(6)} steps=${(t.history.val_accuracy ?? []).map((p) => p.step).join(',')}`;
  }
  return out;
}

/** The trial runs of a sweep in the store, by status. */
function runsOf(store: string, id: string) {
  const runs = readSweepRuns(join(store, 'runs'), id).filter((r) => r.tags[SWEEP_TAG.role] !== 'parent');
  return { all: runs, finished: runs.filter((r) => r.info.status === 'FINISHED'), running: runs.filter((r) => r.info.status === 'RUNNING') };
}

interface WorkerProc {
  child: ChildProcess;
  err: () => string;
  exited: Promise<number | null>;
  /** Resolves once stderr matches. */
  saw: (re: RegExp, timeoutMs?: number) => Promise<void>;
}

function startWorker(url: string, queue: string, env: NodeJS.ProcessEnv): WorkerProc {
  const child = spawn(process.execPath, [workerDriver, url, queue], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const saw = async (re: RegExp, timeoutMs = 20_000) => {
    const t0 = Date.now();
    while (!re.test(err)) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`worker never printed ${re}:\n${err}`);
      if (child.exitCode !== null) throw new Error(`worker exited (${child.exitCode}) before printing ${re}:\n${err}`);
      await sleep(25);
    }
  };
  return { child, err: () => err, exited, saw };
}

/** Waits until `count` trials have checkpointed at least `step` steps (the fake's checkpoint files). */
async function checkpointed(store: string, count: number, step = 2, timeoutMs = 20_000): Promise<void> {
  const dir = join(store, 'runs', '.fake-ckpt');
  const t0 = Date.now();
  for (;;) {
    const files = existsSync(dir) ? readdirSync(dir) : [];
    const at = files.map((f) => Number(readFileSync(join(dir, f), 'utf8') || 0));
    if (at.filter((x) => x >= step).length >= count) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`only ${at.length} checkpoint(s) (${at.join(', ')}) after ${timeoutMs} ms`);
    await sleep(25);
  }
}

async function stopWorkers(ws: WorkerProc[]): Promise<void> {
  for (const w of ws) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await Promise.all(ws.map((w) => w.exited));
}

async function queueSweep(url: string, queue: string, args: string[], retries = 1) {
  const launcher = await QueueLauncher.open({ url, queue, retries, out: quiet, pollMs: 100 });
  try {
    return await runSweep(buildSweep(sweepFile, args), { launcher, out: quiet, handleSignals: false, tty: false });
  } finally {
    await launcher.close();
  }
}

let n = 0;
const queueName = () => `t${process.pid}-${++n}`;

describe('queue launcher (BullMQ on a real redis-server)', { skip: missing }, () => {
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
    const env = { FAKE_STEPS: '16', FAKE_STEP_MS: '80', WORKER_LEASE_MS: '1000' };
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
      assert.ok((runs.finished[0]!.metrics.resumed_from ?? 0) > 0, `${a.err()}\n${b.err()}\n${JSON.stringify(runs.all.map((x) => [x.info.status, x.metrics]))}`);
      assert.match(b.err(), /starting/);
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
    const env = { FAKE_STEPS: '40', FAKE_STEP_MS: '50' };
    const store = tmpStore();
    const q = queueName();
    const w = startWorker(redis.url, q, env);
    try {
      const sweepDone = queueSweep(redis.url, q, [...store.args, 'seed=0,1', 'preprocess.crop=border']);
      await w.saw(/starting/);
      const id = buildSweep(sweepFile, [...store.args, 'seed=0,1', 'preprocess.crop=border']).id;
      assert.deepEqual(await cancelSweep(redis.url, q, id), { removed: 1, stopping: 1 });
      const r = await sweepDone;
      assert.equal(r.status, 'KILLED');
      assert.deepEqual(r.trials.map((t) => t.status), ['KILLED', 'KILLED']);
      const runs = runsOf(store.dir, r.id);
      assert.deepEqual(runs.all.map((x) => x.info.status), ['KILLED']);
      assert.match(w.err(), /cancelled/);
    } finally {
      await stopWorkers([w]);
    }
  });
});

describe('queue launcher: Redis restarted mid-sweep', { skip: missing }, () => {
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
      // The trials whose leases lapsed were stopped at a checkpoint and continued from it.
      assert.match(ws.map((w) => w.err()).join('\n'), /its lease was not renewed for \d+\.\d s \(Redis unreachable\?\); stopping it/);
      const killed = runs.all.filter((x) => x.info.status === 'KILLED');
      assert.ok(killed.length >= 1, runs.all.map((x) => x.info.status).join(' '));
      for (const k of killed) {
        const done = runs.finished.find((x) => x.tags['ablate.spec_hash'] === k.tags['ablate.spec_hash'])!;
        assert.ok((done.metrics.resumed_from ?? 0) > 0, 'resumed from the checkpoint');
      }
    } finally {
      await stopWorkers(ws);
      await redis.down();
    }
  });
});
