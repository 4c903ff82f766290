// Preprocess: sources → Zarr arrays per split. The pool decodes and resizes tasks of images; the
// main thread puts finished tasks back in order and only appends rows and writes chunks.
//   <out>/<split>/images        uint8 [N, S, S, C]   (first size)
//   <out>/<split>/images_<s>    uint8 [N, s, s, C]   (further sizes)
//   <out>/<split>/inputs_lr     uint8 [N, S/d, S/d, C] (downscale)
//   <out>/<split>/labels        int32 [N]
//   <out>/<split>/index         int32 [N]  row → position in the manifest's file list of the split
// With flip, each chunk of originals is followed by a chunk of their mirror images.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Progress } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { lowResSide, parseFill } from './geometry.js';
import type { ImageJob } from './image.js';
import { type BadFile, type IngestItem, type IngestManifest, readIngest } from './ingest.js';
import type { ImagePool } from './pool/pool.js';
import { slabLayout, slabViews } from './pool/slab.js';
import { DEFAULT_INFLIGHT, uvPoolSize } from './pool/threads.js';
import type { PreprocessResult, TaskItem } from './pool/worker.js';
import { ArrayWriter, type ArrayMeta, openArray, writeGroup } from './zarr.js';

export type Preprocess = ExperimentSpec['preprocess'];

export function sizesOf(p: Preprocess): number[] {
  return Array.isArray(p.size) ? p.size : [p.size];
}

export function jobOf(p: Preprocess, maxPixels: number): ImageJob {
  const sizes = sizesOf(p);
  if (p.downscale) lowResSide(sizes[0]!, p.downscale);
  return {
    sizes,
    crop: p.crop,
    centerFraction: p.centerFraction,
    fill: parseFill(p.fill as string | [number, number, number]),
    kernel: p.kernel,
    channels: p.channels,
    maxPixels,
    downscale: p.downscale,
  };
}

export interface SplitReport {
  count: number;
  sources: number;
  files: string[];
  skipped: BadFile[];
  arrays: Record<string, number[]>;
  seconds: number;
}

export interface RunOptions {
  pool: ImagePool;
  /** Images in flight per worker (sharp runs them on the libuv pool). */
  inflight?: number | undefined;
  /** Images per task sent to a worker. */
  taskSize?: number | undefined;
  progress?: Progress | undefined;
  signal?: AbortSignal | undefined;
}

/** Source descriptions of a split's items, ready to cross into a worker. */
async function taskItems(ing: IngestManifest, ingestDir: string, items: IngestItem[]): Promise<TaskItem[]> {
  if (!ing.raw) return items.map((i) => ({ file: join(ing.root!, (i as { file: string }).file) }));
  const arr = await openArray(join(ingestDir, ing.raw));
  const [, h, w, c] = arr.shape as [number, number, number, 1 | 3];
  const rowBytes = h * w * c;
  const cache = new Map<number, Uint8Array>();
  const out: TaskItem[] = [];
  for (const i of items as { row: number }[]) {
    const k = Math.floor(i.row / arr.chunkRows);
    let chunk = cache.get(k);
    if (!chunk) {
      chunk = (await arr.readChunk(k)) as Uint8Array;
      cache.set(k, chunk);
    }
    const r = i.row - k * arr.chunkRows;
    out.push({ raw: chunk.slice(r * rowBytes, (r + 1) * rowBytes), width: w, height: h, channels: c });
  }
  return out;
}

export async function preprocessSplit(
  ing: IngestManifest,
  ingestDir: string,
  split: 'train' | 'val',
  p: Preprocess,
  maxPixels: number,
  outDir: string,
  o: RunOptions,
): Promise<SplitReport> {
  const t0 = performance.now();
  const job = jobOf(p, maxPixels);
  const items = ing.splits[split];
  const sources = await taskItems(ing, ingestDir, items);
  const C = job.channels;
  const dir = join(outDir, split);
  await writeGroup(dir, { split, classes: ing.classes });
  const attrs = { crop: job.crop, kernel: job.kernel, centerFraction: job.centerFraction, fill: job.fill, flip: p.flip };
  const dims = ['n', 'y', 'x', 'c'];
  const writers: ArrayWriter[] = job.sizes.map((s, k) => new ArrayWriter(join(dir, k === 0 ? 'images' : `images_${s}`), [s, s, C], 'uint8', p.chunk, dims, { ...attrs, size: s }));
  if (job.downscale) {
    const s = job.sizes[0]! / job.downscale;
    writers.push(new ArrayWriter(join(dir, 'inputs_lr'), [s, s, C], 'uint8', p.chunk, dims, { ...attrs, size: s, downscale: job.downscale }));
  }
  const labels = new ArrayWriter(join(dir, 'labels'), [], 'int32', p.chunk, ['n'], { classes: ing.classes });
  const index = new ArrayWriter(join(dir, 'index'), [], 'int32', p.chunk, ['n']);
  const rowBytes = writers.map((w) => w.rowElems);
  // Mirror images wait here until a chunk of originals has been written, then follow it.
  const stage = p.flip ? rowBytes.map((e) => new Uint8Array(e * p.chunk)) : [];
  const stageMeta = new Int32Array(p.chunk * 2);
  let staged = 0;
  const flushFlips = async () => {
    for (const [k, w] of writers.entries()) await w.append(stage[k]!, 0, staged);
    for (let i = 0; i < staged; i++) {
      await labels.append(stageMeta.subarray(2 * i, 2 * i + 1));
      await index.append(stageMeta.subarray(2 * i + 1, 2 * i + 2));
    }
    staged = 0;
  };
  const skipped: BadFile[] = [];
  const one = new Int32Array(1);
  const taskSize = o.taskSize ?? 16;
  const layout = slabLayout(job, taskSize, p.flip);
  // Slabs are reused: at most one per task in the window, handed back once its task is written.
  const freeSlabs: SharedArrayBuffer[] = [];
  const write = async (r: PreprocessResult, slab: SharedArrayBuffer, first: number) => {
    const n = r.status.length;
    const { outs, flips } = slabViews(slab, layout, n, p.flip);
    for (let i = 0; i < n; i++) {
      const item = items[first + i]!;
      if (r.status[i] !== null) {
        skipped.push({ file: 'file' in item ? item.file : `mnist:${item.row}`, reason: r.status[i]! });
        continue;
      }
      for (const [k, w] of writers.entries()) await w.append(outs[k]!, i, 1);
      one[0] = item.label;
      await labels.append(one);
      one[0] = first + i;
      await index.append(one);
      if (flips) {
        for (const [k, e] of rowBytes.entries()) stage[k]!.set(flips[k]!.subarray(i * e, (i + 1) * e), staged * e);
        stageMeta[2 * staged] = item.label;
        stageMeta[2 * staged + 1] = first + i;
        if (++staged === p.chunk) await flushFlips();
      }
    }
  };

  const inflight = o.inflight ?? DEFAULT_INFLIGHT;
  const starts = taskStarts(sources.length, taskSize, o.pool.workers);
  const nTasks = starts.length - 1;
  const windowSize = o.pool.workers * 3;
  o.progress?.start(sources.length, 'img');
  await new Promise<void>((resolve, reject) => {
    const done = new Map<number, { r: PreprocessResult; slab: SharedArrayBuffer }>();
    let submitted = 0;
    let written = 0;
    let writing = false;
    let failed = false;
    const fail = (err: unknown) => {
      failed = true;
      reject(err);
    };
    const drain = async () => {
      if (writing || failed) return;
      writing = true;
      try {
        while (done.has(written)) {
          const { r, slab } = done.get(written)!;
          done.delete(written);
          await write(r, slab, starts[written]!);
          freeSlabs.push(slab);
          o.progress?.tick(r.status.length);
          written++;
          submit();
        }
      } catch (err) {
        fail(err);
      } finally {
        writing = false;
      }
      if (written === nTasks) resolve();
    };
    // Results are written in task order; at most `windowSize` tasks are out at once, which bounds
    // the memory held by results that wait for a slower earlier task.
    const submit = () => {
      while (!failed && submitted < nTasks && submitted - written < windowSize) {
        const t = submitted++;
        const slab = freeSlabs.pop() ?? new SharedArrayBuffer(layout.bytes);
        o.pool.preprocess({ items: sources.slice(starts[t], starts[t + 1]), job, flip: p.flip, inflight, slab }, o.signal).then((r) => {
          done.set(t, { r, slab });
          void drain();
        }, fail);
      }
    };
    submit();
    if (nTasks === 0) resolve();
  });
  if (staged) await flushFlips();
  const metas: ArrayMeta[] = [];
  for (const w of writers) metas.push(await w.close());
  metas.push(await labels.close(), await index.close());
  o.progress?.done(`${split}: ${labels.length} images`);
  const names = [...writers, labels, index].map((w) => w.dir.slice(dir.length + 1));
  return {
    count: labels.length,
    sources: items.length,
    files: items.map((i) => ('file' in i ? i.file : `mnist:${i.row}`)),
    skipped,
    arrays: Object.fromEntries(names.map((n, k) => [n, metas[k]!.shape])),
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Task boundaries (n + 1 offsets): full tasks while there is plenty left, then smaller ones, so
 * that at the end of a split no worker sits idle while another finishes a whole task (a split
 * of 120 images is only 8 tasks of 16).
 */
export function taskStarts(count: number, taskSize: number, workers: number): number[] {
  const starts = [0];
  const smallest = Math.min(taskSize, 4);
  for (let at = 0; at < count; ) {
    const size = Math.max(smallest, Math.min(taskSize, Math.ceil((count - at) / (4 * workers))));
    at = Math.min(count, at + size);
    starts.push(at);
  }
  return starts;
}

export interface PreprocessManifest {
  version: number;
  source: IngestManifest['source'];
  classes: string[];
  preprocess: Omit<Preprocess, 'workers' | 'normalize' | 'centerFraction'> & { centerFraction?: number; sizes: number[]; fill: [number, number, number] };
  splits: Record<'train' | 'val', SplitReport>;
  skipped: BadFile[];
  badFraction: number;
  timings: { seconds: number; imagesPerSecond: number; workers: number; inflight: number };
  sharp: { sharp: string; vips: string };
}

export interface StageRunOptions extends RunOptions {
  ingestDir: string;
  out: string;
  preprocess: Preprocess;
  maxPixels: number;
  maxBadFraction: number;
  version: number;
  log?: { info(m: string): void; warn(m: string): void } | undefined;
}

/** Both splits, the manifest, the bad-file verdict. Throws when too many files are bad. */
export async function preprocessAll(o: StageRunOptions): Promise<PreprocessManifest> {
  const t0 = performance.now();
  const inflight = o.inflight ?? DEFAULT_INFLIGHT;
  const uv = uvPoolSize();
  if (o.pool.workers * inflight > uv) {
    o.log?.warn(
      `preprocess: ${o.pool.workers} workers × ${inflight} images in flight, but libuv runs ${uv} at once (UV_THREADPOOL_SIZE); the rest wait. \`ablate\` sets it at start; when calling ablate from your own script, start node with UV_THREADPOOL_SIZE=${o.pool.workers * inflight + 2}.`,
    );
  }
  const ing = await readIngest(o.ingestDir);
  await writeGroup(o.out, { classes: ing.classes, source: ing.source });
  const train = await preprocessSplit(ing, o.ingestDir, 'train', o.preprocess, o.maxPixels, o.out, o);
  // Flipped copies are augmentation: validation measures the images as they are.
  const val = await preprocessSplit(ing, o.ingestDir, 'val', { ...o.preprocess, flip: false }, o.maxPixels, o.out, o);
  const skipped = [...ing.bad, ...train.skipped, ...val.skipped];
  const total = ing.bad.length + train.sources + val.sources;
  const seconds = (performance.now() - t0) / 1000;
  // The settings the arrays were made with, as the stage key has them: not the thread count nor
  // `normalize` (applied when arrays are read), nor `centerFraction` for another crop. An entry is
  // shared by every spec with its key, so a field outside the key recorded here would describe the
  // first spec that made it, not the one reading it (the key property test found `normalize`).
  const { workers: _w, normalize: _n, ...pre } = o.preprocess;
  if (pre.crop !== 'center') delete (pre as Partial<typeof pre>).centerFraction;
  const manifest: PreprocessManifest = {
    version: o.version,
    source: ing.source,
    classes: ing.classes,
    preprocess: { ...pre, sizes: sizesOf(o.preprocess), fill: parseFill(o.preprocess.fill as string) },
    splits: { train, val },
    skipped,
    badFraction: total ? skipped.length / total : 0,
    timings: { seconds, imagesPerSecond: (train.sources + val.sources) / seconds, workers: o.pool.workers, inflight },
    sharp: { sharp: sharp.versions.sharp ?? '', vips: sharp.versions.vips },
  };
  await writeFile(join(o.out, 'manifest.json'), JSON.stringify(manifest, null, 1));
  if (skipped.length) {
    const list = skipped.slice(0, 20).map((s) => `  ${s.file}: ${s.reason}`);
    o.log?.warn(`preprocess: skipped ${skipped.length} of ${total} files (${(100 * manifest.badFraction).toFixed(1)}%):\n${list.join('\n')}${skipped.length > 20 ? `\n  … ${skipped.length - 20} more in manifest.json` : ''}`);
  }
  if (manifest.badFraction > o.maxBadFraction) {
    throw new Error(
      `preprocess: ${skipped.length} of ${total} files could not be used (${(100 * manifest.badFraction).toFixed(1)}% > dataset.maxBadFraction ${(100 * o.maxBadFraction).toFixed(1)}%); first: ${skipped
        .slice(0, 3)
        .map((s) => `${s.file} (${s.reason})`)
        .join('; ')}`,
    );
  }
  o.log?.info(
    `preprocess: ${train.count} train + ${val.count} val images, ${manifest.preprocess.crop} ${manifest.preprocess.sizes.join('/')}px, ${seconds.toFixed(1)} s (${manifest.timings.imagesPerSecond.toFixed(0)} img/s, ${o.pool.workers} workers × ${inflight} in flight, UV_THREADPOOL_SIZE=${uv})`,
  );
  return manifest;
}
