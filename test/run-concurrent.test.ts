// Issue 13, problem 4: train and evaluate worked in `<cache>/train/<key>`, shared by every run of
// one spec and unlocked, so two runs at once wrote one checkpoint folder. Each run now takes a
// work folder of its own, locked while it lives.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { takeWorkFolder } from '../src/cache/workdir.js';
import { MARKER } from '../src/cache/commit.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'ablate.js');
const spec = join(root, 'test', 'fixtures', 'sweep-basic', 'base.yaml');
const dir = mkdtempSync(join(tmpdir(), 'ablate-concurrent-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('work folders: one per holder, an interrupted one is continued, a finished one reused fresh', async () => {
  const base = join(dir, 'unit', 'train', 'k');
  const a = await takeWorkFolder(base);
  const b = await takeWorkFolder(base);
  assert.notEqual(a.dir, b.dir, 'two holders at once get two folders');
  writeFileSync(join(a.dir, 'checkpoint.json'), '{}');
  a.release();
  const c = await takeWorkFolder(base);
  assert.equal(c.dir, a.dir);
  assert.equal(c.resumed, true, 'the unfinished folder is continued');
  writeFileSync(join(c.dir, MARKER), '{}');
  c.release();
  const d = await takeWorkFolder(base);
  assert.equal(d.dir, a.dir);
  assert.equal(d.resumed, false);
  assert.ok(!existsSync(join(d.dir, 'checkpoint.json')), 'a finished run\'s files are cleared');
  b.release();
  d.release();
});

function run(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((res) => {
    const c = spawn(process.execPath, [bin, 'run', spec, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => res({ code, err }));
  });
}

test('two runs of one spec at once: both finish, each in its own work folder', async () => {
  mkdirSync(dir, { recursive: true });
  // The second run waits for the first's preprocess stage (polling its lock every 250 ms) and must
  // still find the first one training: 2 epochs of this tiny model took less than that once the
  // training step got faster, and the two runs met no longer.
  const args = [`track.uri=${join(dir, 'runs')}`, `cache.dir=${join(dir, 'cache')}`, 'dataset.count=40', 'train.epochs=40', 'model.base.width=4'];
  const [x, y] = await Promise.all([run(args), run(args)]);
  assert.equal(x.code, 0, x.err);
  assert.equal(y.code, 0, y.err);
  const folder = (err: string) => /train \w+: running in (\S+)/.exec(err)?.[1];
  assert.ok(folder(x.err) && folder(y.err), `${x.err}\n${y.err}`);
  assert.notEqual(folder(x.err), folder(y.err));
  // The preprocess stage was computed once and waited for by the other run.
  assert.equal([x.err, y.err].filter((e) => /preprocess \w+: computing/.test(e)).length, 1);
});
