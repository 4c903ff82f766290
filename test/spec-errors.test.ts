// The bad-spec corpus: each file in fixtures/bad-specs is loaded (with the overrides in its
// .args file) and must produce exactly the lines in its .expected file, through the library and
// through the CLI (exit code 2, no stack trace).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadSpec, SpecError } from '../src/spec/index.js';

const dir = 'test/fixtures/bad-specs';
const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && !f.endsWith('.base.yaml'))
  .sort();

const argsOf = (name: string) => {
  const p = join(dir, `${name}.args`);
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
};

test('the corpus has at least 15 bad specs', () => {
  assert.ok(cases.length >= 15, `only ${cases.length} cases`);
});

for (const file of cases) {
  const name = file.replace(/\.yaml$/, '');
  test(`bad spec ${name}`, () => {
    const expected = readFileSync(join(dir, `${name}.expected`), 'utf8').trimEnd();
    let message: string | undefined;
    try {
      loadSpec(join(dir, file), argsOf(name));
    } catch (e) {
      assert.ok(e instanceof SpecError, `expected a SpecError, got ${String(e)}`);
      message = e.message;
    }
    assert.equal(message, expected);
  });
}

test('the CLI prints the same lines, exits 2 and shows no stack trace', () => {
  for (const file of cases.slice(0, 4)) {
    const name = file.replace(/\.yaml$/, '');
    const r = spawnSync(process.execPath, ['bin/ablate.js', 'validate', join(dir, file), ...argsOf(name)], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trimEnd(), readFileSync(join(dir, `${name}.expected`), 'utf8').trimEnd());
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});
