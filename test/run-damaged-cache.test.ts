// A cached stage damaged after it was committed (a truncated chunk) fails the run with a message
// that names the file and the stage folder to remove, and removing it is enough to recover.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'ablate.js');
const spec = join(root, 'test', 'fixtures', 'sweep-basic', 'base.yaml');
const dir = mkdtempSync(join(tmpdir(), 'ablate-damaged-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const run = () => spawnSync(process.execPath, [bin, 'run', spec, `track.uri=${join(dir, 'runs')}`, `cache.dir=${join(dir, 'cache')}`], { encoding: 'utf8' });

test('a truncated chunk in a cached stage: a clear failure naming the folder to remove, then recovery', () => {
  const first = run();
  assert.equal(first.status, 0, first.stderr);
  const [key] = readdirSync(join(dir, 'cache', 'preprocess'));
  const stageDir = join(dir, 'cache', 'preprocess', key!);
  truncateSync(join(stageDir, 'train', 'images', 'c', '0', '0', '0', '0'), 100);

  const broken = run();
  assert.equal(broken.status, 1);
  const out = broken.stdout + broken.stderr;
  assert.match(out, /chunk 0 is short \(100 of \d+ bytes\)/);
  assert.ok(out.includes(`the cached preprocess stage looks damaged: remove ${stageDir} and rerun`), out);

  rmSync(stageDir, { recursive: true });
  const again = run();
  assert.equal(again.status, 0, again.stderr);
});
