// The stage lock: mutual exclusion between processes, takeover of a dead holder's lock by exactly
// one of several waiters, and no lock file left that blocks forever.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { acquire, bootId, LockTimeoutError, processStart, readHolder } from '../src/cache/lock.js';

const CONTENDER = new URL('./fixtures/lock-contender.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'ablate-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A pid that is not running: a child that has already exited. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => c.on('exit', r));
  return c.pid!;
}

function contenders(lock: string, log: string, n: number, rounds: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, () => {
      const c = spawn(process.execPath, [CONTENDER, lock, log, String(rounds)], { stdio: ['ignore', 'ignore', 'inherit'] });
      return new Promise<number>((r) => c.on('exit', (code) => r(code ?? -1)));
    }),
  );
}

/** Every "enter" is followed by the same process's "leave" before anyone else enters. */
function assertExclusive(log: string, expected: number): void {
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 2 * expected);
  for (let i = 0; i < lines.length; i += 2) {
    const [a, pa] = lines[i]!.split(' ');
    const [b, pb] = lines[i + 1]!.split(' ');
    assert.deepEqual([a, b, pa], ['enter', 'leave', pb], `overlap at line ${i + 1}:\n${lines.slice(Math.max(0, i - 2), i + 4).join('\n')}`);
  }
}

test('processes fighting over a lock left by a dead holder: one at a time, nothing left behind', async () => {
  for (let trial = 0; trial < 8; trial++) {
    const dir = join(root, `fight-${trial}`);
    const lock = join(dir, 'stage.lock');
    const log = join(dir, 'log');
    await acquire(join(dir, 'warm'), {}).then((r) => r());
    writeFileSync(lock, JSON.stringify({ pid: await deadPid(), host: hostname(), since: Date.now() }));
    writeFileSync(log, '');
    assert.deepEqual(await contenders(lock, log, 6, 3), [0, 0, 0, 0, 0, 0]);
    assertExclusive(log, 18);
    assert.ok(!existsSync(lock), 'released');
    assert.deepEqual(readdirSync(dir).sort(), ['log'], 'no temporary or set-aside files left');
  }
});

test('a live holder is waited for; an unreadable lock file is waited for, then taken over once old', async () => {
  const dir = join(root, 'wait');
  const lock = join(dir, 'stage.lock');
  const release = await acquire(lock);
  let waitedFor: unknown;
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 100);
  await assert.rejects(acquire(lock, { pollMs: 5, signal: abort.signal, onWait: (h) => (waitedFor = h) }));
  assert.equal((waitedFor as { pid: number }).pid, process.pid);
  release();
  assert.ok(!existsSync(lock));

  // A half-written lock file (e.g. from a crash in an older version): fresh, it may be a write in
  // progress; ten seconds old, it is debris.
  writeFileSync(lock, '');
  const soon = new AbortController();
  setTimeout(() => soon.abort(), 100);
  await assert.rejects(acquire(lock, { pollMs: 5, signal: soon.signal }));
  const old = (Date.now() - 60_000) / 1000;
  utimesSync(lock, old, old);
  (await acquire(lock, { pollMs: 5, signal: AbortSignal.timeout(5000) }))();
  assert.ok(!existsSync(lock));
});

test('release removes only its own lock', async () => {
  const dir = join(root, 'own');
  const lock = join(dir, 'stage.lock');
  const release = await acquire(lock);
  // Someone replaced it (e.g. took it over by mistake): releasing must not delete theirs.
  const theirs = JSON.stringify({ pid: process.pid, host: hostname(), since: 1, token: 'x' });
  writeFileSync(lock, theirs);
  release();
  assert.equal(readFileSync(lock, 'utf8'), theirs);
});

// Issue 13, problem 5: a lock judged by pid alone waited forever on a reused pid and never on a
// holder of another host.
test('a lock whose pid now belongs to another process (pid reuse in a container) is taken over', async () => {
  const dir = join(root, 'reuse');
  const lock = join(dir, 'stage.lock');
  mkdirSync(dir, { recursive: true });
  // The parent process is alive, but it started long before this recorded start time: the holder
  // that wrote the lock is gone and its pid was handed to someone else.
  const start = processStart(process.ppid);
  if (start === undefined) return void console.log('skipped: no /proc to read process start times');
  writeFileSync(lock, JSON.stringify({ pid: process.ppid, host: hostname(), boot: bootId(), start: start + 12345, since: Date.now() - 1000, token: 'old' }));
  const release = await acquire(lock, { pollMs: 5, signal: AbortSignal.timeout(3000) });
  assert.equal(readHolder(lock)?.pid, process.pid);
  release();
});

test('a holder on another host that stops renewing its lease is taken over after the lease; one that renews is waited for, with a timeout naming it', async () => {
  const dir = join(root, 'lease');
  const lock = join(dir, 'stage.lock');
  mkdirSync(dir, { recursive: true });
  const foreign = { pid: 4242, host: 'other-machine', boot: 'b', start: 1, since: Date.now(), token: 'far', leaseMs: 300 };
  writeFileSync(lock, JSON.stringify(foreign));
  let waitedFor: unknown;
  const t0 = Date.now();
  const release = await acquire(lock, { pollMs: 10, signal: AbortSignal.timeout(5000), onWait: (h) => (waitedFor = h) });
  const took = Date.now() - t0;
  assert.equal((waitedFor as { host: string }).host, 'other-machine');
  assert.ok(took >= 300 && took < 3000, `took over after ${took} ms (lease 300 ms)`);
  release();

  // The same foreign holder, alive: it touches the file every 50 ms.
  writeFileSync(lock, JSON.stringify(foreign));
  const renew = setInterval(() => {
    const t = new Date();
    utimesSync(lock, t, t);
  }, 50);
  try {
    const err = await acquire(lock, { pollMs: 10, timeoutMs: 900 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof LockTimeoutError, `expected a timeout, got ${String(err)}`);
    assert.match(err.message, /process 4242 on host other-machine/);
  } finally {
    clearInterval(renew);
    rmSync(lock, { force: true });
  }
});

test('a live holder renews its lease: a waiter with a short lease does not take over while it holds', async () => {
  const dir = join(root, 'renew');
  const lock = join(dir, 'stage.lock');
  const held = await acquire(lock, { leaseMs: 120 });
  const waiting = acquire(lock, { pollMs: 10, signal: AbortSignal.timeout(5000) });
  let got = false;
  void waiting.then(() => (got = true));
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(got, false, 'took over a renewed lease');
  assert.equal(held.lost.aborted, false);
  held();
  (await waiting)();
  assert.ok(!existsSync(lock));
});
