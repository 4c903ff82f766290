// The evaluate stage end to end on a tiny generated shapes set: per-example results
// (predictions.csv) that agree with eval_accuracy and carry each source image's size, and
// evaluate.crop, which must crop the validation images exactly as a run trained with that crop
// preprocesses them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseExamplesCsv } from '../src/train/examples.js';

const dir = mkdtempSync(join(tmpdir(), 'ablate-eval-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const common = ['dataset.count=48', 'preprocess.size=32', 'train.epochs=1', 'train.batchSize=16', 'model.base.width=4', `track.uri=${join(dir, 'runs')}`, `cache.dir=${join(dir, 'cache')}`];

function run(...over: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/ablate.js', 'run', 'configs/crop-ablation.yaml', ...common, ...over], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  return r;
}

function walk(d: string): string[] {
  return readdirSync(d).flatMap((f) => {
    const p = join(d, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** The newest run folder of the store whose params match. */
function runDir(crop: string, evalCrop?: string): string {
  const runs = walk(join(dir, 'runs'))
    .filter((p) => p.endsWith('/params/preprocess.crop') && readFileSync(p, 'utf8').trim() === crop)
    .map((p) => join(p, '..', '..'))
    .filter((r) => {
      const e = join(r, 'params', 'evaluate.crop');
      return evalCrop === undefined ? !existsSync(e) : existsSync(e) && readFileSync(e, 'utf8').trim() === evalCrop;
    });
  assert.equal(runs.length, 1, `runs with crop ${crop}, evaluate.crop ${evalCrop}: ${runs.join(', ')}`);
  return runs[0]!;
}

const metric = (run: string, key: string) => Number(readFileSync(join(run, 'metrics', key), 'utf8').trim().split('\n').at(-1)!.split(' ')[1]);

test('predictions.csv: one row per validation image, agreeing with eval_accuracy, with the source sizes', () => {
  run('preprocess.crop=border');
  const r = runDir('border');
  const rows = parseExamplesCsv(readFileSync(join(r, 'artifacts', 'predictions.csv'), 'utf8'));
  assert.equal(rows.length, 8); // 48 images: 6 per class, 20% of each class (one image) held out
  const acc = rows.reduce((s, x) => s + x.correct, 0) / rows.length;
  assert.ok(Math.abs(acc - metric(r, 'eval_accuracy')) < 1e-9, `per-example accuracy ${acc} vs eval_accuracy ${metric(r, 'eval_accuracy')}`);
  for (const x of rows) {
    assert.ok(x.width >= 200 && x.height >= 200, `${x.id}: ${x.width}×${x.height}`);
    assert.ok(Math.abs(x.aspect - x.width / x.height) < 1e-5);
    assert.equal(x.id.split('/')[0], x.trueClass, 'the id is the source file, under its class folder');
    assert.ok(x.confidence > 0 && x.confidence <= 1);
  }
});

test('evaluate.crop: a center-trained run evaluated with border sees exactly the images a border run preprocesses', () => {
  const r = run('preprocess.crop=center', 'evaluate.crop=border');
  assert.match(r.stdout + r.stderr, /validation images cropped with border \(trained with center\)/);
  const recropped = walk(join(dir, 'cache')).filter((p) => p.includes('/recrop/val/images/') && p.includes('/c/'));
  assert.ok(recropped.length > 0, 'no re-cropped validation arrays');
  const borderPre = walk(join(dir, 'cache', 'preprocess')).filter((p) => p.includes('/val/images/c/'));
  // Among the preprocess entries, the border one holds the same chunks byte for byte.
  const byChunk = (files: string[]) => new Map(files.map((f) => [f.slice(f.indexOf('/val/images/')), readFileSync(f)]));
  const re = byChunk(recropped);
  const entries = [...new Set(borderPre.map((p) => p.slice(0, p.indexOf('/val/images/'))))];
  const same = entries.filter((e) => {
    const pre = byChunk(borderPre.filter((p) => p.startsWith(`${e}/`)));
    return [...re].every(([k, v]) => pre.get(k)?.equals(v));
  });
  assert.equal(same.length, 1, 'exactly the border preprocess entry matches the re-cropped images');
  const ids = (run: string) => parseExamplesCsv(readFileSync(join(run, 'artifacts', 'predictions.csv'), 'utf8')).map((x) => x.id);
  assert.deepEqual(ids(runDir('center', 'border')), ids(runDir('border')), 'the same examples, so arms pair up');
});
