import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const ablate = (...args: string[]) => spawnSync(process.execPath, ['bin/ablate.js', ...args], { encoding: 'utf8' });

test('--help lists every verb and exits 0', () => {
  const r = ablate('--help');
  assert.equal(r.status, 0);
  for (const verb of ['validate', 'run', 'sweep', 'worker', 'compare', 'preview', 'schema', 'ls']) assert.match(r.stdout, new RegExp(`^  ${verb}\\s`, 'm'));
});

test('no verb prints help and exits 2; an unknown verb suggests the closest', () => {
  assert.equal(ablate().status, 2);
  const r = ablate('valdate');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown verb "valdate"; did you mean "validate"\?/);
});

for (const verb of ['validate', 'run', 'sweep', 'worker', 'compare', 'preview', 'ls', 'sync', 'schema', 'demo']) {
  test(`ablate ${verb} --help`, () => {
    const r = ablate(verb, '--help');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: ablate ${verb}`));
  });
}

test('usage errors exit 2 with a message, not a stack', () => {
  const r = ablate('validate', '--bogus', 'x.yaml');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Unknown option '--bogus'/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('validate prints ok and a one-line summary; overrides show in it', () => {
  const r = ablate('validate', 'configs/crop-ablation.yaml', 'preprocess.crop=squish', 'train.epochs=2');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ok {2}configs\/crop-ablation.yaml {2}.*crop=squish@64.*train=2 epochs/);
  assert.equal(r.stdout.trim().split('\n').length, 1);
});

test('a missing spec file is a usage error naming the file', () => {
  const r = ablate('validate', 'configs/nope.yaml');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /configs\/nope.yaml {2}\(file\) {2}cannot read spec: no such file/);
});
