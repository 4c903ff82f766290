// Stage keys follow what decides a result, not how often it is logged or checkpointed: a rerun
// with another checkpoint cadence must find the interrupted run's work folder (same key).
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { codeFingerprint } from '../src/pipeline/keys.js';
import { planPipeline } from '../src/pipeline/plan.js';
import { experimentSchema } from '../src/spec/schema.js';

async function keys(input: Record<string, unknown>): Promise<Record<string, string>> {
  const plan = await planPipeline(experimentSchema.parse(input));
  return Object.fromEntries(plan.map((s) => [s.kind, s.key]));
}

for (const task of ['classify', 'super-resolution'] as const) {
  test(`${task}: train.logEvery/checkpointEvery/checkpointMinutes leave the keys alone; train.lr does not`, async () => {
    const base = { task, dataset: { source: 'shapes', count: 80 }, preprocess: { size: 32, ...(task === 'super-resolution' ? { downscale: 2 } : {}) } };
    const a = await keys(base);
    assert.ok(a.train, JSON.stringify(a));
    assert.deepEqual(await keys({ ...base, train: { logEvery: 3, checkpointEvery: 2, checkpointMinutes: 1 } }), a);
    const b = await keys({ ...base, train: { lr: 0.05 } });
    assert.notEqual(b.train, a.train);
    assert.equal(b.preprocess, a.preprocess);
  });
}

// ---- issue 13 ----------------------------------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), 'ablate-keys-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function plan(input: Record<string, unknown>) {
  return Object.fromEntries((await planPipeline(experimentSchema.parse(input))).map((s) => [s.kind, s]));
}

test('problem 2: preprocess.fill is in the key for every crop (transparent pixels are flattened onto it)', async () => {
  for (const crop of ['border', 'center', 'squish']) {
    const black = await keys({ preprocess: { crop, fill: '#000000' } });
    const white = await keys({ preprocess: { crop, fill: '#ffffff' } });
    assert.notEqual(black.preprocess, white.preprocess, crop);
    assert.equal(black.ingest, white.ingest);
  }
  // The same colour written two ways is one entry.
  assert.equal((await keys({ preprocess: { fill: '#ffffff' } })).preprocess, (await keys({ preprocess: { fill: [255, 255, 255] } })).preprocess);
});

test('problem 3: keys carry the code fingerprint and library versions, not a hand-bumped number', async () => {
  const p = await plan({ model: { base: { arch: 'convnet' } } });
  assert.match(p.preprocess!.parts.libs.vips!, /^\d+\.\d+/);
  assert.match(p.preprocess!.parts.libs.sharp!, /^\d+\.\d+/);
  assert.match(p.train!.parts.libs.tfjs!, /^4\./);
  assert.equal(p.train!.parts.libs.backend, 'auto');
  assert.notEqual((await plan({ train: { backend: 'cpu' } })).train!.key, p.train!.key, 'another backend, another key');
  assert.match(p.train!.parts.code, /^[0-9a-f]{16}\+[0-9a-f]{16}$/, 'the stage closure and the backend kernels');
  // Every file a module imports, transitively, is in its fingerprint.
  const dir = join(tmp, 'code');
  mkdirSync(join(dir, 'lib'), { recursive: true });
  writeFileSync(join(dir, 'stage.js'), "import { f } from './lib/a.js';\nexport const stage = f;\n");
  writeFileSync(join(dir, 'lib', 'a.js'), "export { g as f } from './b.js';\n");
  writeFileSync(join(dir, 'lib', 'b.js'), 'export const g = 1;\n');
  const before = codeFingerprint(pathToFileURL(join(dir, 'stage.js')));
  cpSync(dir, join(tmp, 'code2'), { recursive: true });
  writeFileSync(join(tmp, 'code2', 'lib', 'b.js'), 'export const g = 2;\n');
  assert.notEqual(codeFingerprint(pathToFileURL(join(tmp, 'code2', 'stage.js'))), before, 'a change two imports down');
});

test('problem 3: a base model counts by its weight files, a targets file by its content', async () => {
  const model = join(tmp, 'model');
  mkdirSync(model, { recursive: true });
  writeFileSync(join(model, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights: [] }] }));
  writeFileSync(join(model, 'w.bin'), Buffer.alloc(64, 1));
  const spec = { model: { base: { path: model }, cut: 'before-head', trainable: 'head' } };
  const a = await keys(spec);
  assert.ok(a.features);
  const t = statSync(join(model, 'model.json')).mtime;
  writeFileSync(join(model, 'w.bin'), Buffer.alloc(64, 2));
  utimesSync(join(model, 'model.json'), t, t);
  const b = await keys(spec);
  assert.notEqual(b.features, a.features, 'new weights under the same model.json');
  assert.notEqual(b.train, a.train);

  const targets = join(tmp, 'targets.json');
  writeFileSync(targets, JSON.stringify({ circle: [1, 0], square: [0, 1] }));
  const withTargets = { dataset: { targets: { kind: 'file', path: targets } } };
  const c = await keys(withTargets);
  writeFileSync(targets, JSON.stringify({ circle: [0, 1], square: [1, 0] }));
  const d = await keys(withTargets);
  assert.notEqual(d.train, c.train, 'same path, other vectors');
  assert.equal(d.preprocess, c.preprocess);
});

test('a folder dataset is keyed by its file list (sizes, mtimes) and with verify: content by its bytes', async () => {
  const root = join(tmp, 'folder');
  mkdirSync(join(root, 'a'), { recursive: true });
  mkdirSync(join(root, 'b'), { recursive: true });
  writeFileSync(join(root, 'a', '1.png'), 'aaaa');
  writeFileSync(join(root, 'b', '1.png'), 'bbbb');
  // A whole-second mtime, so setting it back below is exact.
  utimesSync(join(root, 'a', '1.png'), 1e9, 1e9);
  const stat = { dataset: { source: 'folder', path: root } };
  const content = { dataset: { source: 'folder', path: root, verify: 'content' } };
  const [s1, c1] = [await keys(stat), await keys(content)];
  // Same size, same mtime, other bytes: only content verification sees it.
  writeFileSync(join(root, 'a', '1.png'), 'AAAA');
  utimesSync(join(root, 'a', '1.png'), 1e9, 1e9);
  assert.equal((await keys(stat)).ingest, s1.ingest);
  assert.notEqual((await keys(content)).ingest, c1.ingest);
  writeFileSync(join(root, 'b', '2.png'), 'more');
  assert.notEqual((await keys(stat)).ingest, s1.ingest, 'a file added');
});
