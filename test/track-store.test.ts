// The local store: every example config, run the way the executor runs it, must produce a store
// that the independent MLflow-rules checker accepts and that reads back to what was logged.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import YAML from 'yaml';
import { type ExperimentSpec, experimentSchema, loadSpec, shortHash } from '../src/spec/index.js';
import { FileStore } from '../src/track/file-store.js';
import { LineAppender, PAGE } from '../src/track/fs-util.js';
import { ablateTags, flatten, flattenSpec, listExperiments, listRuns, openTracker, readMetricFile, safeKey } from '../src/track/index.js';
import { formatLine } from '../src/track/metric-line.js';
import { recoverDeadRuns } from '../src/track/recovery.js';
import { checkStore } from './fixtures/track-checker.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ablate-track-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function gitRepo(dir: string): boolean {
  try {
    execFileSync('git', ['init', '-q', dir]);
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'x'], { cwd: dir });
    return true;
  } catch {
    return false;
  }
}

function exampleSpecs(): [string, ExperimentSpec][] {
  const out: [string, ExperimentSpec][] = [];
  const configs = join(process.cwd(), 'configs');
  for (const f of readdirSync(configs).filter((f) => f.endsWith('.yaml') && !f.endsWith('.sweep.yaml')).sort()) {
    out.push([f, loadSpec(join(configs, f)).spec]);
  }
  // Every task, whatever configs/ holds today.
  out.push(['default', experimentSchema.parse({})]);
  out.push(['gan', experimentSchema.parse({ name: 'gan', task: 'gan', preprocess: { normalize: 'symmetric' } })]);
  out.push(['superres', experimentSchema.parse({ name: 'sr', task: 'super-resolution', preprocess: { downscale: 2, size: [64, 32] } })]);
  out.push([
    'transfer',
    experimentSchema.parse({
      name: 'transfer',
      model: { cut: 'stage3_block2_out', head: { kind: 'mlp' } },
      loss: { terms: [{ kind: 'crossentropy' }, { kind: 'content', layers: ['a', 2], weights: [1, 0.5] }] },
      track: { tags: { owner: 'me' }, runName: 'cut-3' },
    }),
  ]);
  return out;
}

describe('local store', () => {
  it('a run of every example config is accepted by the MLflow-rules checker and reads back', async () => {
    const cwd = tmp();
    const inGit = gitRepo(cwd);
    const png = join(cwd, 'curve.png');
    writeFileSync(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    const manifest = join(cwd, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ files: 3, skipped: [{ file: 'bad.jpg', reason: 'unreadable' }] }));
    const tracker = openTracker({ cwd, env: {}, log: () => {} });
    const expected: { id: string; spec: ExperimentSpec; metrics: Record<string, number[]> }[] = [];
    for (const [label, spec] of exampleSpecs()) {
      const run = await tracker.startRun({
        experiment: spec.track.experiment ?? spec.name,
        runName: spec.track.runName ?? `${spec.name}-${label}`,
        tags: { ...spec.track.tags, ...ablateTags({ specHash: shortHash(spec), stages: { ingest: 'k1', train: 'k2' }, backend: 'cpu', version: '0.1.0', sweep: { id: 'sw1', axes: { 'preprocess.crop': 'border', 'train.lr': 0.01 } } }) },
        params: flattenSpec(spec),
        source: `configs/${label}`,
      });
      const metrics: Record<string, number[]> = { 'train/loss': [], val_accuracy: [], grad_norm: [] };
      for (let epoch = 0; epoch < 4; epoch++) {
        const values = { 'train/loss': 1 / (epoch + 1), val_accuracy: 0.25 * epoch + 0.01, grad_norm: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-300][epoch]! };
        run.logMetrics(values, epoch);
        for (const [k, v] of Object.entries(values)) metrics[k]!.push(v);
      }
      await run.logText(YAML.stringify(spec), 'spec.yaml');
      await run.logArtifact(png, 'plots');
      await run.logArtifact(manifest, 'manifests/ingest');
      await run.end('FINISHED');
      assert.equal(run.status, 'FINISHED');
      expected.push({ id: run.id, spec, metrics });
    }

    const checked = checkStore(tracker.localRoot, { gitRepo: inGit });
    assert.deepEqual(checked.problems, []);

    const runs = new Map(listExperiments(tracker.localRoot).flatMap((e) => listRuns(tracker.localRoot, e.experimentId).map((r) => [r.info.runId, r] as const)));
    for (const e of expected) {
      const r = runs.get(e.id);
      assert.ok(r, `run ${e.id} listed`);
      assert.deepEqual(r.params, flattenSpec(e.spec));
      assert.equal(r.tags['ablate.axis.train.lr'], '0.01');
      assert.equal(r.tags['ablate.stage.train'], 'k2');
      for (const [k, values] of Object.entries(e.metrics)) {
        assert.deepEqual(r.history[k]!.map((p) => p.value), values, k);
        assert.deepEqual(r.history[k]!.map((p) => p.step), [0, 1, 2, 3]);
      }
      assert.equal(r.metrics.val_accuracy, 0.76);
      assert.equal(YAML.parse(readFileSync(join(r.dir, 'artifacts', 'spec.yaml'), 'utf8')).name, e.spec.name);
      assert.ok(statSync(join(r.dir, 'artifacts', 'plots', 'curve.png')).isFile());
      assert.match(readFileSync(join(r.dir, 'artifacts', 'manifests', 'ingest', 'manifest.json'), 'utf8'), /bad\.jpg/);
      assert.ok(r.info.endTime! >= r.info.startTime);
    }
    // Slash keys are subfolders, as in MLflow.
    const any = runs.get(expected[0]!.id)!;
    assert.ok(statSync(join(any.dir, 'metrics', 'train', 'loss')).isFile());
    // ls order: newest first.
    const exp = listExperiments(tracker.localRoot).find((e) => e.name === 'transfer')!;
    assert.equal(listRuns(tracker.localRoot, exp.experimentId)[0]!.tags.owner, 'me');
  });

  it('a run folder with a damaged meta.yaml is skipped and reported, the others still read', async () => {
    const tracker = openTracker({ cwd: tmp(), env: {}, log: () => {} });
    const good = await tracker.startRun({ experiment: 'damaged' });
    await good.end('FINISHED');
    const bad = await tracker.startRun({ experiment: 'damaged' });
    await bad.end('FINISHED');
    // localDir is the run's artifacts folder; meta.yaml sits beside it.
    const badDir = join(bad.localDir, '..');
    writeFileSync(join(badDir, 'meta.yaml'), 'run_id: [unclosed\n');
    const skipped: string[] = [];
    const runs = listRuns(tracker.localRoot, good.experimentId, { onUnreadable: (d) => skipped.push(d) });
    assert.deepEqual(runs.map((r) => r.info.runId), [good.id]);
    assert.deepEqual(skipped, [badDir]);
  });

  it('recovery never closes a run that its writer ended just before dying (read, writer ends and exits, check)', async () => {
    const tracker = openTracker({ cwd: tmp(), env: {}, log: () => {} });
    const run = await tracker.startRun({ experiment: 'race' });
    // The liveness check is where the other process finishes: it ends the run, then it is gone.
    const recovered = recoverDeadRuns(tracker.localRoot, undefined, () => {
      run.endSync('FINISHED');
      return false;
    });
    assert.deepEqual(recovered, []);
    assert.equal(listRuns(tracker.localRoot, run.experimentId)[0]!.info.status, 'FINISHED');
    // A writer that died without ending its run is still closed.
    const dead = await tracker.startRun({ experiment: 'race' });
    assert.deepEqual(
      recoverDeadRuns(tracker.localRoot, undefined, () => false).map((r) => r.runId),
      [dead.id],
    );
  });

  it('one experiment per name, with an id derived from it, and Default as 0', () => {
    const root = join(tmp(), 'runs');
    const a = new FileStore(root).ensureExperiment('crop');
    const b = new FileStore(root).ensureExperiment('crop');
    const c = new FileStore(root).ensureExperiment('other');
    assert.equal(a.experiment_id, b.experiment_id);
    assert.notEqual(a.experiment_id, c.experiment_id);
    assert.deepEqual(listExperiments(root).map((e) => e.name).sort(), ['Default', 'crop', 'other']);
    assert.deepEqual(checkStore(root).problems, []);
  });

  it('params are immutable, long values stay out, bad keys are made valid', async () => {
    const messages: string[] = [];
    const tracker = openTracker({ cwd: tmp(), env: {}, log: (m) => messages.push(m) });
    const run = await tracker.startRun({ experiment: 'p', params: { a: '1' } });
    run.logParams({ a: '1' });
    assert.throws(() => run.logParams({ a: '2' }), /already logged/);
    assert.deepEqual(run.logParams({ long: 'x'.repeat(6001), ok: 'x'.repeat(6000) }), ['long']);
    run.logMetric('acc@top5 (val)', 0.5);
    run.setTag('t', 'y'.repeat(9000));
    await run.end();
    const r = listRuns(tracker.localRoot, run.experimentId)[0]!;
    assert.equal(r.params.ok!.length, 6000);
    assert.equal(r.params.long, undefined);
    assert.equal(r.metrics['acc_top5 _val_'], 0.5);
    assert.equal(r.tags.t!.length, 5000);
    assert.ok(messages.some((m) => m.includes('acc@top5')));
    assert.deepEqual(checkStore(tracker.localRoot).problems, []);
  });

  it('flattens specs to dotted keys', () => {
    const f = flatten({ a: { b: 1, c: [1, 2], d: [{ k: 'x' }], e: {}, n: null, u: undefined }, long: 'z'.repeat(6001), 'we[ird]': true });
    assert.deepEqual(f.params, { 'a.b': '1', 'a.c': '[1,2]', 'a.d.0.k': 'x', 'a.e': '{}', 'a.n': 'null', 'we_ird_': 'true' });
    assert.deepEqual(f.omitted, ['long']);
    assert.equal(safeKey('../a//b/./c'), 'a/b/c');
    assert.equal(safeKey('k'.repeat(300)).length, 250);
  });

  it('metric lines never cross a 4 KiB page, so a kill mid-write cuts between lines', () => {
    const path = join(tmp(), 'm');
    const a = new LineAppender(path);
    const sent: number[] = [];
    for (let batch = 0; batch < 60; batch++) {
      const lines: string[] = [];
      for (let i = 0; i < 37; i++) {
        const v = (batch * 37 + i) * 1.0000001e-7 * (i % 3 === 0 ? -1 : 1);
        sent.push(v);
        lines.push(formatLine(1_700_000_000_000 + i, v, batch * 37 + i));
      }
      a.append(lines);
    }
    a.close();
    const buf = readFileSync(path);
    assert.ok(buf.length > 3 * PAGE);
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] !== 0x0a) continue;
      assert.equal(Math.floor(start / PAGE), Math.floor(i / PAGE), `line at ${start} crosses a page`);
      start = i + 1;
    }
    assert.deepEqual(readMetricFile(path).map((p) => p.value), sent);
  });
});
