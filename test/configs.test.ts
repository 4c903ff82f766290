// Every example config is valid, carries the editor schema line, and compiles to a pipeline.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const configs = readdirSync('configs').filter((f) => f.endsWith('.yaml')).sort();

test('there are example configs', () => assert.ok(configs.length > 0));

for (const f of configs) {
  const path = join('configs', f);
  const sweep = f.endsWith('.sweep.yaml');
  test(`${path} starts with the yaml-language-server schema line`, () => {
    const first = readFileSync(path, 'utf8').split('\n')[0];
    assert.equal(first, `# yaml-language-server: $schema=../schemas/${sweep ? 'sweep' : 'experiment'}.schema.json`);
  });
  test(`${path} validates`, () => {
    const r = spawnSync(process.execPath, ['bin/ablate.js', 'validate', path], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ok {2}/);
  });
  if (!sweep) {
    test(`${path} compiles to a stage list (--dry-run)`, () => {
      const r = spawnSync(process.execPath, ['bin/ablate.js', 'run', path, '--dry-run'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^stage\s+key\s+cache/m);
      assert.match(r.stdout, /^ingest\s+[0-9a-f]{16}\s/m);
      assert.match(r.stdout, /^train\s+[0-9a-f]{16}\s/m);
    });
  }
}
