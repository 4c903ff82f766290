// The ingest and preprocess stages end to end on small generated corpora: shapes, mnist, flips,
// several sizes and super-resolution inputs, and a folder with one planted bad file of each kind.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { ingest } from '../src/data/ingest.js';
import { loadMnist } from '../src/data/mnist.js';
import { createPool, type ImagePool } from '../src/data/pool/pool.js';
import { type PreprocessManifest, preprocessAll, taskStarts } from '../src/data/preprocess.js';
import { openArray } from '../src/data/zarr.js';
import { experimentSchema } from '../src/spec/schema.js';

const tmp = await mkdtemp(join(tmpdir(), 'ablate-stages-'));
let pool: ImagePool;
before(() => {
  pool = createPool(2);
});
after(async () => {
  await pool.close();
  await rm(tmp, { recursive: true, force: true });
});

const spec = (input: Record<string, unknown>) => experimentSchema.parse(input);
const logs: string[] = [];
const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(`WARN ${m}`) };

async function runBoth(name: string, input: Record<string, unknown>): Promise<{ out: string; m: PreprocessManifest }> {
  const s = spec(input);
  const ingestDir = join(tmp, name, 'ingest');
  const out = join(tmp, name, 'pre');
  await ingest({ dataset: s.dataset, seed: s.seed, out: ingestDir, pool, log });
  const m = await preprocessAll({
    ingestDir,
    out,
    preprocess: s.preprocess,
    maxPixels: s.dataset.maxPixels,
    maxBadFraction: s.dataset.maxBadFraction,
    version: 1,
    pool,
    log,
  });
  return { out, m };
}

test('shapes: generated, split, preprocessed; deterministic per seed', async () => {
  const { out, m } = await runBoth('shapes', { seed: 3, dataset: { source: 'shapes', count: 80 }, preprocess: { size: 32, crop: 'border', chunk: 16 } });
  assert.equal(m.splits.train.count + m.splits.val.count, 80);
  assert.equal(m.splits.val.count, 16, '20% of each class');
  assert.equal(m.skipped.length, 0);
  assert.equal(m.classes.length, 8);
  const images = await openArray(join(out, 'train', 'images'));
  assert.deepEqual(images.shape, [64, 32, 32, 3]);
  const labels = await openArray(join(out, 'train', 'labels'));
  const l = (await labels.readChunk(0)) as Int32Array;
  assert.ok(l.every((v) => v >= 0 && v < 8));
  assert.ok(new Set(l.subarray(0, 16)).size >= 4, 'stored order is shuffled across classes');
  // same seed → same bytes; the generated files and their order are a function of the seed
  const again = await runBoth('shapes2', { seed: 3, dataset: { source: 'shapes', count: 80 }, preprocess: { size: 32, crop: 'border', chunk: 16 } });
  assert.deepEqual(again.m.splits.train.files, m.splits.train.files);
  const a = await images.readChunk(1);
  const b = await (await openArray(join(again.out, 'train', 'images'))).readChunk(1);
  assert.deepEqual(a, b);
  const other = await runBoth('shapes3', { seed: 4, dataset: { source: 'shapes', count: 80 }, preprocess: { size: 32, crop: 'border', chunk: 16 } });
  assert.notDeepEqual(other.m.splits.train.files, m.splits.train.files);
});

test('mnist: 28×28×1 digits stored as they ship', async () => {
  const { out, m } = await runBoth('mnist', { dataset: { source: 'mnist', limit: { train: 100, val: 40 } }, preprocess: { size: 28, channels: 1, chunk: 32 } });
  assert.equal(m.splits.train.count, 100);
  assert.equal(m.splits.val.count, 40);
  assert.deepEqual(m.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const images = await openArray(join(out, 'train', 'images'));
  assert.deepEqual(images.shape, [100, 28, 28, 1]);
  const digits = await loadMnist();
  assert.equal(digits.labels.length, 10_000);
  const row0 = Number(m.splits.train.files[0]!.split(':')[1]);
  const got = (await images.readChunk(0)).subarray(0, 784);
  assert.deepEqual(got, digits.images.subarray(row0 * 784, (row0 + 1) * 784));
  const labels = (await (await openArray(join(out, 'train', 'labels'))).readChunk(0)) as Int32Array;
  assert.equal(labels[0], digits.labels[row0]);
});

test('flip copies, several sizes and super-resolution inputs', async () => {
  const { out, m } = await runBoth('multi', {
    dataset: { source: 'shapes', count: 40, valFraction: 0.5 },
    preprocess: { size: [32, 16], crop: 'center', flip: true, downscale: 4, chunk: 8 },
    task: 'super-resolution',
  });
  // 5 per class, round(2.5) = 3 to val: 16 training images, 32 rows with their mirrors
  assert.equal(m.splits.train.sources, 16);
  assert.deepEqual(m.splits.train.arrays, { images: [32, 32, 32, 3], images_16: [32, 16, 16, 3], inputs_lr: [32, 8, 8, 3], labels: [32], index: [32] });
  const images = await openArray(join(out, 'train', 'images'));
  const orig = (await images.readChunk(0)) as Uint8Array;
  const mirror = (await images.readChunk(1)) as Uint8Array;
  for (let i = 0; i < 8; i++)
    for (let y = 0; y < 32; y += 7)
      for (let x = 0; x < 32; x += 5)
        for (let c = 0; c < 3; c++) assert.equal(mirror[((i * 32 + y) * 32 + 31 - x) * 3 + c], orig[((i * 32 + y) * 32 + x) * 3 + c]);
  const index = (await (await openArray(join(out, 'train', 'index'))).readChunk(0)) as Int32Array;
  const index1 = (await (await openArray(join(out, 'train', 'index'))).readChunk(1)) as Int32Array;
  assert.deepEqual(index1, index, 'the mirror chunk follows its originals');
  // Flips are training augmentation only: validation holds each image once.
  assert.equal(m.splits.val.arrays.images![0], m.splits.val.sources);
});

test('task boundaries: contiguous, at most taskSize, smaller towards the end of a split', () => {
  for (const [count, size, workers] of [[300, 16, 2], [120, 16, 2], [7, 16, 4], [1000, 32, 8], [5, 1, 2]] as const) {
    const s = taskStarts(count, size, workers);
    assert.equal(s[0], 0);
    assert.equal(s.at(-1), count);
    const sizes = s.slice(1).map((v, i) => v - s[i]!);
    assert.ok(sizes.every((n) => n >= 1 && n <= size), `${count}/${size}: ${sizes.join(',')}`);
    assert.ok(sizes.at(-1)! <= Math.min(size, 4), `the last task is small: ${sizes.join(',')}`);
  }
  assert.equal(taskStarts(300, 16, 2)[1], 16, 'full tasks while plenty is left');
  assert.deepEqual(taskStarts(0, 16, 2), [0]);
});

test('the arrays do not depend on how images are split into tasks (slabs reused across tasks)', async () => {
  const s = spec({ seed: 5, dataset: { source: 'shapes', count: 48 }, preprocess: { size: [24, 12], crop: 'border', fill: '#204080', flip: true, downscale: 2, chunk: 8 }, task: 'super-resolution' });
  const ingestDir = join(tmp, 'tasks', 'ingest');
  await ingest({ dataset: s.dataset, seed: s.seed, out: ingestDir, pool, log });
  const run = (taskSize: number, out: string) =>
    preprocessAll({ ingestDir, out, preprocess: s.preprocess, maxPixels: s.dataset.maxPixels, maxBadFraction: 0, version: 1, pool, taskSize, log });
  const whole = join(tmp, 'tasks', 'whole');
  const small = join(tmp, 'tasks', 'small');
  const m = await run(1000, whole);
  await run(3, small);
  for (const name of ['images', 'images_12', 'inputs_lr', 'labels', 'index']) {
    const a = await openArray(join(whole, 'train', name));
    const b = await openArray(join(small, 'train', name));
    assert.deepEqual(b.shape, a.shape, name);
    for (let k = 0; k < Math.ceil(a.shape[0]! / a.chunkRows); k++) assert.deepEqual(await b.readChunk(k), await a.readChunk(k), `${name} chunk ${k}`);
  }
  assert.ok(m.splits.train.count > 3 * 2 * 2, 'enough images for several tasks per worker');
});

/** A minimal 2×2 24-bit BMP (a real image format sharp's libvips build does not read). */
function bmp(): Buffer {
  const b = Buffer.alloc(54 + 16);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(2, 18);
  b.writeInt32LE(2, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return b;
}

test('bad files are skipped, counted and listed with a reason; too many fail the stage', async () => {
  const root = join(tmp, 'photos');
  for (const c of ['cats', 'dogs']) await mkdir(join(root, c), { recursive: true });
  const good = async (i: number, w: number, h: number) =>
    sharp({ create: { width: w, height: h, channels: 3, background: { r: 20 * i, g: 100, b: 200 - 10 * i } } })
      .jpeg()
      .toBuffer();
  for (let i = 0; i < 12; i++) await writeFile(join(root, i % 2 ? 'cats' : 'dogs', `ok${i}.jpg`), await good(i, 120 + i * 10, 90));
  await writeFile(join(root, 'cats', 'ok.png'), await sharp(await good(1, 64, 64)).png().toBuffer());
  await writeFile(join(root, 'cats', 'ok.webp'), await sharp(await good(2, 64, 48)).webp().toBuffer());
  const jpeg = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg()
    .toBuffer();
  await writeFile(join(root, 'cats', 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length * 0.6)));
  await writeFile(join(root, 'cats', 'empty.jpg'), Buffer.alloc(0));
  await writeFile(join(root, 'dogs', 'notes.jpg'), 'this is a text file that someone named .jpg\n');
  await writeFile(join(root, 'dogs', 'old.bmp'), bmp());
  await writeFile(join(root, 'dogs', 'huge.png'), await sharp({ create: { width: 2500, height: 2000, channels: 3, background: '#808080' } }).png().toBuffer());
  await writeFile(join(root, 'dogs', '.DS_Store'), 'hidden files are not part of the dataset');

  const input = (maxBadFraction: number) => ({
    dataset: { source: 'folder', path: root, valFraction: 0.25, maxPixels: 4_000_000, maxBadFraction },
    preprocess: { size: 32, crop: 'squish', chunk: 4 },
  });
  logs.length = 0;
  const { out, m } = await runBoth('bad', input(0.5));
  const reasons = Object.fromEntries(m.skipped.map((s) => [s.file, s.reason]));
  assert.equal(m.skipped.length, 5, JSON.stringify(reasons));
  assert.match(reasons['cats/empty.jpg']!, /empty file \(0 bytes\)/);
  assert.match(reasons['cats/truncated.jpg']!, /truncated or corrupt/);
  assert.match(reasons['dogs/notes.jpg']!, /not an image: text file/);
  assert.match(reasons['dogs/old.bmp']!, /unsupported image format: BMP/);
  assert.match(reasons['dogs/huge.png']!, /too many pixels: 2500×2000/);
  assert.equal(m.splits.train.count + m.splits.val.count, 14, 'the 14 good files (12 JPEG, PNG, WebP) are stored');
  assert.ok(Math.abs(m.badFraction - 5 / 19) < 1e-9);
  const onDisk = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as PreprocessManifest;
  assert.equal(onDisk.skipped.length, 5);
  const warn = logs.find((l) => l.startsWith('WARN preprocess: skipped 5 of 19'));
  assert.ok(warn, logs.join('\n'));
  for (const f of Object.keys(reasons)) assert.ok(warn.includes(f), `${f} in the log`);
  await assert.rejects(runBoth('bad2', input(0.2)), /5 of 19 files could not be used \(26\.3% > dataset\.maxBadFraction 20\.0%\)/);
});
