// A real sweep (`ablate sweep`, real `ablate run` children and their live uploads) against the
// in-process MLflow stand-in: the parent run is on the server before any trial, the trials nest
// under its server id, a resumed sweep keeps it, and a server that is down costs one line.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readSweepRuns, SWEEP_TAG } from '../src/sweep/records.js';
import type { SweepResult } from '../src/sweep/run.js';
import { FileStore, MlflowClient, syncStore } from '../src/track/index.js';
import { loadSyncState } from '../src/track/sync.js';
import { TAG } from '../src/track/tags.js';
import { type ChildRun, runChild } from './fixtures/sweep-child.js';
import { type FakeMlflow, type FakeRun, startFakeMlflow } from './fixtures/track-mlflow-server.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'ablate.js');
const sweepFile = join(root, 'test', 'fixtures', 'sweep-basic', 'grid.sweep.yaml');
const TOKEN = 'sweep-token-71c2';

const dirs: string[] = [];
const servers: FakeMlflow[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ablate-sweep-mlflow-'));
  dirs.push(d);
  return d;
}
async function server(): Promise<FakeMlflow> {
  const s = await startFakeMlflow({ token: TOKEN });
  servers.push(s);
  return s;
}

/** `ablate sweep` in `cwd` (its local mirror is `cwd/runs`), the server from the environment. */
async function sweep(cwd: string, uri: string, overrides: string[]): Promise<ChildRun & { result: SweepResult }> {
  const env: NodeJS.ProcessEnv = { ...process.env, MLFLOW_TRACKING_URI: uri, MLFLOW_TRACKING_TOKEN: TOKEN };
  delete env.MLFLOW_TRACKING_USERNAME;
  delete env.MLFLOW_TRACKING_PASSWORD;
  // Asynchronous: the fake server answers from this process's event loop.
  const r = await runChild([bin, 'sweep', sweepFile, 'preprocess.crop=border', 'train.epochs=1', ...overrides, `cache.dir=${join(cwd, 'cache')}`, '--jobs', '2', '--json'], { cwd, env });
  assert.ok(r.result, `no JSON result; stderr:\n${r.err}`);
  return r as ChildRun & { result: SweepResult };
}

const sweepRuns = (s: FakeMlflow, id: string) => [...s.runs.values()].filter((r) => r.tags.get(TAG.sweepId) === id);
function serverParent(s: FakeMlflow, id: string): FakeRun {
  const parents = sweepRuns(s, id).filter((r) => r.tags.get(SWEEP_TAG.role) === 'parent');
  assert.equal(parents.length, 1, 'one parent run on the server');
  return parents[0]!;
}
const serverTrials = (s: FakeMlflow, id: string) => sweepRuns(s, id).filter((r) => r.tags.get(SWEEP_TAG.role) !== 'parent');
const parentDir = (cwd: string, localId: string) => new FileStore(join(cwd, 'runs')).findRun(localId)!;

// Concurrent: a sweep here mostly waits (on children, on retries of a server that is down).
describe('sweep with an MLflow server', { concurrency: true }, () => {
  describe('that is up', { concurrency: 1 }, () => {
    const cwd = tmp();
    let s: FakeMlflow;
    let first: SweepResult;
    let parentId: string;

    it('uploads the parent run before any trial, and the trials name its server id as parent', async () => {
      s = await server();
      const r = await sweep(cwd, s.url, ['seed=0,1']);
      assert.equal(r.code, 0, r.err);
      first = r.result;
      assert.equal(first.status, 'FINISHED');

      const parent = serverParent(s, first.id);
      parentId = parent.info.run_id;
      assert.notEqual(parentId, first.parentRunId, 'the parent was created locally first: two ids, so the mapping is needed');
      assert.equal(loadSyncState(parentDir(cwd, first.parentRunId), s.url).runId, parentId);
      const local = readSweepRuns(join(cwd, 'runs'), first.id).find((x) => x.tags[SWEEP_TAG.role] === 'parent')!;
      for (const k of [TAG.sweepId, SWEEP_TAG.role, SWEEP_TAG.name, TAG.runName]) assert.equal(parent.tags.get(k), local.tags[k], `sweep tag ${k}`);
      assert.equal(parent.params.get('sweep.trials'), '2');
      assert.equal(parent.info.status, 'FINISHED');
      assert.ok(parent.info.end_time, 'end time sent');
      assert.equal(parent.metrics.find((m) => m.key === 'trials_finished')?.value, 2);
      for (const a of ['sweep.json', 'results.json']) assert.ok(s.artifacts.has(`${parent.info.experiment_id}/${parentId}/artifacts/${a}`), `artifact ${a} uploaded`);

      const creates = s.requests.filter((q) => q.path.endsWith('/runs/create') && q.status === 200).map((q) => JSON.parse(q.body) as { run_name: string });
      assert.equal(creates[0]?.run_name, `sweep ${first.id}`, 'the parent run exists on the server before any trial run');

      const trials = serverTrials(s, first.id);
      assert.equal(trials.length, 2);
      for (const t of trials) {
        assert.equal(t.info.status, 'FINISHED');
        assert.equal(t.tags.get(TAG.parentRunId), parentId, `trial ${t.info.run_name} nests under the parent's server id`);
      }
      // The local mirror keeps local ids, as `ablate ls`, compare and resume read them.
      for (const t of readSweepRuns(join(cwd, 'runs'), first.id).filter((x) => x.tags[SWEEP_TAG.role] !== 'parent')) assert.equal(t.tags[TAG.parentRunId], first.parentRunId);
    });

    it('a resumed sweep keeps the same server parent run: reopened as RUNNING, finished again', async () => {
      const before = serverParent(s, first.id).info.end_time!;
      const r = await sweep(cwd, s.url, ['seed=0,1']);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.result.id, first.id);
      assert.equal(r.result.parentRunId, first.parentRunId);
      assert.ok(r.result.trials.every((t) => t.action === 'skip'));
      const parent = serverParent(s, first.id);
      assert.equal(parent.info.run_id, parentId);
      assert.equal(parent.info.status, 'FINISHED');
      assert.ok(parent.info.end_time! > before, 'the new end time is sent');
      const updates = s.requests.filter((q) => q.path.endsWith('/runs/update')).map((q) => JSON.parse(q.body) as { run_id: string; status: string });
      assert.ok(updates.some((u) => u.run_id === parentId && u.status === 'RUNNING'), 'the server sees the sweep running again');
      assert.equal(serverTrials(s, first.id).length, 2, 'no trial ran twice');
    });
  });

  it('a closed port: the sweep finishes, one line about the parent, the local mirror complete', async () => {
    const gone = await startFakeMlflow();
    await gone.close();
    const cwd = tmp();
    const r = await sweep(cwd, gone.url, ['seed=0,1']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.result.status, 'FINISHED');
    const lines = r.err.split('\n').filter((l) => l.includes(`sweep parent run ${r.result.parentRunId}`));
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0]!, /`ablate sync` uploads the rest/);

    const runs = readSweepRuns(join(cwd, 'runs'), r.result.id, true);
    const parent = runs.find((x) => x.tags[SWEEP_TAG.role] === 'parent')!;
    assert.equal(parent.info.runId, r.result.parentRunId);
    assert.equal(parent.info.status, 'FINISHED');
    assert.equal(parent.metrics.trials_finished, 2);
    for (const a of ['sweep.json', 'results.json', 'base.spec.yaml']) assert.ok(existsSync(join(parent.dir, 'artifacts', a)), a);
    const trials = runs.filter((x) => x !== parent);
    assert.equal(trials.length, 2);
    for (const t of trials) {
      assert.equal(t.info.status, 'FINISHED');
      assert.equal(t.tags[TAG.parentRunId], r.result.parentRunId);
      assert.ok(t.history.val_accuracy?.length, 'metrics recorded locally');
    }
  });

  it('a trial whose child never opened its run: the run the sweep records for it reaches the server too', async () => {
    const s = await server();
    const cwd = tmp();
    // The stand-in trial exits before opening a run for seed=1 (seed=0's run it uploads itself).
    const driver = join(root, 'test', 'fixtures', 'sweep-driver.mjs');
    const env = { ...process.env, MLFLOW_TRACKING_URI: s.url, MLFLOW_TRACKING_TOKEN: TOKEN, FAKE_STEPS: '2', FAKE_STEP_MS: '5', FAKE_INVALID: 'seed=1' };
    const r = await runChild([driver, sweepFile, 'preprocess.crop=border', 'train.epochs=1', 'seed=0,1'], { cwd, env });
    assert.ok(r.result, r.err);
    assert.equal(r.code, 1, r.err);
    const failed = r.result.trials.filter((t) => t.status === 'FAILED');
    assert.deepEqual(
      failed.map((t) => t.name),
      ['seed=1'],
    );
    const onServer = serverTrials(s, r.result.id).filter((t) => t.tags.get('ablate.axis.seed') === '1');
    assert.equal(onServer.length, 1, 'the recorded run of seed=1');
    const parentId = serverParent(s, r.result.id).info.run_id;
    for (const t of onServer) {
      assert.equal(t.info.status, 'FAILED');
      assert.equal(t.tags.get(TAG.parentRunId), parentId);
    }
  });

  it('a parent uploaded only after its trials: `ablate sync` re-sends their parent tag with its server id', async () => {
    const s = await server();
    const cwd = tmp();
    // The sweep's read of the server (3 tries) and the parent's first upload (3 tries) fail; the
    // trials then upload with its local id.
    s.failures.push('reset', 'reset', 'reset', 'reset', 'reset', 'reset');
    const r = await sweep(cwd, s.url, ['seed=0']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err.split('\n').filter((l) => l.includes('sweep parent run')).length, 1, r.err);
    const parentId = serverParent(s, r.result.id).info.run_id;
    const trial = serverTrials(s, r.result.id)[0]!;
    assert.equal(trial.tags.get(TAG.parentRunId), r.result.parentRunId);

    const client = new MlflowClient({ uri: s.url, env: { MLFLOW_TRACKING_TOKEN: TOKEN } });
    const fixed = await syncStore(join(cwd, 'runs'), client);
    assert.deepEqual(fixed.failed, []);
    assert.equal(trial.tags.get(TAG.parentRunId), parentId);
    const again = await syncStore(join(cwd, 'runs'), client);
    assert.deepEqual(again.synced, [], 'nothing left to send');
  });
});
