// One small real sweep through `ablate sweep` (real `ablate run` children, real stage cache and
// store): Ctrl-C mid-way, rerun, and check the trials, the shared preprocess and compare.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSweepRuns, SWEEP_TAG } from '../src/sweep/records.js';
import type { SweepResult } from '../src/sweep/run.js';
import { runChild } from './fixtures/sweep-child.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'ablate.js');
const sweepFile = join(root, 'test', 'fixtures', 'sweep-basic', 'grid.sweep.yaml');

test('real sweep: interrupted, resumed, every trial finished once, preprocess once per crop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-sweep-real-'));
  const args = [
    bin,
    'sweep',
    sweepFile,
    'seed=0,1',
    'train.epochs=2',
    'preprocess.crop=border,squish',
    `track.uri=${join(dir, 'runs')}`,
    `cache.dir=${join(dir, 'cache')}`,
    '--jobs',
    '2',
    '--json',
  ];
  // First run: stop it (as Ctrl-C would) once a trial is training.
  let sent = false;
  const first = await runChild(args, {
    onStderr: (err, child) => {
      if (!sent && / done /.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    },
  });
  assert.equal(first.code, 130, first.err);
  const r1 = first.result!;
  assert.ok(r1.trials.some((t) => t.status === 'FINISHED'), first.err);
  assert.ok(r1.trials.some((t) => t.status !== 'FINISHED'), 'stopped before the end');
  const after1 = readSweepRuns(join(dir, 'runs'), r1.id);
  assert.equal(after1.filter((r) => r.info.status === 'RUNNING').length, 0, 'no run left RUNNING after Ctrl-C');

  const second = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(second.status, 0, second.stderr);
  const r2 = JSON.parse(second.stdout.trim().split('\n').at(-1)!) as SweepResult;
  assert.equal(r2.id, r1.id);
  assert.ok(r2.trials.every((t) => t.status === 'FINISHED'));
  for (const t of r1.trials) if (t.status === 'FINISHED') assert.equal(r2.trials[t.index]!.action, 'skip');
  const finished = readSweepRuns(join(dir, 'runs'), r2.id).filter((r) => r.tags[SWEEP_TAG.role] !== 'parent' && r.info.status === 'FINISHED');
  assert.equal(new Set(finished.map((r) => r.tags['ablate.spec_hash'])).size, 4);
  assert.equal(finished.length, 4, 'each trial finished exactly once');
  const computed = [...r1.trials, ...r2.trials].filter((t) => t.stages.preprocess === 'computed').length;
  assert.equal(computed, 2, 'one preprocess per crop over both runs');

  const c = spawnSync(process.execPath, [bin, 'compare', '--store', join(dir, 'runs'), '--format', 'json', '--no-png'], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  const groups = JSON.parse(c.stdout) as { group: Record<string, string>; n: number }[];
  assert.deepEqual(groups.map((g) => g.n), [2, 2]);
});
