// The Zarr writer/reader (and interop with zarrita) and the chunk-shuffling loader.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import FileSystemStore from '@zarrita/storage/fs';
import * as zarr from 'zarrita';
import { type LoaderStats, batches } from '../src/data/loader.js';
import { ArrayWriter, openArray, writeArray, writeGroup } from '../src/data/zarr.js';

const tmp = await mkdtemp(join(tmpdir(), 'ablate-zarr-'));
after(() => rm(tmp, { recursive: true, force: true }));

/** N rows of S×S×3; row r's bytes encode r (so content can be checked) plus an x-ramp (so flips show). */
function rowsData(N: number, S: number): Uint8Array {
  const d = new Uint8Array(N * S * S * 3);
  for (let r = 0; r < N; r++)
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        const o = ((r * S + y) * S + x) * 3;
        d[o] = r & 255;
        d[o + 1] = r >> 8;
        d[o + 2] = x;
      }
  return d;
}

async function makeDataset(name: string, N: number, S: number, chunk: number) {
  const dir = join(tmp, name);
  await writeGroup(dir);
  await writeArray(join(dir, 'images'), rowsData(N, S), [S, S, 3], 'uint8', chunk, ['n', 'y', 'x', 'c']);
  await writeArray(join(dir, 'labels'), Int32Array.from({ length: N }, (_, r) => r), [], 'int32', chunk, ['n']);
  return { images: await openArray(join(dir, 'images')), labels: await openArray(join(dir, 'labels')), dir };
}

test('zarr arrays round-trip, appended in odd pieces, and zarrita reads them', async () => {
  const N = 103;
  const S = 4;
  const data = rowsData(N, S);
  const w = new ArrayWriter(join(tmp, 'rt', 'images'), [S, S, 3], 'uint8', 10, ['n', 'y', 'x', 'c'], { crop: 'center' });
  await w.append(data, 0, 7);
  await w.append(data, 7, 50);
  await w.append(data.subarray(57 * S * S * 3));
  await w.close();
  await writeArray(join(tmp, 'rt', 'labels'), Int32Array.from({ length: N }, (_, i) => i * 1000 - 7), [], 'int32', 10);
  await writeGroup(join(tmp, 'rt'));

  const a = await openArray(join(tmp, 'rt', 'images'));
  assert.deepEqual(a.shape, [N, S, S, 3]);
  assert.equal(a.numChunks, 11);
  assert.equal(a.rowsInChunk(10), 3);
  const c10 = await a.readChunk(10);
  assert.deepEqual(c10.subarray(0, 3 * 48), data.subarray(100 * 48));
  assert.ok(c10.subarray(3 * 48).every((v) => v === 0), 'edge chunk padded with fill_value');

  const root = zarr.root(new FileSystemStore(join(tmp, 'rt')));
  const zi = await zarr.open(root.resolve('images'), { kind: 'array' });
  assert.deepEqual(zi.shape, [N, S, S, 3]);
  assert.equal(zi.dtype, 'uint8');
  assert.deepEqual(zi.attrs, { crop: 'center' });
  const got = await zarr.get(zi, [zarr.slice(5, 95), null, null, null]);
  assert.deepEqual(new Uint8Array(got.data as Uint8Array), data.subarray(5 * 48, 95 * 48));
  const zl = await zarr.open(root.resolve('labels'), { kind: 'array' });
  const labels = await zarr.get(zl, [zarr.slice(95, 103)]);
  assert.deepEqual(Array.from(labels.data as Int32Array), [95, 96, 97, 98, 99, 100, 101, 102].map((i) => i * 1000 - 7));
  const g = await zarr.open(root, { kind: 'group' });
  assert.equal(g.kind, 'group');
});

test('loader: every sample exactly once per epoch, deterministic per seed, reshuffled per epoch', async () => {
  const N = 1000;
  const { images, labels } = await makeDataset('once', N, 4, 32);
  const epochRows = async (seed: number, epoch: number, batchSize = 24) => {
    const seen: number[] = [];
    for await (const b of batches({ images, labels, batchSize, seed, epoch, bufferChunks: 3, normalize: 'none' })) {
      assert.ok(b.n === batchSize || seen.length + b.n === N, 'only the last batch may be short');
      for (let i = 0; i < b.n; i++) {
        const r = b.rows[i]!;
        assert.equal(b.y![i], r, 'label row matches image row');
        const x = b.x as Uint8Array;
        assert.equal(x[i * 48]! + (x[i * 48 + 1]! << 8), r, 'image content is row r');
        seen.push(r);
      }
    }
    return seen;
  };
  const e0 = await epochRows(1, 0);
  assert.equal(e0.length, N);
  assert.deepEqual([...e0].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i));
  assert.deepEqual(await epochRows(1, 0), e0, 'same seed and epoch → same order');
  const e1 = await epochRows(1, 1);
  assert.notDeepEqual(e1, e0, 'a new epoch reshuffles');
  assert.deepEqual([...e1].sort((a, b) => a - b), [...e0].sort((a, b) => a - b));
  assert.notDeepEqual(await epochRows(2, 0), e0, 'another seed reshuffles');
  // mixing: the first batch draws from several chunks, not one
  const chunks = new Set(e0.slice(0, 24).map((r) => Math.floor(r / 32)));
  assert.ok(chunks.size >= 3, `first batch spans ${chunks.size} chunks`);
  // dropLast drops only the short tail
  let rows = 0;
  for await (const b of batches({ images, labels, batchSize: 64, seed: 0, epoch: 0, dropLast: true, normalize: 'none' })) rows += b.n;
  assert.equal(rows, Math.floor(N / 64) * 64);
});

test('loader: normalisation and flips', async () => {
  const { images, labels } = await makeDataset('norm', 64, 4, 16);
  for await (const b of batches({ images, labels, batchSize: 64, seed: 0, epoch: 0, normalize: 'symmetric' })) {
    const x = b.x as Float32Array;
    const r = b.rows[0]!;
    assert.ok(Math.abs(x[0]! - ((r & 255) / 127.5 - 1)) < 1e-6);
    assert.ok(x.every((v) => v >= -1 && v <= 1));
  }
  for await (const b of batches({ images, labels, batchSize: 64, seed: 0, epoch: 0, normalize: 'imagenet' })) {
    const x = b.x as Float32Array;
    assert.ok(Math.abs(x[2]! - (0 / 255 - 0.406) / 0.225) < 1e-5, 'channel 2 of x=0 uses the blue statistics');
  }
  let flipped = 0;
  for await (const b of batches({ images, labels, batchSize: 64, seed: 3, epoch: 0, normalize: 'none', flip: true })) {
    const x = b.x as Uint8Array;
    for (let i = 0; i < b.n; i++) {
      const first = x[i * 48 + 2]!; // the x-ramp at column 0 is 0, or 3 when mirrored
      assert.ok(first === 0 || first === 3);
      if (first === 3) flipped++;
      assert.equal(x[i * 48] + (x[i * 48 + 1]! << 8), b.rows[i], 'a flip keeps the row');
    }
  }
  assert.ok(flipped > 16 && flipped < 48, `about half flipped: ${flipped}`);
});

test('loader: memory stays bounded on an array much larger than the buffer', async () => {
  // 4096 × 64×64×3 = 50 MB on disk; the pool holds 4 chunks of 32 rows = 1.5 MB.
  const N = 4096;
  const S = 64;
  const { images, labels } = await makeDataset('big', N, S, 32);
  const arrayBytes = N * S * S * 3;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const stats = {} as LoaderStats;
  let k = 0;
  let seen = 0;
  for await (const b of batches({ images, labels, batchSize: 32, seed: 0, epoch: 0, bufferChunks: 4, stats })) {
    seen += b.n;
    if (++k % 8 === 0) {
      // V8 frees ArrayBuffer memory on a background sweeper: a second GC after a pause makes the
      // reading count live buffers, not garbage still being swept.
      gc();
      await new Promise((r) => setTimeout(r, 10));
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    }
  }
  assert.equal(seen, N);
  assert.equal(stats.chunksRead, N / 32, 'each chunk read once');
  assert.ok(stats.residentBytes < arrayBytes / 10, `loader holds ${stats.residentBytes} B for a ${arrayBytes} B array`);
  assert.ok(peak < arrayBytes / 8, `measured arrayBuffers growth ${peak} B for a ${arrayBytes} B array`);
});
