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
import { runChild } from './fixtures/sweep-child.js';

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
  test('a worker that cannot reach Redis or write its cache folder says which', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ablate-worker-'));
    writeFileSync(join(dir, 'file'), '');
    // Port 1 on loopback: nothing listens there.
    const problems = await startupProblems('redis://127.0.0.1:1/0', join(dir, 'file', 'cache'), join(dir, 'runs'));
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0]!, /^redis redis:\/\/127\.0\.0\.1:1\/0 unreachable: connect ECONNREFUSED/);
    assert.match(problems[1]!, /^cache folder .*file\/cache not writable: ENOTDIR/);
    const port = await freePort();
    const server = await startupProblems('redis://127.0.0.1:1/0', join(dir, 'cache'), `http://127.0.0.1:${port}`);
    assert.match(server.join('\n'), new RegExp(`tracking server http://127\\.0\\.0\\.1:${port} unreachable: connect ECONNREFUSED`));
  });

  test('one real trial: ablate sweep --queue follows it to the end on an ablate worker, ablate sweep status reads it back', async () => {
    const redis = await RedisServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'ablate-queue-real-'));
    const store = [`track.uri=${join(dir, 'runs')}`, `cache.dir=${join(dir, 'cache')}`];
    const worker = spawn(process.execPath, [bin, 'worker', '--queue', redis.url, '--queue-name', 'real', '--cache', join(dir, 'cache'), '--store', join(dir, 'runs')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let werr = '';
    worker.stderr.on('data', (d) => {
      werr += d;
    });
    const exited = new Promise((resolve) => worker.on('exit', resolve));
    try {
      while (!/taking trials/.test(werr)) await sleep(25);
      const sweep = await runChild([bin, 'sweep', join(fixtures, 'grid.sweep.yaml'), 'seed=0', 'preprocess.crop=border', 'train.epochs=1', ...store, '--queue', redis.url, '--queue-name', 'real', '--json']);
      assert.equal(sweep.code, 0, `${sweep.err}\n${werr}`);
      const r = sweep.result!;
      assert.equal(r.launcher, 'queue');
      assert.equal(r.trials[0]!.status, 'FINISHED');
      assert.equal(r.trials[0]!.stages.train, 'computed');
      assert.ok(r.trials[0]!.metric !== undefined && r.trials[0]!.metric >= 0 && r.trials[0]!.metric <= 1);
      assert.match(sweep.err, /queue real at redis:\/\/127\.0\.0\.1:\d+\/0 \(1 worker connected now\)/);
      assert.match(sweep.err, /1 finished/);
      const runs = readSweepRuns(join(dir, 'runs'), r.id).filter((x) => x.tags[SWEEP_TAG.role] !== 'parent');
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.info.status, 'FINISHED');
      assert.equal(runs[0]!.tags[SWEEP_TAG.worker], `${hostname()}:${worker.pid}`);
      assert.equal(runs[0]!.metrics.val_accuracy, r.trials[0]!.metric);

      const status = ablate(['sweep', 'status', r.id, '--queue', redis.url, '--queue-name', 'real']);
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`sweep ${r.id}: 1 trials · 1 finished · 0 running · 0 waiting · 0 failed`));
      assert.match(status.stdout, /base +completed +1 /);
      const unknown = await queueStatus(redis.url, 'real', 'nope-123');
      assert.equal(formatStatus('nope-123', redis.url, unknown), `no trials of sweep nope-123 on the queue at ${redis.url}`);
    } finally {
      worker.kill('SIGTERM');
      await exited;
      await redis.down();
    }
  });
});
