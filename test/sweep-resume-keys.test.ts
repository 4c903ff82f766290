// Issue 13, problem 1: a sweep rerun skipped every trial with a FINISHED run of the same spec hash,
// so after files were added to a class folder `compare` showed the old table. A trial now counts
// as done only when a finished run recorded the stage keys it computes now.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildSweep, type BuiltTrial } from '../src/sweep/build.js';
import { dryRun, formatDryRun } from '../src/sweep/dry-run.js';
import { decide, explainChange, type PriorRun } from '../src/sweep/resume.js';
import { type LaunchContext, runSweep } from '../src/sweep/run.js';

const fake = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'sweep-fake-trial.mjs');
const command = (trial: BuiltTrial, ctx: LaunchContext) => ({
  command: process.execPath,
  args: [fake, 'run', ctx.sweep.base.file, ...trial.overrides.map((o) => o.text), '--sweep-id', ctx.sweep.id, '--parent-run', ctx.parentRunId, '--run-name', ctx.runName, ...Object.entries(ctx.tags).flatMap(([k, v]) => ['--tag', `${k}=${v}`]), '--events'],
  env: { ...process.env, FAKE_STEPS: '2', FAKE_STEP_MS: '5' },
  logFile: ctx.logFile,
});
const quiet = { write: () => true };

function classFolder(root: string, name: string, files: number, from = 0): void {
  mkdirSync(join(root, name), { recursive: true });
  for (let i = from; i < from + files; i++) writeFileSync(join(root, name, `img${i}.png`), `not really a png ${i}`);
}

test('after files are added to one dataset, exactly the trials on it rerun, and --dry-run says why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-resume-keys-'));
  const a = join(dir, 'data-a');
  const b = join(dir, 'data-b');
  for (const root of [a, b]) for (const c of ['cat', 'dog']) classFolder(root, c, 3);
  writeFileSync(join(dir, 'base.yaml'), `name: keys\ndataset: { source: folder, path: ${a} }\npreprocess: { size: 16 }\ntrain: { epochs: 1 }\n`);
  writeFileSync(join(dir, 'grid.sweep.yaml'), `base: ./base.yaml\ngrid:\n  dataset.path: [${a}, ${b}]\nseeds: [0, 1]\n`);
  const args = [`track.uri=${join(dir, 'runs')}`, `cache.dir=${join(dir, 'cache')}`];
  const build = () => buildSweep(join(dir, 'grid.sweep.yaml'), args);

  const first = await runSweep(build(), { jobs: 2, command, out: quiet, handleSignals: false });
  assert.equal(first.status, 'FINISHED');
  const again = await runSweep(build(), { jobs: 2, command, out: quiet, handleSignals: false });
  assert.deepEqual(again.trials.map((t) => t.action), ['skip', 'skip', 'skip', 'skip'], 'nothing changed: every trial is done');

  classFolder(a, 'cat', 12, 100);
  const sweep = build();
  const dry = await dryRun(sweep);
  const onA = (name: string) => sweep.trials.find((t) => t.name === name)!.axes['dataset.path'] === a;
  for (const row of dry.rows) {
    if (onA(row.name)) {
      assert.equal(row.action, 'rerun', row.name);
      assert.equal(row.reason, 'dataset changed: 12 files added');
    } else assert.equal(row.action, 'done (skip)', row.name);
  }
  assert.match(formatDryRun(sweep, dry, 2), /runs again: dataset changed: 12 files added/);

  const third = await runSweep(build(), { jobs: 2, command, out: quiet, handleSignals: false });
  assert.equal(third.status, 'FINISHED');
  for (const t of third.trials) assert.equal(t.action, onA(t.name) ? 'rerun' : 'skip', t.name);
  const fourth = await runSweep(build(), { jobs: 2, command, out: quiet, handleSignals: false });
  assert.ok(fourth.trials.every((t) => t.action === 'skip'), 'the rerun trials are done now');
});

test('a code or library change is named; an interrupted run with the same keys resumes', () => {
  const parts = (code: string, sharp: string) => JSON.stringify({ spec: 's', code, libs: { sharp }, data: null });
  const prior: PriorRun = {
    runId: 'r1',
    hash: 'h',
    status: 'FINISHED',
    startTime: 1,
    live: false,
    stages: { ingest: 'i1', preprocess: 'p1', train: 't1' },
    keyParts: { ingest: parts('c', '0.35.5'), preprocess: parts('c', '0.35.5'), train: parts('t', '') },
  };
  const now = { hash: 'h', stages: { ingest: 'i1', preprocess: 'p2', train: 't2' }, keyParts: { ingest: parts('c', '0.35.5'), preprocess: parts('d', '0.35.6'), train: parts('t', '') } };
  assert.equal(explainChange(prior, now), "ablate's preprocess code changed; sharp 0.35.5 → 0.35.6");
  assert.equal(decide(now, [prior]).action, 'rerun');
  assert.equal(decide({ ...now, stages: prior.stages! }, [prior]).action, 'skip');
  assert.equal(decide({ ...now, stages: prior.stages! }, [{ ...prior, status: 'KILLED' }]).action, 'resume');
  // A KILLED run under other keys does not continue: its checkpoints belong to other data.
  const d = decide(now, [{ ...prior, status: 'KILLED' }]);
  assert.equal(d.action, 'rerun');
});
