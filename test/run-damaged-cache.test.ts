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

// Without UV_THREADPOOL_SIZE (the test runner sets it): the size must come from bin/ablate.js.
const { UV_THREADPOOL_SIZE: _, ...env } = process.env;
const run = () => spawnSync(process.execPath, [bin, 'run', spec, `track.uri=${join(dir, 'runs')}`, `cache.dir=${join(dir, 'cache')}`], { encoding: 'utf8', env });

test('a truncated chunk in a cached stage: a clear failure naming the folder to remove, then recovery', () => {
  const first = run();
  assert.equal(first.status, 0, first.stderr);
  // `ablate` starts libuv with room for every image the pool keeps in flight (bin/uv-pool.cjs).
  const m = /(\d+) workers × (\d+) in flight, UV_THREADPOOL_SIZE=(\d+)/.exec(first.stdout + first.stderr);
  assert.ok(m, first.stdout + first.stderr);
  assert.ok(Number(m[3]) >= Number(m[1]) * Number(m[2]), m[0]);
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
