// `ablate predict` and `ablate export` on a real (tiny) sweep: predicting the validation images'
// files from disk reproduces each run's recorded validation accuracy exactly, which holds only
// if predict prepares every image as the preprocess stage did and reads the scores as evaluate
// does. Bad files are listed and skipped; `--best` picks the sweep's best run; export writes a
// model that loads and a preprocess.json that matches the run's spec.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readIngest } from '../src/data/ingest.js';
import { loadModel } from '../src/models/io.js';
import { listExperiments, listRuns, type RunRecord } from '../src/track/index.js';
import { runChild } from './fixtures/sweep-child.js';

const repo = join(import.meta.dirname, '..', '..');
const bin = join(repo, 'bin', 'ablate.js');
const dir = mkdtempSync(join(tmpdir(), 'ablate-predict-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function parseCsv(text: string): string[][] {
  return text
    .trim()
    .split('\n')
    .map((l) => l.split(','));
}

test('predict reproduces the recorded validation accuracy; --best, bad files, export', async () => {
  const store = join(dir, 'runs');
  const spec = join(dir, 'tiny.yaml');
  // Center crop with a margin, a non-default kernel and ImageNet normalisation: every one of them
  // must be taken from the recorded spec for the pixels to match.
  writeFileSync(
    spec,
    `name: predict-test\ndataset: { source: shapes, count: 72, valFraction: 0.5 }\npreprocess: { size: 16, crop: center, centerFraction: 0.8, kernel: cubic, normalize: imagenet }\nmodel: { base: { arch: convnet, width: 4 } }\ntrain: { epochs: 3, batchSize: 16 }\ntrack: { experiment: predict-test, uri: ${store} }\ncache: { dir: ${join(dir, 'cache')} }\n`,
  );
  writeFileSync(join(dir, 'tiny.sweep.yaml'), 'name: predict-sweep\nbase: ./tiny.yaml\nseeds: [0, 1]\n');
  const sweep = await runChild([bin, 'sweep', join(dir, 'tiny.sweep.yaml'), '--jobs', '2', '--json']);
  assert.equal(sweep.code, 0, sweep.err);
  const runs: RunRecord[] = listExperiments(store)
    .flatMap((e) => listRuns(store, e.experimentId, { history: false }))
    .filter((r) => r.tags['ablate.sweep.role'] !== 'parent');
  assert.equal(runs.length, 2);

  const ingest = await readIngest(join(dir, 'cache', 'ingest', runs[0]!.tags['ablate.stage.ingest']!));
  const val = ingest.splits.val.map((i) => ({ file: join(ingest.root!, (i as { file: string }).file), label: ingest.classes[i.label]! }));
  assert.ok(val.length >= 30, `${val.length} validation images`);
  const truth = new Map(val.map((v) => [v.file, v.label]));
  writeFileSync(join(dir, 'notes.txt'), 'not an image\n');
  const bad = [join(dir, 'notes.txt'), join(dir, 'missing.jpg')];

  const accuracyOf = (csv: string) => {
    const [head, ...rows] = parseCsv(csv);
    assert.deepEqual(head, ['file', 'class', 'prob', 'class_2', 'prob_2']);
    assert.equal(rows.length, val.length, 'one row per usable image');
    for (const r of rows) assert.ok(Number(r[2]) >= Number(r[4]) && Number(r[2]) <= 1, r.join(','));
    return rows.filter((r) => truth.get(r[0]!) === r[1]).length / rows.length;
  };

  for (const r of runs) {
    const out = join(dir, `preds-${r.info.runId}.csv`);
    const p = await runChild([bin, 'predict', r.info.runId.slice(0, 10), ...val.map((v) => v.file), ...bad, '--out', out, '--top', '2', '--store', store]);
    assert.equal(p.code, 0, p.err);
    assert.match(p.err, /skipped 2 of \d+ file/);
    assert.match(p.err, /notes\.txt: /);
    assert.match(p.err, /missing\.jpg: unreadable: ENOENT/);
    assert.equal(accuracyOf(readFileSync(out, 'utf8')), r.metrics.eval_accuracy, `run ${r.info.runId}`);
    assert.equal(r.metrics.eval_accuracy, r.metrics.val_accuracy);
  }

  // --best: the sweep's best run, folders walked; printed rows without --out.
  const top = Math.max(...runs.map((r) => r.metrics.val_accuracy!));
  const folders = [...new Set(val.map((v) => v.file.slice(0, v.file.lastIndexOf('/'))))];
  const b = await runChild([bin, 'predict', sweep.result!.id, '--best', ...folders, '--store', store, '--top', '1']);
  assert.equal(b.code, 0, b.err);
  const chosen = new RegExp(`run (\\w+), best of sweep ${sweep.result!.id}`).exec(b.err)?.[1];
  const best = runs.find((r) => r.info.runId === chosen);
  assert.equal(best?.metrics.val_accuracy, top, b.err);
  assert.ok(b.err.includes(`${ingest.splits.train.length + ingest.splits.val.length} file(s)`), b.err);

  const wrong = await runChild([bin, 'predict', sweep.result!.id, val[0]!.file, '--store', store]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /is a sweep: add --best/);

  // export: the model loads and gives one score per class; preprocess.json is the run's spec.
  const exp = join(dir, 'export');
  const e = await runChild([bin, 'export', best.info.runId, exp, '--store', store]);
  assert.equal(e.code, 0, e.err);
  const pre = JSON.parse(readFileSync(join(exp, 'preprocess.json'), 'utf8'));
  assert.equal(pre.format, 'ablate.preprocess/1');
  assert.deepEqual(pre.input, { width: 16, height: 16, channels: 3, layout: 'NHWC', dtype: 'float32', batch: 'any' });
  assert.equal(pre.resize.crop, 'center');
  assert.equal(pre.resize.centerFraction, 0.8);
  assert.equal(pre.resize.kernel, 'cubic');
  assert.deepEqual(pre.normalize.mean, [0.485, 0.456, 0.406]);
  assert.deepEqual(pre.output.classes, ingest.classes);
  assert.equal(pre.run.metrics.val_accuracy, best.metrics.val_accuracy);
  const model = await loadModel(exp);
  assert.deepEqual(model.outputs[0]!.shape, [null, ingest.classes.length]);
  model.dispose();

  // The report of this real sweep: the setup block's counts and the example strip read back
  // from the real preprocess output (the Chromium end-to-end test renders a fake one).
  const c = await runChild([bin, 'compare', sweep.result!.id, '--store', store, '--out', join(dir, 'report'), '--no-png']);
  assert.equal(c.code, 0, c.err);
  const html = readFileSync(join(dir, 'report', 'report.html'), 'utf8');
  assert.match(html, new RegExp(`<th>dataset</th><td>shapes \\(generated, docs/datasets.md\\): 72 images, ${ingest.splits.train.length} train / ${val.length} validation`));
  assert.match(html, /<th>seeds<\/th><td>0, 1<\/td>/);
  const strip = /<figure class="strip" data-group="[^"]*"><figcaption>[^<]*<small>16×16×3<\/small><\/figcaption><img src="data:image\/png;base64,([^"]+)"/.exec(html);
  assert.ok(strip, 'one strip of 16×16 RGB inputs');
  assert.ok(Buffer.from(strip[1]!, 'base64').length > 1000);
});
