// Training batches from Zarr arrays bigger than memory (the bcolz array-iterator idea): each
// epoch visits the chunks in a seeded random order, copies each chunk's rows into a fixed pool
// of `bufferChunks` chunks' worth of rows, and draws batch rows at random from that pool. Every
// row is read from disk once per epoch and yielded exactly once; resident memory is the pool plus
// two chunk read buffers (one being read ahead while the consumer trains) plus the batch.
//
// API (I/O only, no tf; see tensors.ts for tf.Tensors):
//   const images = await openArray(`${dir}/train/images`);      // uint8 [N, S, S, C]
//   const labels = await openArray(`${dir}/train/labels`);      // int32 [N]
//   for await (const b of batches({ images, labels, batchSize: 32, seed, epoch, normalize: 'unit' })) {
//     b.x  Float32Array [b.n, S, S, C] (Uint8Array when normalize is 'none'),  b.y  Int32Array [b.n]
//     b.extra[k]  rows of the `extra` arrays (e.g. train/inputs_lr), normalised like x
//   }
import { rng, shuffle } from '../util/rng.js';
import type { TypedRows, ZarrArray } from './zarr.js';

export type Normalize = 'unit' | 'symmetric' | 'imagenet' | 'none';

export interface BatchOptions {
  images: ZarrArray;
  labels?: ZarrArray | undefined;
  /** Row-aligned arrays yielded with the images (same rows and chunking), e.g. super-resolution inputs. */
  extra?: ZarrArray[] | undefined;
  batchSize: number;
  seed: number;
  epoch: number;
  /** Pool size in chunks: larger mixes better, costs memory (default 4). */
  bufferChunks?: number | undefined;
  normalize?: Normalize | undefined;
  /** Random horizontal flip of each sample (applied to images and image-shaped extras alike). */
  flip?: boolean | undefined;
  /**
   * Random augmentation of each sample, applied to images and image-shaped extras alike: `flip`
   * mirrors left-right half the time, `dihedral` applies one of the 8 rotations by multiples of
   * 90° and mirror images (square images only). `flip: true` is the same as `augment: 'flip'`.
   */
  augment?: 'none' | 'flip' | 'dihedral' | undefined;
  /** Drop a final batch smaller than batchSize. */
  dropLast?: boolean | undefined;
  /** Filled in while iterating: what the loader held in memory and read. */
  stats?: LoaderStats | undefined;
}

export interface LoaderStats {
  chunksRead: number;
  rowsYielded: number;
  /** Bytes of the pool and read buffers (fixed) plus one batch. */
  residentBytes: number;
  maxPoolRows: number;
}

export interface Batch {
  n: number;
  /** Rows of `images`, normalised (Float32Array) or raw (Uint8Array for normalize 'none'). */
  x: Float32Array | Uint8Array;
  shape: number[];
  y: Int32Array | null;
  extra: (Float32Array | Uint8Array | Int32Array)[];
  /** Row numbers in the arrays, in batch order. */
  rows: Int32Array;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** uint8 value → float, per channel (a lookup table is faster than arithmetic per element). */
export function normalizeTable(kind: Exclude<Normalize, 'none'>, channels: number): Float32Array {
  const lut = new Float32Array(256 * channels);
  for (let c = 0; c < channels; c++) {
    // One-channel ImageNet normalisation uses the mean of the three channel statistics.
    const mean = channels === 3 ? IMAGENET_MEAN[c]! : 0.449;
    const std = channels === 3 ? IMAGENET_STD[c]! : 0.226;
    for (let v = 0; v < 256; v++) {
      lut[c * 256 + v] = kind === 'unit' ? v / 255 : kind === 'symmetric' ? v / 127.5 - 1 : (v / 255 - mean) / std;
    }
  }
  return lut;
}

interface Source {
  arr: ZarrArray;
  pool: TypedRows;
  read: [TypedRows, TypedRows];
  image: boolean;
  channels: number;
}

export async function* batches(o: BatchOptions): AsyncGenerator<Batch> {
  const all = [o.images, ...(o.labels ? [o.labels] : []), ...(o.extra ?? [])];
  const N = o.images.shape[0]!;
  const chunkRows = o.images.chunkRows;
  for (const a of all) {
    if (a.shape[0] !== N || a.chunkRows !== chunkRows) throw new Error(`${a.dir}: rows/chunking differ from ${o.images.dir} (${a.shape[0]}/${a.chunkRows} vs ${N}/${chunkRows})`);
  }
  if (!(o.batchSize > 0)) throw new Error('batchSize must be positive');
  const capacity = Math.max((o.bufferChunks ?? 4) * chunkRows, o.batchSize + chunkRows);
  const sources: Source[] = all.map((arr) => ({
    arr,
    pool: arr.alloc(capacity),
    read: [arr.alloc(chunkRows), arr.alloc(chunkRows)],
    image: arr.dtype === 'uint8' && arr.shape.length === 4,
    channels: arr.shape.length === 4 ? arr.shape[3]! : 1,
  }));
  const norm = o.normalize ?? 'unit';
  const luts = sources.map((s) => (norm === 'none' || s.arr.dtype !== 'uint8' ? null : normalizeTable(norm, s.channels)));
  const rand = rng(o.seed, 'loader', o.epoch);
  const augment = o.augment && o.augment !== 'none' ? o.augment : o.flip ? 'flip' : 'none';
  if (augment === 'dihedral' && o.images.shape.length === 4 && o.images.shape[1] !== o.images.shape[2]) {
    throw new Error(`augment dihedral needs square images; ${o.images.dir} is ${o.images.shape[1]}×${o.images.shape[2]}`);
  }
  const order = shuffle(
    Array.from({ length: o.images.numChunks }, (_, i) => i),
    rng(o.seed, 'chunks', o.epoch),
  );
  const poolRow = new Int32Array(capacity);
  let count = 0;
  let next = 0;
  let slot = 0;
  const stats = o.stats;
  const fixedBytes = sources.reduce((t, s) => t + s.pool.byteLength + 2 * s.read[0].byteLength, 0) + poolRow.byteLength;
  if (stats) Object.assign(stats, { chunksRead: 0, rowsYielded: 0, residentBytes: fixedBytes, maxPoolRows: 0 });

  const readChunk = (k: number, s: number) => Promise.all(sources.map((src) => src.arr.readChunk(order[k]!, src.read[s])));
  let pending: Promise<TypedRows[]> | null = order.length ? readChunk(0, 0) : null;

  while (true) {
    while (pending && count + chunkRows <= capacity) {
      const k = next;
      const bufs = await pending;
      next++;
      // Read ahead into the other buffer while this chunk is copied and the next batches train.
      slot = 1 - slot;
      pending = next < order.length ? readChunk(next, slot) : null;
      const rows = o.images.rowsInChunk(order[k]!);
      for (let s = 0; s < sources.length; s++) {
        const e = sources[s]!.arr.rowElems;
        sources[s]!.pool.set(bufs[s]!.subarray(0, rows * e), count * e);
      }
      for (let r = 0; r < rows; r++) poolRow[count + r] = order[k]! * chunkRows + r;
      count += rows;
      if (stats) {
        stats.chunksRead++;
        stats.maxPoolRows = Math.max(stats.maxPoolRows, count);
      }
    }
    if (count === 0) break;
    const n = Math.min(o.batchSize, count);
    if (n < o.batchSize && o.dropLast) break;
    const raw = sources.map((s) => s.arr.alloc(n));
    const rows = new Int32Array(n);
    for (let b = 0; b < n; b++) {
      const j = Math.floor(rand() * count);
      // 0 is the identity; bit 0 mirrors left-right, bit 1 top-bottom, bit 2 transposes.
      const t = augment === 'flip' ? (rand() < 0.5 ? 1 : 0) : augment === 'dihedral' ? Math.floor(rand() * 8) : 0;
      rows[b] = poolRow[j]!;
      count--;
      for (const [s, src] of sources.entries()) {
        const e = src.arr.rowElems;
        const row = src.pool.subarray(j * e, (j + 1) * e);
        if (t === 1 && src.image) flipRowInto(row as Uint8Array, raw[s] as Uint8Array, b * e, src.arr.shape[2]!, src.channels);
        else if (t !== 0 && src.image) transformRowInto(row as Uint8Array, raw[s] as Uint8Array, b * e, src.arr.shape[2]!, src.channels, t);
        else raw[s]!.set(row, b * e);
        // swap-remove: the last pool row takes j's place
        if (j !== count) src.pool.copyWithin(j * e, count * e, (count + 1) * e);
      }
      poolRow[j] = poolRow[count]!;
    }
    const out = raw.map((r, s) => {
      const lut = luts[s];
      if (!lut) return r;
      const C = sources[s]!.channels;
      const f = new Float32Array(r.length);
      for (let i = 0; i < r.length; i++) f[i] = lut[(i % C) * 256 + r[i]!]!;
      return f;
    });
    if (stats) {
      stats.rowsYielded += n;
      stats.residentBytes = Math.max(stats.residentBytes, fixedBytes + out.reduce((t, a) => t + a.byteLength, 0) + raw.reduce((t, a) => t + a.byteLength, 0));
    }
    const li = o.labels ? 1 : -1;
    yield {
      n,
      x: out[0] as Float32Array | Uint8Array,
      shape: [n, ...o.images.shape.slice(1)],
      y: li > 0 ? (out[li] as Int32Array) : null,
      extra: out.slice(o.labels ? 2 : 1),
      rows,
    };
  }
}

function flipRowInto(src: Uint8Array, dst: Uint8Array, at: number, W: number, C: number): void {
  const H = src.length / (W * C);
  for (let y = 0; y < H; y++) {
    const r = y * W * C;
    for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) dst[at + r + (W - 1 - x) * C + c] = src[r + x * C + c]!;
  }
}

/** One of the 8 symmetries of a square image (t: bit 0 mirror x, bit 1 mirror y, bit 2 transpose). */
export function transformRowInto(src: Uint8Array, dst: Uint8Array, at: number, W: number, C: number, t: number): void {
  const H = src.length / (W * C);
  const mx = (t & 1) !== 0;
  const my = (t & 2) !== 0;
  const tr = (t & 4) !== 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      // Output pixel (x, y) reads source (sx, sy).
      let sx = tr ? y : x;
      let sy = tr ? x : y;
      if (mx) sx = W - 1 - sx;
      if (my) sy = H - 1 - sy;
      const o = at + (y * W + x) * C;
      const i = (sy * W + sx) * C;
      for (let c = 0; c < C; c++) dst[o + c] = src[i + c]!;
    }
  }
}
