// The scheduler with a fake trial command (test/fixtures/sweep-fake-trial.mjs): trials as tracked
// child runs, failures recorded and survived, Ctrl-C and kill -9 of the sweep, and resume giving
// the same final set of runs as an uninterrupted sweep.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stitch } from '../src/report/load.js';
import type { BuiltTrial } from '../src/sweep/build.js';
import { buildSweep } from '../src/sweep/build.js';
import { readSweepRuns, SWEEP_TAG } from '../src/sweep/records.js';
import type { LaunchContext } from '../src/sweep/run.js';
import { defaultJobs, runSweep } from '../src/sweep/run.js';
import { TAG } from '../src/track/tags.js';
import { type ChildRun, runChild } from './fixtures/sweep-child.js';

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures');
const sweepFile = join(fixtures, 'sweep-basic', 'grid.sweep.yaml');
const fake = join(fixtures, 'sweep-fake-trial.mjs');
const driver = join(fixtures, 'sweep-driver.mjs');

const fakeCommand = (env: NodeJS.ProcessEnv = {}) => (trial: BuiltTrial, ctx: LaunchContext) => ({
  command: process.execPath,
  args: [fake, 'run', ctx.sweep.base.file, ...trial.overrides.map((o) => o.text), '--sweep-id', ctx.sweep.id, '--parent-run', ctx.parentRunId, '--run-name', ctx.runName, ...Object.entries(ctx.tags).flatMap(([k, v]) => ['--tag', `${k}=${v}`]), '--events'],
  env: { ...process.env, ...env },
  logFile: ctx.logFile,
});

const quiet = { write: () => true };
function tmpStore(): { dir: string; args: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-sweep-'));
  return { dir, args: [`track.uri=${join(dir, 'runs')}`, `cache.dir=${join(dir, 'cache')}`] };
}

/**
 * Per trial (by its axes): status, final metric and learning-curve steps, as compare reads them
 * (a trial continued after an interruption has two runs, stitched into one).
 */
function finalSet(store: string, id: string): Record<string, string> {
  const runs = readSweepRuns(join(store, 'runs'), id, true).filter((r) => r.tags[SWEEP_TAG.role] !== 'parent');
  const out: Record<string, string> = {};
  for (const t of stitch(runs, ['preprocess.crop'], 'seed')) {
    const key = `${t.values['preprocess.crop']},${t.values.seed}`;
    assert.equal(out[key], undefined, `two trials for ${key}`);
    const hist = t.history.val_accuracy ?? [];
    out[key] = `${t.status} ${t.metrics.val_accuracy?.toFixed(6)} steps=${hist.map((p) => p.step).join(',')}`;
  }
  return out;
}

function driverRun(store: { args: string[] }, env: NodeJS.ProcessEnv, onStderr?: (text: string, child: ChildProcess) => void): Promise<ChildRun> {
  return runChild([driver, sweepFile, ...store.args, 'seed=0,1'], { env: { ...process.env, ...env }, ...(onStderr ? { onStderr } : {}) });
}

describe('sweep scheduler', () => {
  test('runs every trial as a tracked child of a parent run, tagged with the sweep and its axes', async () => {
    const store = tmpStore();
    const sweep = buildSweep(sweepFile, [...store.args, 'seed=0,1']);
    const r = await runSweep(sweep, { jobs: 2, command: fakeCommand({ FAKE_STEPS: '5', FAKE_STEP_MS: '10' }), out: quiet, handleSignals: false });
    assert.equal(r.status, 'FINISHED');
    assert.equal(r.trials.length, 6);
    assert.ok(r.trials.every((t) => t.status === 'FINISHED' && t.runId));
    assert.deepEqual(r.trials.map((t) => Number(t.metric!.toFixed(6))), [0.9, 0.91, 0.8, 0.81, 0.7, 0.71]);
    const runs = readSweepRuns(join(store.dir, 'runs'), sweep.id);
    const parent = runs.filter((x) => x.tags[SWEEP_TAG.role] === 'parent');
    assert.equal(parent.length, 1);
    assert.equal(parent[0]!.info.status, 'FINISHED');
    assert.equal(parent[0]!.metrics.trials_finished, 6);
    const children = runs.filter((x) => x.tags[SWEEP_TAG.role] !== 'parent');
    assert.equal(children.length, 6);
    for (const c of children) {
      assert.equal(c.tags['mlflow.parentRunId'], r.parentRunId);
      assert.equal(c.tags[TAG.sweepId], sweep.id);
      assert.match(c.tags[`${TAG.sweepAxis}preprocess.crop`]!, /^(border|center|squish)$/);
      assert.match(c.tags[`${TAG.sweepAxis}seed`]!, /^[01]$/);
    }
    // Trials sharing a crop shared its preprocess stage: 3 executions for 6 trials.
    assert.equal(readFileSync(join(store.dir, 'runs', '.fake-cache', 'executions'), 'utf8').trim().split('\n').length, 3);
    assert.equal(r.trials.filter((t) => t.stages.preprocess === 'computed').length, 3);
    const manifest = JSON.parse(readFileSync(join(parent[0]!.dir, 'artifacts', 'sweep.json'), 'utf8'));
    assert.equal(manifest.trials.length, 6);
    assert.deepEqual(manifest.axes.map((a: { path: string }) => a.path), ['preprocess.crop', 'seed']);
  });

  test('a failing trial is recorded FAILED with its error and the sweep goes on; a rerun retries only those', async () => {
    const store = tmpStore();
    const sweep = buildSweep(sweepFile, [...store.args, 'seed=0,1']);
    const env = { FAKE_STEPS: '6', FAKE_STEP_MS: '10', FAKE_INVALID: 'seed=1', FAKE_CRASH: 'preprocess.crop=center', FAKE_FAIL: 'preprocess.crop=squish' };
    const r = await runSweep(sweep, { jobs: 2, command: fakeCommand(env), out: quiet, handleSignals: false });
    assert.equal(r.status, 'FAILED');
    const by = Object.fromEntries(r.trials.map((t) => [t.name, t]));
    assert.equal(by['crop=border,seed=0']!.status, 'FINISHED');
    assert.equal(by['crop=squish,seed=0']!.status, 'FAILED');
    assert.match(by['crop=squish,seed=0']!.error!, /boom at step 3/);
    assert.match(by['crop=center,seed=0']!.error!, /exited with code 3/);
    assert.match(by['crop=border,seed=1']!.error!, /exited with code 2.*expected one of/s);
    // Every failure is a FAILED run in the store with its error, whoever wrote it.
    const runs = readSweepRuns(join(store.dir, 'runs'), sweep.id).filter((x) => x.tags[SWEEP_TAG.role] !== 'parent');
    assert.equal(runs.length, 6);
    assert.equal(runs.filter((x) => x.info.status === 'FAILED').length, 5);
    for (const x of runs.filter((y) => y.info.status === 'FAILED')) assert.ok(x.tags['ablate.error'], `error tag on ${x.info.runName}`);
    assert.equal(runs.filter((x) => x.info.status === 'RUNNING').length, 0);

    const again = await runSweep(buildSweep(sweepFile, [...store.args, 'seed=0,1']), { jobs: 2, command: fakeCommand({ FAKE_STEPS: '6', FAKE_STEP_MS: '10' }), out: quiet, handleSignals: false });
    assert.equal(again.status, 'FINISHED');
    assert.equal(again.id, r.id);
    const actions = Object.fromEntries(again.trials.map((t) => [t.name, t.action]));
    assert.equal(actions['crop=border,seed=0'], 'skip');
    assert.equal(actions['crop=squish,seed=0'], 'rerun');
    assert.equal(actions['crop=center,seed=0'], 'rerun');
    // The crashed trial still continued from its checkpoint (2 steps were done when it died).
    const center = readSweepRuns(join(store.dir, 'runs'), r.id).find((x) => x.info.runId === again.trials.find((t) => t.name === 'crop=center,seed=0')!.runId);
    assert.equal(center!.metrics.resumed_from, 2);
  });

  test('--fail-fast stops launching after the first failure', async () => {
    const store = tmpStore();
    const sweep = buildSweep(sweepFile, [...store.args, 'seed=0,1']);
    const r = await runSweep(sweep, { jobs: 1, failFast: true, command: fakeCommand({ FAKE_STEPS: '3', FAKE_STEP_MS: '5', FAKE_INVALID: 'seed=1' }), out: quiet, handleSignals: false });
    assert.equal(r.status, 'KILLED');
    assert.deepEqual(r.trials.map((t) => t.status), ['FINISHED', 'FAILED', undefined, undefined, undefined, undefined]);
  });

  test('Ctrl-C stops cleanly (children KILLED), the rerun continues, and the final runs equal an uninterrupted sweep', async () => {
    const env = { FAKE_STEPS: '25', FAKE_STEP_MS: '40', DRIVER_JOBS: '2' };
    const interrupted = tmpStore();
    let sent = false;
    const first = await driverRun(interrupted, env, (err, child) => {
      // Interrupt once two trials are done and a later one is a quarter into training.
      if (!sent && (err.match(/ done /g) ?? []).length >= 2 && /\[[3-6]\/6\][^\n]*running +train (?:[6-9]|1\d|2[0-4])\/25/.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    assert.ok(sent, first.err);
    assert.equal(first.code, 130, first.err);
    assert.equal(first.result!.status, 'KILLED');
    const killed = first.result!.trials.filter((t) => t.status === 'KILLED');
    assert.ok(killed.length >= 1, JSON.stringify(first.result!.trials));
    const runs = readSweepRuns(join(interrupted.dir, 'runs'), first.result!.id);
    assert.equal(runs.filter((x) => x.info.status === 'RUNNING').length, 0, 'no run left RUNNING');
    assert.equal(runs.find((x) => x.tags[SWEEP_TAG.role] === 'parent')!.info.status, 'KILLED');

    const second = await driverRun(interrupted, env);
    assert.equal(second.code, 0, second.err);
    const r2 = second.result!;
    assert.equal(r2.trials.filter((t) => t.action === 'skip').length, first.result!.trials.filter((t) => t.status === 'FINISHED').length);
    for (const k of killed) assert.equal(r2.trials[k.index]!.action, 'resume');
    const resumed = readSweepRuns(join(interrupted.dir, 'runs'), r2.id).filter((x) => killed.some((k) => r2.trials[k.index]!.runId === x.info.runId));
    assert.ok(resumed.some((x) => (x.metrics.resumed_from ?? 0) > 0), 'an interrupted trial continued from its checkpoint');

    const clean = tmpStore();
    const whole = await driverRun(clean, env);
    assert.equal(whole.code, 0, whole.err);
    const a = finalSet(interrupted.dir, r2.id);
    const b = finalSet(clean.dir, whole.result!.id);
    assert.equal(Object.keys(b).length, 6);
    assert.deepEqual(a, b);
  });

  test('kill -9 of the sweep: the rerun waits for orphaned trials, then finishes the rest', async () => {
    const env = { FAKE_STEPS: '20', FAKE_STEP_MS: '40', DRIVER_JOBS: '2' };
    const store = tmpStore();
    let sent = false;
    const first = await driverRun(store, env, (err, child) => {
      if (!sent && (err.match(/ done /g) ?? []).length >= 1 && /train \d+\/20/.test(err)) {
        sent = true;
        child.kill('SIGKILL');
      }
    });
    assert.equal(first.signal, 'SIGKILL');
    const second = await driverRun(store, env);
    assert.equal(second.code, 0, second.err);
    const id = second.result!.id;
    const set = finalSet(store.dir, id);
    assert.equal(Object.keys(set).length, 6);
    const runs = readSweepRuns(join(store.dir, 'runs'), id).filter((x) => x.tags[SWEEP_TAG.role] !== 'parent');
    assert.equal(runs.filter((x) => x.info.status === 'RUNNING').length, 0);
  });
});



test('default parallelism: one trial at a time on a GPU (node-gpu, webgpu), one per core on wasm', () => {
  const none = () => false;
  const gpu = () => true;
  assert.equal(defaultJobs('webgpu', 16, 8, none, none), 1);
  assert.equal(defaultJobs('node-gpu', 16, 8, none, none), 1);
  assert.equal(defaultJobs('wasm', 16, 8, none, gpu), 8);
  assert.equal(defaultJobs('node', 16, 8, none, none), 4);
  // auto resolves as selection would: webgpu only when the probe finds a hardware adapter.
  assert.equal(defaultJobs('auto', 16, 8, none, gpu), 1);
  assert.equal(defaultJobs('auto', 16, 8, none, none), 8);
  assert.equal(defaultJobs('auto', 16, 8, (p) => p === '@tensorflow/tfjs-node', none), 4);
  assert.equal(defaultJobs('auto', 2, 8, none, none), 2);
});
