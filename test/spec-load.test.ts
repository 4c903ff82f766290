import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { didYouMean, experimentSchema, hashOf, loadSpec, parseOverride, SpecError } from '../src/spec/index.js';

function files(entries: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'ablate-spec-'));
  for (const [name, text] of Object.entries(entries)) writeFileSync(join(d, name), text);
  return d;
}

test('defaults live in the schema and fill an empty spec', () => {
  const spec = experimentSchema.parse({});
  assert.equal(spec.preprocess.crop, 'center');
  assert.equal(spec.train.backend, 'auto');
  assert.equal(spec.gan.critic.steps, 1);
  assert.equal(spec.model.head.kind, 'linear');
  assert.deepEqual(spec.loss.terms, [{ kind: 'crossentropy', weight: 1, smoothing: 0 }]);
});

test('extends merges mappings key by key and replaces lists; the child wins', () => {
  const d = files({
    'base.yaml': 'name: base\npreprocess: {size: 32, crop: border}\ntrain: {epochs: 5, lr: 0.1}\nloss: {terms: [{kind: mse}]}\n',
    'child.yaml': 'extends: ./base.yaml\ntrain: {epochs: 2}\nloss: {terms: [{kind: crossentropy}]}\n',
  });
  const { spec } = loadSpec(join(d, 'child.yaml'));
  assert.equal(spec.name, 'base');
  assert.equal(spec.preprocess.crop, 'border');
  assert.equal(spec.train.epochs, 2);
  assert.equal(spec.train.lr, 0.1);
  assert.deepEqual(
    spec.loss.terms.map((t) => t.kind),
    ['crossentropy'],
  );
});

test('several bases apply in order, later ones win', () => {
  const d = files({
    'a.yaml': 'train: {epochs: 1, lr: 0.5}\n',
    'b.yaml': 'train: {epochs: 7}\n',
    'c.yaml': 'extends: [./a.yaml, ./b.yaml]\n',
  });
  const { spec } = loadSpec(join(d, 'c.yaml'));
  assert.equal(spec.train.epochs, 7);
  assert.equal(spec.train.lr, 0.5);
});

test('overrides are typed by the schema', () => {
  assert.equal(parseOverride('train.epochs=3', experimentSchema).value, 3);
  assert.deepEqual(parseOverride('preprocess.size=[64,128]', experimentSchema).value, [64, 128]);
  assert.equal(parseOverride('track.experiment=2024', experimentSchema).value, '2024');
  assert.equal(parseOverride('preprocess.flip=true', experimentSchema).value, true);
  assert.equal(parseOverride('model.cut=-3', experimentSchema).value, -3);
  assert.equal(parseOverride('model.cut=before-head', experimentSchema).value, 'before-head');
  assert.equal(parseOverride('loss.terms.0.weight=0.5', experimentSchema).value, 0.5);
  assert.equal(parseOverride('track.tags.owner=me', experimentSchema).value, 'me');
});

test('overrides apply last, after extends', () => {
  const d = files({ 'a.yaml': 'train: {epochs: 4}\npreprocess: {crop: border}\n' });
  const loaded = loadSpec(join(d, 'a.yaml'), ['preprocess.crop=squish', 'train.epochs=2', 'gan.critic.warmup.steps=4', 'gan.critic.warmup.generatorSteps=2']);
  assert.equal(loaded.spec.preprocess.crop, 'squish');
  assert.equal(loaded.spec.train.epochs, 2);
  assert.deepEqual(loaded.spec.gan.critic.warmup, { steps: 4, generatorSteps: 2 });
});

test('an override that names no field is an error naming the override', () => {
  assert.throws(
    () => parseOverride('preprocess.cropp=x', experimentSchema),
    (e: unknown) => e instanceof SpecError && e.message === 'override "preprocess.cropp=x"  preprocess.cropp  names no field; did you mean "crop"?',
  );
  assert.throws(() => parseOverride('no-equals-sign', experimentSchema), SpecError);
});

test('the hash ignores key order and changes with any value', () => {
  const d = files({
    'a.yaml': 'train: {epochs: 2, lr: 0.01}\npreprocess: {crop: border}\n',
    'b.yaml': 'preprocess: {crop: border}\ntrain: {lr: 0.01, epochs: 2}\n',
  });
  const a = loadSpec(join(d, 'a.yaml'));
  const b = loadSpec(join(d, 'b.yaml'));
  assert.equal(a.hash, b.hash);
  assert.notEqual(a.hash, loadSpec(join(d, 'a.yaml'), ['train.epochs=3']).hash);
  assert.equal(a.hash, hashOf(a.spec));
});

test('did-you-mean offers close names and synonyms, nothing for unrelated words', () => {
  assert.equal(didYouMean('centre', ['border', 'center', 'squish']), 'center');
  assert.equal(didYouMean('letterbox', ['border', 'center', 'squish']), 'border');
  assert.equal(didYouMean('batchsize', ['epochs', 'batchSize', 'lr']), 'batchSize');
  assert.equal(didYouMean('zzzzzz', ['border', 'center', 'squish']), undefined);
});

test('issue 13 problem 8: an override value is the text typed, # included (Hydra reads it so)', () => {
  const d = files({ 'a.yaml': 'preprocess: {crop: border}\n' });
  assert.equal(loadSpec(join(d, 'a.yaml'), ['preprocess.fill=#ffffff']).spec.preprocess.fill, '#ffffff');
  assert.equal(loadSpec(join(d, 'a.yaml'), ['track.runName=trial #3']).spec.track.runName, 'trial #3');
  assert.deepEqual(loadSpec(join(d, 'a.yaml'), ['preprocess.fill=[255, 255, 255]']).spec.preprocess.fill, [255, 255, 255]);
});
