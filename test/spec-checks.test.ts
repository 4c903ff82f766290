// Issue 13, problem 6: `ablate validate` (and run, run --dry-run, sweep) report what a run would
// fail on, or silently not do, from the spec alone, located at the field, all at once. Each case
// here printed "ok" before: it failed in train, after training, or was ignored.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { specCheckIssues } from '../src/pipeline/check.js';
import { loadTaskStages, STAGES } from '../src/pipeline/registry.js';
import { formatIssue } from '../src/spec/issues.js';
import { loadSpec } from '../src/spec/load.js';
import { TASKS } from '../src/spec/schema.js';

const tmp = mkdtempSync(join(tmpdir(), 'ablate-checks-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function specFile(text: string): string {
  const file = join(tmp, `spec-${n++}.yaml`);
  writeFileSync(file, text);
  return file;
}

async function issues(text: string, overrides: string[] = []): Promise<string[]> {
  return (await specCheckIssues(loadSpec(specFile(text), overrides))).map(formatIssue);
}


test('a classify spec with a content loss is told so at the term, not after preprocessing', async () => {
  const file = specFile(`task: classify
loss:
  terms:
    - kind: crossentropy
    - kind: content
      layers: [stage1_relu]
`);
  const got = (await specCheckIssues(loadSpec(file))).map(formatIssue);
  assert.deepEqual(got, [`${file}:5:13  loss.terms.1.kind  "content" compares images: it is a loss for task super-resolution; classify takes crossentropy, mse, mae and cosine`]);
});

test('evaluate.nearest without dataset.targets, and cosine without targets, are found together', async () => {
  const got = await issues(`loss:
  terms: [{ kind: cosine }]
evaluate:
  nearest: { k: 3 }
`);
  assert.equal(got.length, 2, got.join('\n'));
  assert.match(got[0]!, /:2:\d+ {2}loss\.terms\.0\.kind {2}"cosine" needs per-class target vectors: set dataset\.targets$/);
  assert.match(got[1]!, /:4:\d+ {2}evaluate\.nearest {2}needs dataset\.targets/);
  // With targets both are fine.
  assert.deepEqual(await issues('dataset: { targets: { kind: attributes } }\nloss: { terms: [{ kind: cosine }] }\nevaluate: { nearest: { k: 3 } }\n'), []);
});

test('a gan: section on a classify spec is rejected where it starts; other tasks\' fields are named', async () => {
  const got = await issues(`task: classify
gan:
  kind: wgan
model:
  superres: { blocks: 2 }
`);
  assert.equal(got.length, 2, got.join('\n'));
  assert.match(got[0]!, /:2:1 {2}gan {2}is not used by task classify \(it is for task gan\); remove it or set task: gan$/);
  assert.match(got[1]!, /:5:\d+ {2}model\.superres {2}is not used by task classify \(it is for task super-resolution\); remove it$/);
});

test('a GAN honours train.schedule (read, in its key) but is told that train.budget and train.augment do nothing', async () => {
  const gan = 'task: gan\ndataset: { source: mnist }\npreprocess: { size: 28, channels: 1, normalize: symmetric }\n';
  assert.deepEqual(await issues(`${gan}train: { schedule: { kind: cosine, warmupSteps: 5 } }\n`), []);
  const got = await issues(`${gan}train:\n  budget: { samples: 100 }\n  augment: flip\n`);
  assert.deepEqual(
    got.map((l) => l.replace(/^\S+ {2}/, '')),
    ['train.budget  is not used by task gan (it is for task classify and super-resolution); remove it', 'train.augment  is not used by task gan (it is for task classify); remove it'],
  );
});

test('late failures of other stages are found from the spec: classes, imagenet GAN, side not divisible, SR losses', async () => {
  assert.deepEqual(
    (await issues('dataset: { source: shapes, classes: [circle, blob] }\n')).map((l) => l.replace(/^\S+ {2}/, '')),
    [`dataset.classes.1  shapes has no class "blob" (known: ${(await import('../src/data/ingest.js')).knownClasses('shapes')!.join(', ')})`],
  );
  const gan = await issues('task: gan\ndataset: { source: mnist }\npreprocess: { size: 30, normalize: imagenet }\n');
  assert.deepEqual(
    gan.map((l) => l.replace(/^\S+ {2}/, '')),
    ['preprocess.size  is 30, but dcgan upsamples twice by 2, so the image side must be divisible by 4', 'preprocess.normalize  is imagenet, but task gan needs unit or symmetric (the generator ends in sigmoid or tanh)'],
  );
  const sr = await issues('task: super-resolution\npreprocess: { size: 30, downscale: 4 }\nloss: { terms: [{ kind: crossentropy }] }\n');
  assert.equal(sr.length, 2, sr.join('\n'));
  assert.match(sr[0]!, /preprocess\.size {2}30 is not divisible by preprocess\.downscale 4/);
  assert.match(sr[1]!, /loss\.terms\.0\.kind {2}"crossentropy" cannot compare images/);
  assert.match((await issues('model: { cut: before-head, trainable: head }\ntrain: { augment: flip }\n'))[0]!, /train\.augment {2}is flip, but with model\.cut and model\.trainable head/);
  assert.match((await issues('dataset: { source: mnist }\nmodel: { base: { pretrain: { source: shapes, classes: [circle, digit] } } }\n'))[0]!, /model\.base\.pretrain\.classes\.1 {2}"digit" is not a class of the shapes/);
});

test('an override that causes the problem is named as the place', async () => {
  const got = await issues('task: classify\n', ['evaluate.nearest.k=3']);
  assert.equal(got.length, 1);
  assert.match(got[0]!, /^override "evaluate\.nearest\.k=3" {2}evaluate\.nearest {2}needs dataset\.targets/);
});

test('the stage graph: every registered stage loads, provides what it is registered for, and finds its inputs earlier', async () => {
  for (const task of TASKS) {
    const stages = await loadTaskStages(task);
    assert.ok(stages.length >= 4, task);
    assert.deepEqual(
      stages.map((s) => s.impl.kind),
      stages.map((s) => s.reg.provides),
    );
  }
  assert.equal(new Set(STAGES.map((s) => s.module)).size, STAGES.length, 'one registration per module');
});

test('the CLI: validate and run --dry-run exit 2 with the located lines; a sweep names the line of the variant', () => {
  const file = specFile('task: classify\ngan:\n  kind: wgan\nevaluate:\n  nearest: { k: 2 }\n');
  for (const args of [['validate', file], ['run', file, '--dry-run']]) {
    const r = spawnSync(process.execPath, ['bin/ablate.js', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0]!, /:2:1 {2}gan {2}is not used by task classify/);
    assert.match(lines[1]!, /:5:\d+ {2}evaluate\.nearest {2}needs dataset\.targets/);
  }
  const base = specFile('name: b\ndataset: { count: 40 }\n');
  const sweep = join(tmp, 'content.sweep.yaml');
  writeFileSync(sweep, `base: ./${base.split('/').at(-1)}\nvariants:\n  plain: {}\n  perceptual:\n    loss.terms: [{ kind: content, layers: [stage1_relu] }]\n`);
  const r = spawnSync(process.execPath, ['bin/ablate.js', 'validate', sweep], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr.trimEnd(), /content\.sweep\.yaml:5:\d+ {2}loss\.terms\.0\.kind {2}"content" compares images/);
});
