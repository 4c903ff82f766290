// The queue launcher from the command line: `ablate worker` start-up checks and usage errors,
// choosing the launcher (--queue, the spec's `launcher:`, ABLATE_QUEUE), a located error for a bad
// `launcher:`, and one real trial end to end: `ablate sweep --queue` + `ablate worker` running a
// real child `ablate run`, then `ablate sweep status` from another process.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../src/cli/args.js';
import { chooseQueue } from '../src/cli/sweep.js';
import { startupProblems } from '../src/cli/worker.js';
import { SpecError } from '../src/spec/issues.js';
import { buildSweep } from '../src/sweep/build.js';
import { formatStatus, queueStatus } from '../src/sweep/queue-status.js';
import { readSweepRuns, SWEEP_TAG } from '../src/sweep/records.js';
import { freePort, RedisServer, redisMissing } from './fixtures/redis.js';
import { finalSet } from './fixtures/queue-harness.js';
import { runChild } from './fixtures/sweep-child.js';
import { startFakeMlflow } from './fixtures/track-mlflow-server.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'ablate.js');
const fixtures = join(root, 'test', 'fixtures', 'sweep-basic');
const ablate = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('queue launcher: choosing it', () => {
  test('--queue beats the spec, the spec beats ABLATE_QUEUE, launcher: local ignores ABLATE_QUEUE', () => {
    const spec = { kind: 'queue' as const, redis: 'redis://spec:6379/0', queue: 'q1', retries: 3 };
    assert.deepEqual(chooseQueue(spec, { queue: 'redis://flag:1/0' }, { ABLATE_QUEUE: 'redis://env:1/0' }), { url: 'redis://flag:1/0', queue: 'q1', retries: 3 });
    assert.deepEqual(chooseQueue(spec, {}, { ABLATE_QUEUE: 'redis://env:1/0' }), { url: 'redis://spec:6379/0', queue: 'q1', retries: 3 });
    assert.deepEqual(chooseQueue(undefined, { retries: '0' }, { ABLATE_QUEUE: 'redis://env:1/0' }), { url: 'redis://env:1/0', queue: 'ablate', retries: 0 });
    assert.equal(chooseQueue({ kind: 'local' }, {}, { ABLATE_QUEUE: 'redis://env:1/0' }), undefined);
    assert.equal(chooseQueue(undefined, {}, {}), undefined);
    assert.throws(() => chooseQueue(undefined, { queue: 'localhost:6379' }, {}), /--queue expects a redis:\/\/ URL/);
    assert.throws(() => chooseQueue(undefined, { queue: 'redis://h:1/0', retries: '-1' }, {}), /--retries expects a whole number/);
  });

  test('a bad launcher: names the file, the line and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ablate-launcher-'));
    const file = join(dir, 'q.sweep.yaml');
    writeFileSync(file, `base: ${join(fixtures, 'base.yaml')}\ngrid:\n  seed: [0, 1]\nlauncher:\n  kind: queue\n  redis: localhost:6379\n`);
    assert.throws(
      () => buildSweep(file),
      (e: unknown) => e instanceof SpecError && /q\.sweep\.yaml:6:\d+ +launcher\.redis +expected a redis:\/\/ or rediss:\/\/ URL/.test(e.message),
    );
  });

  test('usage errors: no queue, a bad --concurrency, --detach without a queue', async () => {
    const worker = (await import('../src/cli/worker.js')).run;
    const sweep = (await import('../src/cli/sweep.js')).run;
    const saved = process.env.ABLATE_QUEUE;
    delete process.env.ABLATE_QUEUE;
    try {
      await assert.rejects(worker([]), (e: unknown) => e instanceof UsageError && /--queue redis:\/\/host:port\/db is required/.test(e.message));
      await assert.rejects(worker(['--queue', 'redis://127.0.0.1:1/0', '--concurrency', '0']), (e: unknown) => e instanceof UsageError && /--concurrency expects a positive integer, got "0"/.test(e.message));
      await assert.rejects(worker(['--queue', 'http://127.0.0.1:1/0']), (e: unknown) => e instanceof UsageError && /expects a redis:\/\/ URL/.test(e.message));
      await assert.rejects(sweep([join(fixtures, 'grid.sweep.yaml'), '--detach']), (e: unknown) => e instanceof UsageError && /--detach needs the queue launcher/.test(e.message));
      await assert.rejects(sweep(['status', 'some-sweep']), (e: unknown) => e instanceof UsageError && /sweep status needs --queue/.test(e.message));
    } finally {
      if (saved !== undefined) process.env.ABLATE_QUEUE = saved;
    }
  });
});

describe('queue launcher: ablate worker and ablate sweep --queue', { skip: redisMissing() }, () => {
  test('a worker that cannot reach Redis, write its cache folder or use its tracking store says which', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ablate-worker-'));
    writeFileSync(join(dir, 'file'), '');
    // Port 1 on loopback: nothing listens there.
    const problems = await startupProblems('redis://127.0.0.1:1/0', join(dir, 'file', 'cache'), join(dir, 'file', 'runs'));
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.match(problems[0]!, /^redis redis:\/\/127\.0\.0\.1:1\/0 unreachable: connect ECONNREFUSED/);
    assert.match(problems[1]!, /^cache folder .*file\/cache not writable: ENOTDIR/);
    assert.match(problems[2]!, /^tracking store .*file\/runs not writable: ENOTDIR/);
    // An MLflow server: it must answer the API (with this machine's credentials), and the folder
    // that mirrors it here must be writable.
    const port = await freePort();
    const down = await startupProblems('redis://127.0.0.1:1/0', join(dir, 'cache'), `http://127.0.0.1:${port}`, { ABLATE_MIRROR: join(dir, 'file', 'mirror') });
    assert.deepEqual(down.slice(1), [`tracking server http://127.0.0.1:${port} unreachable: ECONNREFUSED`, `local mirror of the tracking server ${join(dir, 'file', 'mirror')} not writable: ENOTDIR`]);
    const server = await startFakeMlflow({ token: 'right' });
    try {
      const refused = await startupProblems('redis://127.0.0.1:1/0', join(dir, 'cache'), server.url, { ABLATE_MIRROR: join(dir, 'mirror'), MLFLOW_TRACKING_TOKEN: 'wrong' });
      assert.match(refused.slice(1).join('\n'), /^tracking server http:\/\/127\.0\.0\.1:\d+ refuses this worker's credentials \(401 UNAUTHENTICATED; MLFLOW_TRACKING_TOKEN/);
      const fine = await startupProblems('redis://127.0.0.1:1/0', join(dir, 'cache'), server.url, { ABLATE_MIRROR: join(dir, 'mirror'), MLFLOW_TRACKING_TOKEN: 'right' });
      assert.equal(fine.length, 1, fine.join('\n'));
    } finally {
      await server.close();
    }
  });

  test('real trials: the same sweep through ablate sweep --queue and two ablate workers gives the same table as run locally; ablate sweep status reads it back', async () => {
    const redis = await RedisServer.start();
    // Two trials of the tiny classify spec on generated shapes (seconds each), 2 epochs so each has
    // a curve; train.workers pinned, as docs/distributed.md says to across machines: the local
    // sweep's children and the workers' children get different core shares.
    const trialArgs = [join(fixtures, 'grid.sweep.yaml'), 'seed=0,1', 'preprocess.crop=border', 'train.epochs=2', 'train.workers=1'];
    const storeArgs = (d: string) => [`track.uri=${join(d, 'runs')}`, `cache.dir=${join(d, 'cache')}`];
    const local = mkdtempSync(join(tmpdir(), 'ablate-queue-real-local-'));
    const dir = mkdtempSync(join(tmpdir(), 'ablate-queue-real-'));
    const start = () => {
      const w = spawn(process.execPath, [bin, 'worker', '--queue', redis.url, '--queue-name', 'real', '--cache', join(dir, 'cache'), '--store', join(dir, 'runs')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      w.stderr.on('data', (d) => {
        err += d;
      });
      return { w, err: () => err, exited: new Promise((resolve) => w.on('exit', resolve)) };
    };
    const workers = [start(), start()];
    try {
      // Locally first, with its own cache (a shared one would hand the queue's trials its results).
      const l = await runChild([bin, 'sweep', ...trialArgs, ...storeArgs(local), '--jobs', '2', '--json']);
      assert.equal(l.code, 0, l.err);
      for (const w of workers) while (!/taking trials/.test(w.err())) await sleep(25);
      const sweep = await runChild([bin, 'sweep', ...trialArgs, ...storeArgs(dir), '--queue', redis.url, '--queue-name', 'real', '--json']);
      const werr = workers.map((w) => w.err()).join('\n');
      assert.equal(sweep.code, 0, `${sweep.err}\n${werr}`);
      const r = sweep.result!;
      assert.equal(r.launcher, 'queue');
      assert.equal(r.id, l.result!.id, 'the same sweep');
      assert.deepEqual(r.trials.map((t) => [t.status, t.stages.train]), [['FINISHED', 'computed'], ['FINISHED', 'computed']]);
      // Same seeds, same numbers: the final metric of each trial and, from the stores, each
      // trial's status, final value and curve steps as compare reads them.
      assert.deepEqual(r.trials.map((t) => t.metric), l.result!.trials.map((t) => t.metric));
      assert.ok(r.trials.every((t) => t.metric !== undefined && t.metric >= 0 && t.metric <= 1));
      assert.deepEqual(finalSet(dir, r.id), finalSet(local, l.result!.id));
      const losses = (d: string, id: string) =>
        readSweepRuns(join(d, 'runs'), id)
          .filter((x) => x.tags[SWEEP_TAG.role] !== 'parent')
          .map((x) => `${x.tags['ablate.axis.seed']} val_loss=${x.metrics.val_loss} train_loss=${x.metrics.train_loss}`)
          .sort();
      assert.deepEqual(losses(dir, r.id), losses(local, l.result!.id), 'the same losses to the last bit');
      assert.match(sweep.err, /queue real at redis:\/\/127\.0\.0\.1:\d+\/0 \(2 workers connected now\)/);
      assert.match(sweep.err, /2 finished/);
      const runs = readSweepRuns(join(dir, 'runs'), r.id).filter((x) => x.tags[SWEEP_TAG.role] !== 'parent');
      assert.equal(runs.length, 2);
      assert.ok(runs.every((x) => x.info.status === 'FINISHED'));
      const pids = workers.map((w) => `${hostname()}:${w.w.pid}`);
      assert.ok(runs.every((x) => pids.includes(x.tags[SWEEP_TAG.worker]!)), runs.map((x) => x.tags[SWEEP_TAG.worker]).join(', '));

      const status = ablate(['sweep', 'status', r.id, '--queue', redis.url, '--queue-name', 'real']);
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`sweep ${r.id}: 2 trials · 2 finished · 0 running · 0 waiting · 0 failed`));
      assert.match(status.stdout, /seed=0 +completed +1 /);
      const unknown = await queueStatus(redis.url, 'real', 'nope-123');
      assert.equal(formatStatus('nope-123', redis.url, unknown), `no trials of sweep nope-123 on the queue at ${redis.url}`);
    } finally {
      for (const w of workers) w.w.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
      await redis.down();
    }
  });
});
