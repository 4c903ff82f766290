// Nothing lost: runs killed at random moments, interrupted, crashing or exiting early leave a store
// that MLflow reads, with whole metric lines, the right final status and every flushed point.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { listExperiments, listRuns, openTracker, type RunRecord } from '../src/track/index.js';
import { checkStore } from './fixtures/track-checker.js';

const WRITER = new URL('./fixtures/track-writer.js', import.meta.url).pathname;
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ablate-kill-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function start(cwd: string, mode: string, experiment?: string): { child: ChildProcess; line: Promise<string>; exit: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(process.execPath, [WRITER, cwd, mode, ...(experiment ? [experiment] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const line = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    // 'close', not 'exit': exit can fire before the last stdout data has been read.
    child.on('close', () => reject(new Error(`writer exited before a line; stderr: ${err}`)));
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, line, exit };
}

function runsOf(root: string): RunRecord[] {
  return listExperiments(root).flatMap((e) => listRuns(root, e.experimentId));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Independent folders, so the tests run side by side; most of their time is node start-up.
describe('lifecycle', { concurrency: true }, () => {
  it('SIGKILL at random points leaves whole lines; the next start marks those runs FAILED', async () => {
    const cwd = tmp();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const w = start(cwd, 'stream');
      ids.push((await w.line).split(' ')[1]!);
      await sleep(10 + Math.floor(Math.random() * 150));
      w.child.kill('SIGKILL');
      assert.equal((await w.exit).signal, 'SIGKILL');
    }
    const root = join(cwd, 'runs');
    // Each writer's start already closed its killed predecessor; the last one is still stuck in
    // RUNNING, as MLflow would show it.
    const before = checkStore(root);
    assert.deepEqual(before.problems, [`${runsOf(root).find((r) => r.info.runId === ids.at(-1))!.info.experimentId}/${ids.at(-1)}: RUNNING but its process is dead`]);

    const tracker = openTracker({ cwd, env: {}, log: () => {} });
    assert.deepEqual(tracker.recovered.map((r) => r.runId), [ids.at(-1)]);
    assert.deepEqual(checkStore(root).problems, []);
    let points = 0;
    assert.deepEqual(runsOf(root).map((r) => r.info.runId).sort(), [...ids].sort());
    for (const r of runsOf(root)) {
      assert.equal(r.info.status, 'FAILED');
      assert.ok(r.info.endTime! >= r.info.startTime);
      assert.match(r.tags['ablate.error']!, /died/);
      for (const key of ['loss', 'train/acc']) {
        const h = r.history[key] ?? [];
        // Whatever reached the disk is a gapless prefix of what was logged.
        assert.deepEqual(h.map((p) => p.value), h.map((_, i) => i), `${r.info.runId} ${key}`);
        assert.deepEqual(h.map((p) => p.step), h.map((_, i) => i));
        points += h.length;
      }
    }
    assert.ok(points >= 12, 'every writer flushed before being killed');
    // A second start finds nothing more to recover.
    assert.deepEqual(openTracker({ cwd, env: {}, log: () => {} }).recovered, []);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} marks the run KILLED with end_time and flushes every buffered metric`, async () => {
      const cwd = tmp();
      const w = start(cwd, 'signal');
      const [, id, n] = (await w.line).split(' ');
      w.child.kill(signal);
      assert.equal((await w.exit).code, signal === 'SIGINT' ? 130 : 143);
      const root = join(cwd, 'runs');
      assert.deepEqual(checkStore(root).problems, []);
      const r = runsOf(root).find((x) => x.info.runId === id)!;
      assert.equal(r.info.status, 'KILLED');
      assert.ok(r.info.endTime! >= r.info.startTime);
      assert.equal(r.history.loss!.length, Number(n));
    });
  }

  it('a signal that lands while a finished run is ending leaves it FINISHED, not KILLED', async () => {
    const cwd = tmp();
    const w = start(cwd, 'ending');
    const id = (await w.line).split(' ')[1];
    w.child.kill('SIGINT');
    assert.equal((await w.exit).code, 130);
    const r = runsOf(join(cwd, 'runs')).find((x) => x.info.runId === id)!;
    assert.equal(r.info.status, 'FINISHED');
    assert.equal(r.history.loss!.length, 5);
  });

  it('an uncaught error marks the run FAILED, with the error as tag and artifact', async () => {
    const cwd = tmp();
    const w = start(cwd, 'throw');
    const id = (await w.line).split(' ')[1];
    assert.equal((await w.exit).code, 1);
    const root = join(cwd, 'runs');
    assert.deepEqual(checkStore(root).problems, []);
    const r = runsOf(root).find((x) => x.info.runId === id)!;
    assert.equal(r.info.status, 'FAILED');
    assert.match(r.tags['ablate.error']!, /Error: boom in epoch 3/);
    assert.match(readFileSync(join(r.dir, 'artifacts', 'error.txt'), 'utf8'), /boom in epoch 3\n\s+at /);
    assert.equal(r.history.loss!.length, 10);
  });

  it('process.exit without end() still flushes and closes the run', async () => {
    const cwd = tmp();
    const w = start(cwd, 'exit');
    const id = (await w.line).split(' ')[1];
    assert.equal((await w.exit).code, 0);
    const r = runsOf(join(cwd, 'runs')).find((x) => x.info.runId === id)!;
    assert.equal(r.info.status, 'FINISHED');
    assert.equal(r.history.loss!.length, 10);
  });

  it('two jobs creating the same experiment at once share it and never mix files', async () => {
    const cwd = tmp();
    const jobs = [start(cwd, 'job', 'sweep-x'), start(cwd, 'job', 'sweep-x')];
    const ids = await Promise.all(jobs.map(async (j) => (await j.line).split(' ')[1]!));
    await Promise.all(jobs.map((j) => j.exit));
    const root = join(cwd, 'runs');
    const checked = checkStore(root);
    assert.deepEqual(checked.problems, []);
    const exps = listExperiments(root).filter((e) => e.name === 'sweep-x');
    assert.equal(exps.length, 1);
    const runs = listRuns(root, exps[0]!.experimentId);
    assert.deepEqual(runs.map((r) => r.info.runId).sort(), [...ids].sort());
    for (const r of runs) {
      assert.equal(r.info.status, 'FINISHED');
      assert.deepEqual(r.history.loss!.map((p) => p.value), Array.from({ length: 800 }, (_, i) => i));
      assert.equal(r.tags.epoch, '799');
      assert.equal(r.params.mode, 'job');
    }
  });
});
