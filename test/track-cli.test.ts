// `ablate ls` and `ablate sync` as a user calls them, on a store written by the tracker.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UsageError } from '../src/cli/args.js';
import { formatDuration, run as ls } from '../src/cli/ls.js';
import { run as sync } from '../src/cli/sync.js';
import { ablateTags, openTracker } from '../src/track/index.js';
import { startFakeMlflow } from './fixtures/track-mlflow-server.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const log = console.log;
  const error = console.error;
  let out = '';
  let err = '';
  console.log = (...a: unknown[]) => {
    out += `${a.join(' ')}\n`;
  };
  console.error = (...a: unknown[]) => {
    err += `${a.join(' ')}\n`;
  };
  try {
    return { code: await fn(), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function store(): Promise<string> {
  const cwd = mkdtempSync(join(tmpdir(), 'ablate-cli-'));
  dirs.push(cwd);
  const tracker = openTracker({ cwd, env: {}, log: () => {} });
  for (const [i, crop] of ['border', 'center', 'squish'].entries()) {
    const run = await tracker.startRun({
      experiment: 'crop-ablation',
      runName: `crop=${crop}`,
      params: { 'preprocess.crop': crop, 'train.lr': '0.001', name: 'crop-ablation' },
      tags: ablateTags({ sweep: { id: 's1', axes: { 'preprocess.crop': crop } } }),
    });
    run.logMetric('val_accuracy', 0.5 + i / 10, 3);
    run.logMetric('train_loss', 1 - i / 10, 3);
    await run.end(i === 2 ? 'FAILED' : 'FINISHED', i === 2 ? new Error('nan loss') : undefined);
    await new Promise((r) => setTimeout(r, 5));
  }
  const other = await tracker.startRun({ experiment: 'other' });
  other.endSync('KILLED');
  return tracker.localRoot;
}

describe('ablate ls / sync', () => {
  it('ls: a param-less sweep parent does not make every param look varied', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'ablate-cli-'));
    dirs.push(cwd);
    const tracker = openTracker({ cwd, env: {}, log: () => {} });
    const parent = await tracker.startRun({ experiment: 'sweepy', runName: 'sweep s2' });
    for (const crop of ['border', 'center']) {
      const run = await tracker.startRun({ experiment: 'sweepy', runName: crop, params: { 'preprocess.crop': crop, 'cache.dir': '.cache/ablate' }, parentRunId: parent.id });
      await run.end('FINISHED');
    }
    await parent.end('FINISHED');
    const r = await capture(() => ls(['sweepy', '--store', tracker.localRoot]));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /preprocess\.crop=center/);
    assert.ok(!r.out.includes('cache.dir='), r.out);
  });

  it('ls shows runs newest first with status, duration, the varied axis and final metrics', async () => {
    const root = await store();
    const r = await capture(() => ls(['crop-ablation', '--store', root]));
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n');
    assert.match(lines[0]!, /^crop-ablation \(experiment \d+, 3 runs\)/);
    assert.match(lines[1]!, /RUN\s+NAME\s+STATUS\s+STARTED\s+DURATION\s+PARAMS\s+METRICS/);
    assert.match(lines[2]!, /crop=squish\s+FAILED .*preprocess\.crop=squish .*val_accuracy=0\.7 train_loss=0\.8/);
    assert.match(lines[3]!, /crop=center\s+FINISHED/);
    assert.match(lines[4]!, /crop=border\s+FINISHED .*val_accuracy=0\.5\b/);
    assert.ok(!r.out.includes('train.lr='), 'a param equal in every run is not a key param');

    const all = await capture(() => ls(['--store', root]));
    assert.match(all.out, /other \(experiment \d+, 1 run\)[\s\S]*KILLED/);
    assert.ok(!all.out.includes('Default'), 'empty experiments are left out');

    const json = await capture(() => ls(['--store', root, '--format', 'json', '--limit', '1']));
    const parsed = JSON.parse(json.out) as { name: string; runs: { status: string; metrics: Record<string, number> }[] }[];
    assert.equal(parsed.find((e) => e.name === 'crop-ablation')!.runs.length, 1);
  });

  it('ls: a trial interrupted and resumed is one row (its latest run); --all shows the history', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'ablate-cli-'));
    dirs.push(cwd);
    const tracker = openTracker({ cwd, env: {}, log: () => {} });
    const trial = async (crop: string, status: 'FINISHED' | 'KILLED') => {
      const run = await tracker.startRun({
        experiment: 'resumed',
        runName: `crop=${crop}`,
        params: { 'preprocess.crop': crop },
        tags: ablateTags({ specHash: `hash-${crop}`, sweep: { id: 's9', axes: { 'preprocess.crop': crop } } }),
      });
      await run.end(status);
      await new Promise((r) => setTimeout(r, 5));
      return run.id;
    };
    const k1 = await trial('border', 'KILLED');
    const k2 = await trial('border', 'KILLED');
    const fin = await trial('border', 'FINISHED');
    const center = await trial('center', 'FINISHED');
    const r = await capture(() => ls(['resumed', '--store', tracker.localRoot]));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^resumed \(experiment \d+, 2 trials, 4 runs\)/);
    assert.match(r.out, /RUN\s+NAME\s+STATUS\s+RUNS/);
    const rows = r.out.split('\n').filter((l) => /^ {2}[0-9a-f]{8} /.test(l));
    assert.deepEqual(rows.map((l) => l.slice(2, 10)), [center, fin].map((id) => id.slice(0, 8)));
    assert.match(rows[1]!, /crop=border\s+FINISHED\s+3 \(2 KILLED before\)/);
    assert.match(r.out, /2 earlier runs of these trials not shown \(--all shows them\)/);

    const all = await capture(() => ls(['resumed', '--store', tracker.localRoot, '--all']));
    const allRows = all.out.split('\n').filter((l) => /^ {2}[0-9a-f]{8} /.test(l));
    assert.deepEqual(allRows.map((l) => l.slice(2, 10)), [center, fin, k2, k1].map((id) => id.slice(0, 8)));
    assert.match(allRows[2]!, /↳ crop=border\s+KILLED/);
    const json = JSON.parse((await capture(() => ls(['resumed', '--store', tracker.localRoot, '--format', 'json']))).out) as { runs: { runId: string; earlierRunIds?: string[] }[] }[];
    assert.deepEqual(json[0]!.runs.map((x) => x.runId), [center, fin]);
    assert.deepEqual(json[0]!.runs[1]!.earlierRunIds, [k2, k1]);
  });

  it('ls: unknown experiment fails with the list, bad options are usage errors, a missing store is not an error', async () => {
    const root = await store();
    const r = await capture(() => ls(['nope', '--store', root]));
    assert.equal(r.code, 1);
    assert.match(r.err, /no experiment "nope".*crop-ablation/);
    await assert.rejects(ls(['--store', root, '--limit', 'x']), UsageError);
    await assert.rejects(ls(['--bogus']), UsageError);
    const missing = await capture(() => ls(['--store', join(root, 'nothing-here')]));
    assert.equal(missing.code, 0);
    assert.match(missing.out, /no runs yet/);
    assert.match((await capture(() => ls(['--help']))).out, /Usage: ablate ls/);
    assert.equal(formatDuration(3_725_000), '1h02m');
  });

  it('sync uploads a local store to a server, exits 1 while the server is down, and needs a server URI', async () => {
    const root = await store();
    await assert.rejects(sync(['--store', root, '--uri', 'runs']), UsageError);
    const s = await startFakeMlflow();
    try {
      s.down = true;
      const down = await capture(() => sync(['--store', root, '--uri', s.url, '--retries', '1']));
      assert.equal(down.code, 1);
      s.down = false;
      const up = await capture(() => sync(['--store', root, '--uri', s.url]));
      assert.equal(up.code, 0, up.err);
      assert.match(up.out, /4 uploaded, 0 skipped, 0 failed/);
      assert.equal(s.runs.size, 4);
      assert.deepEqual([...s.runs.values()].map((r) => r.info.status).sort(), ['FAILED', 'FINISHED', 'FINISHED', 'KILLED']);
      const again = await capture(() => sync(['--store', root, '--uri', s.url]));
      assert.match(again.out, /0 uploaded, 4 skipped/);
    } finally {
      await s.close();
    }
  });
});
