// Expansion is pure: a table of sweep files and command lines against the trials they must give.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SpecError } from '../src/spec/issues.js';
import { sweepSchema } from '../src/spec/schema.js';
import { buildSweep } from '../src/sweep/build.js';
import { CliAxisError, parseCliSweepArgs, splitValues } from '../src/sweep/cli-axes.js';
import { expandSweep, overrideText } from '../src/sweep/expand.js';
import { draw, mulberry32 } from '../src/sweep/random.js';

const fixtures = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'sweep-basic');
const sweep = (s: unknown) => sweepSchema.parse(s);
const run = (s: unknown, args: string[] = []) => expandSweep(sweep(s), parseCliSweepArgs(args));
const names = (s: unknown, args: string[] = []) => run(s, args).trials.map((t) => t.name);
const texts = (s: unknown, args: string[] = []) => run(s, args).trials.map((t) => t.overrides.map((o) => o.text));

describe('splitValues', () => {
  const cases: [string, string[]][] = [
    ['a,b,c', ['a', 'b', 'c']],
    ['[64,128]', ['[64,128]']],
    ['[64,128],32', ['[64,128]', '32']],
    ['"a,b",c', ['"a,b"', 'c']],
    ['a\\,b', ['a,b']],
    ['{x: 1, y: 2}', ['{x: 1, y: 2}']],
    ['', ['']],
  ];
  for (const [raw, want] of cases) test(raw || '(empty)', () => assert.deepEqual(splitValues(raw), want));
});

describe('expandSweep', () => {
  const cases: { name: string; spec: unknown; args?: string[]; trials: string[]; overrides?: string[][] }[] = [
    { name: 'no axes: one trial', spec: { base: 'b.yaml' }, trials: ['base'], overrides: [[]] },
    {
      name: 'grid is cartesian, the last axis varies fastest',
      spec: { base: 'b.yaml', grid: { 'preprocess.crop': ['border', 'center'], 'train.lr': [0.1, 0.01] } },
      trials: ['crop=border,lr=0.1', 'crop=border,lr=0.01', 'crop=center,lr=0.1', 'crop=center,lr=0.01'],
      overrides: [
        ['preprocess.crop=border', 'train.lr=0.1'],
        ['preprocess.crop=border', 'train.lr=0.01'],
        ['preprocess.crop=center', 'train.lr=0.1'],
        ['preprocess.crop=center', 'train.lr=0.01'],
      ],
    },
    {
      name: 'seeds are the innermost replicate axis',
      spec: { base: 'b.yaml', grid: { 'preprocess.crop': ['border', 'squish'] }, seeds: [0, 1] },
      trials: ['crop=border,seed=0', 'crop=border,seed=1', 'crop=squish,seed=0', 'crop=squish,seed=1'],
    },
    {
      name: 'a CLI axis replaces the spec axis of the same field',
      spec: { base: 'b.yaml', grid: { 'preprocess.crop': ['border', 'squish'] }, seeds: [0, 1, 2] },
      args: ['preprocess.crop=center,squish', 'seed=0,1'],
      trials: ['crop=center,seed=0', 'crop=center,seed=1', 'crop=squish,seed=0', 'crop=squish,seed=1'],
    },
    {
      name: 'a new CLI axis is crossed with the spec axes',
      spec: { base: 'b.yaml', grid: { 'preprocess.crop': ['border', 'squish'] } },
      args: ['train.epochs=1,2'],
      trials: ['crop=border,epochs=1', 'crop=border,epochs=2', 'crop=squish,epochs=1', 'crop=squish,epochs=2'],
    },
    {
      name: 'a single-valued CLI override applies to every trial, last',
      spec: { base: 'b.yaml', overrides: { 'train.epochs': 3 }, grid: { 'preprocess.crop': ['border', 'squish'] } },
      args: ['dataset.path=/data/x', 'track.uri=/tmp/runs'],
      trials: ['crop=border', 'crop=squish'],
      overrides: [
        ['train.epochs=3', 'preprocess.crop=border', 'dataset.path=/data/x', 'track.uri=/tmp/runs'],
        ['train.epochs=3', 'preprocess.crop=squish', 'dataset.path=/data/x', 'track.uri=/tmp/runs'],
      ],
    },
    {
      name: 'a single-valued CLI override of an axis field fixes it',
      spec: { base: 'b.yaml', grid: { 'preprocess.crop': ['border', 'squish'], 'train.lr': [0.1, 0.2] } },
      args: ['preprocess.crop=center'],
      trials: ['lr=0.1', 'lr=0.2'],
      overrides: [
        ['train.lr=0.1', 'preprocess.crop=center'],
        ['train.lr=0.2', 'preprocess.crop=center'],
      ],
    },
    {
      name: 'seed=N on the CLI makes one replicate',
      spec: { base: 'b.yaml', grid: { 'preprocess.crop': ['border', 'squish'] }, seeds: [0, 1, 2] },
      args: ['seed=5'],
      trials: ['crop=border', 'crop=squish'],
      overrides: [
        ['preprocess.crop=border', 'seed=5'],
        ['preprocess.crop=squish', 'seed=5'],
      ],
    },
    {
      name: 'variants are the outermost axis, each a list of overrides',
      spec: { base: 'b.yaml', variants: { small: { 'model.base.width': 8 }, big: { 'model.base.width': 32, 'train.lr': 0.01 } }, seeds: [0, 1] },
      trials: ['variant=small,seed=0', 'variant=small,seed=1', 'variant=big,seed=0', 'variant=big,seed=1'],
      overrides: [
        ['model.base.width=8', 'seed=0'],
        ['model.base.width=8', 'seed=1'],
        ['model.base.width=32', 'train.lr=0.01', 'seed=0'],
        ['model.base.width=32', 'train.lr=0.01', 'seed=1'],
      ],
    },
    {
      name: 'variant= on the CLI picks variants by name',
      spec: { base: 'b.yaml', variants: { small: { 'model.base.width': 8 }, big: { 'model.base.width': 32 } } },
      args: ['variant=big'],
      trials: ['base'],
      overrides: [['model.base.width=32']],
    },
    {
      // An override's # is text (issue 13), so a colour goes as typed, as a user would type it.
      name: 'a # in a string value goes as typed',
      spec: { base: 'b.yaml', grid: { 'preprocess.fill': ['#000000', '#ffffff'] } },
      trials: ['fill=#000000', 'fill=#ffffff'],
      overrides: [['preprocess.fill=#000000'], ['preprocess.fill=#ffffff']],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(names(c.spec, c.args), c.trials);
      if (c.overrides) assert.deepEqual(texts(c.spec, c.args), c.overrides);
    });
  }

  test('axes are listed in order, seeds marked as replicates', () => {
    const e = run({ base: 'b', variants: { a: {} }, grid: { 'train.lr': [1, 2] }, random: { n: 2, params: { 'train.batchSize': { int: [1, 4] } } }, seeds: [0] });
    assert.deepEqual(
      e.axes.map((a) => [a.path, a.source, a.replicate]),
      [
        ['variant', 'variants', false],
        ['train.lr', 'grid', false],
        ['train.batchSize', 'random', false],
        ['seed', 'seeds', true],
      ],
    );
    assert.equal(e.trials.length, 1 * 2 * 2 * 1);
  });

  test('random draws are seeded, in range and crossed with the grid', () => {
    const spec = {
      base: 'b',
      grid: { 'preprocess.crop': ['border', 'squish'] },
      random: { n: 5, seed: 3, params: { 'train.lr': { logUniform: [1e-4, 1e-1] }, 'train.batchSize': { int: [4, 16] }, 'train.optimizer': { choice: ['sgd', 'adam'] }, 'train.momentum': { uniform: [0.5, 0.9] } } },
    };
    const a = run(spec);
    const b = run(spec);
    assert.deepEqual(a, b);
    assert.equal(a.trials.length, 10);
    for (const t of a.trials) {
      const lr = t.axes['train.lr'] as number;
      const bs = t.axes['train.batchSize'] as number;
      const m = t.axes['train.momentum'] as number;
      assert.ok(lr >= 1e-4 && lr <= 1e-1, `lr ${lr}`);
      assert.ok(Number.isInteger(bs) && bs >= 4 && bs <= 16, `batch ${bs}`);
      assert.ok(m >= 0.5 && m <= 0.9);
      assert.ok(['sgd', 'adam'].includes(t.axes['train.optimizer'] as string));
    }
    // The same draws for both grid points: random search is crossed with the grid.
    assert.deepEqual(a.trials[0]!.axes['train.lr'], a.trials[5]!.axes['train.lr']);
    const other = run({ ...spec, random: { ...spec.random, seed: 4 } });
    assert.notDeepEqual(other.trials.map((t) => t.axes['train.lr']), a.trials.map((t) => t.axes['train.lr']));
    // A CLI axis on a random field replaces the draws of that field only.
    const cli = run(spec, ['train.lr=0.5,0.25']);
    assert.equal(cli.trials.length, 2 * 2 * 5);
    assert.deepEqual(
      cli.trials.filter((t) => t.axes['train.lr'] === 0.5).map((t) => t.axes['train.batchSize']),
      a.trials.map((t) => t.axes['train.batchSize']),
    );
  });

  test('log-uniform draws spread over decades', () => {
    const u = mulberry32(1);
    const xs = Array.from({ length: 2000 }, () => draw({ logUniform: [1e-4, 1] }, u()) as number);
    const below = xs.filter((x) => x < 1e-2).length / xs.length;
    assert.ok(Math.abs(below - 0.5) < 0.05, `fraction below 1e-2: ${below}`);
    const ints = new Set(Array.from({ length: 500 }, () => draw({ int: [1, 3] }, u())));
    assert.deepEqual([...ints].sort(), [1, 2, 3]);
  });

  test('CLI mistakes are usage errors', () => {
    assert.throws(() => parseCliSweepArgs(['preprocess.crop=a,,b']), CliAxisError);
    assert.throws(() => parseCliSweepArgs(['preprocess.crop=a', 'preprocess.crop=b']), CliAxisError);
    assert.throws(() => run({ base: 'b', variants: { a: {} } }, ['variant=zzz']), /no variant named zzz/);
    assert.throws(() => run({ base: 'b' }, ['seed=-1,2']), /non-negative integer/);
    assert.throws(() => run({ base: 'b' }, ['preprocess.crp=border,center']), (e: unknown) => e instanceof SpecError && /did you mean/.test(e.message));
  });

  test('override texts parse back to the value', () => {
    for (const [path, v] of [
      ['preprocess.fill', '#123456'],
      ['preprocess.fill', [1, 2, 3]],
      ['track.experiment', '2024'],
      ['track.experiment', 'a: b'],
      ['train.lr', 0.001],
      ['preprocess.size', [32, 64]],
      ['cache.enabled', false],
    ] as [string, unknown][]) {
      const text = overrideText(path, v);
      assert.ok(text.startsWith(`${path}=`), text);
    }
    assert.equal(overrideText('track.experiment', '2024'), 'track.experiment=2024');
    assert.equal(overrideText('preprocess.fill', '#123456'), 'preprocess.fill=#123456');
    // What YAML would still misread is quoted: a string that looks like a mapping.
    assert.equal(overrideText('track.experiment', 'a: b'), 'track.experiment="a: b"');
  });
});

describe('buildSweep', () => {
  test('resolves and hashes every trial; same command, same id', () => {
    const a = buildSweep(join(fixtures, 'grid.sweep.yaml'));
    assert.equal(a.trials.length, 9);
    assert.equal(a.name, 'grid');
    assert.match(a.id, /^grid-[0-9a-f]{8}$/);
    assert.equal(new Set(a.trials.map((t) => t.hash)).size, 9);
    assert.deepEqual(a.trials.map((t) => t.spec.preprocess.crop), ['border', 'border', 'border', 'center', 'center', 'center', 'squish', 'squish', 'squish']);
    assert.ok(a.trials.every((t) => t.spec.train.lr === 0.01));
    assert.equal(a.base.spec.train.lr, 0.01);
    assert.equal(a.base.spec.preprocess.crop, 'center');
    assert.equal(buildSweep(join(fixtures, 'grid.sweep.yaml')).id, a.id);
    const b = buildSweep(join(fixtures, 'grid.sweep.yaml'), ['seed=0,1']);
    assert.equal(b.trials.length, 6);
    assert.notEqual(b.id, a.id);
    // A trial of the sweep hashes as the same spec given as overrides.
    assert.deepEqual(b.trials.slice(0, 2).map((t) => t.hash), a.trials.slice(0, 2).map((t) => t.hash));
    // Where the sweep is recorded and cached does not make it another sweep.
    const elsewhere = buildSweep(join(fixtures, 'grid.sweep.yaml'), ['track.uri=/tmp/other-store', 'cache.dir=/tmp/other-cache', 'track.experiment=x']);
    assert.equal(elsewhere.id, a.id);
    assert.notDeepEqual(elsewhere.trials.map((t) => t.hash), a.trials.map((t) => t.hash));
    assert.notEqual(buildSweep(join(fixtures, 'grid.sweep.yaml'), ['train.lr=0.02']).id, a.id);
  });

  test('every invalid value is reported at once, located in the sweep file', () => {
    assert.throws(
      () => buildSweep(join(fixtures, 'bad.sweep.yaml')),
      (e: unknown) => {
        assert.ok(e instanceof SpecError);
        assert.equal(e.issues.length, 1, e.message);
        const [i] = e.issues;
        assert.match(i!.file, /bad\.sweep\.yaml$/);
        assert.equal(i!.line, 3);
        assert.equal(i!.path, 'preprocess.crop');
        assert.match(i!.message, /expected one of border, center, squish.*did you mean "center"/);
        return true;
      },
    );
    assert.throws(
      () => buildSweep(join(fixtures, 'grid.sweep.yaml'), ['train.epochs=0,1']),
      (e: unknown) => e instanceof SpecError && e.issues.length === 1 && e.issues[0]!.file === 'override "train.epochs=0,1"',
    );
  });

  test('variants, random, grid and seeds together; quoted colours reach the spec', () => {
    const s = buildSweep(join(fixtures, 'mixed.sweep.yaml'));
    assert.equal(s.trials.length, 2 * 2 * 2 * 2);
    assert.match(s.id, /^mixed-bag-/);
    const big = s.trials.filter((t) => t.axes.variant === 'big');
    assert.ok(big.every((t) => t.spec.preprocess.fill === '#ff0000' && t.spec.model.base.width === 32));
    assert.ok(s.trials.every((t) => t.spec.seed === t.axes.seed));
  });

  test('trials that resolve to the same spec run once', () => {
    const s = buildSweep(join(fixtures, 'grid.sweep.yaml'), ['preprocess.crop=center,center', 'seed=0']);
    assert.equal(s.trials.length, 1);
    assert.equal(s.duplicates.length, 1);
  });
});
