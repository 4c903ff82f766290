// Piscina worker: decodes and resizes one task (a run of images) into the task's shared slab, or
// renders shapes images. sharp does its work on the libuv pool, so a worker keeps `inflight`
// images going at once; with sharp's own concurrency at 1 each image uses one thread.
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { BadImageError, type ImageJob, classify, downscaleSlot, fillSlots, flipSlot, greyOfFill, processImage } from '../image.js';
import { renderShape, shapeParams } from '../shapes.js';
import { slabLayout, slabViews } from './slab.js';

sharp.concurrency(1);
// The operation cache only helps when the same image is processed twice; here it costs memory
// and a hash lookup per operation.
sharp.cache(false);

export type TaskItem = { file: string } | { raw: Uint8Array; width: number; height: number; channels: 1 | 3 };

export interface PreprocessTask {
  kind: 'preprocess';
  items: TaskItem[];
  job: ImageJob;
  flip: boolean;
  inflight: number;
  /** Where the outputs go (see slab.ts); at least slabLayout(job, items.length, flip).bytes. */
  slab: SharedArrayBuffer;
}

export interface PreprocessResult {
  /** null: ok; else why the image was skipped. The pixels are in the task's slab. */
  status: (string | null)[];
  /** Sum of per-image wall time in this worker, ms. */
  busyMs: number;
}

export interface ShapesTask {
  kind: 'shapes';
  seed: number;
  classes: string[];
  indices: number[];
  dir: string;
  quality: number;
}

export interface ShapesResult {
  files: { index: number; file: string; label: number; bytes: number }[];
}

async function preprocess(t: PreprocessTask): Promise<PreprocessResult> {
  const { job } = t;
  const n = t.items.length;
  const C = job.channels;
  const fill = C === 1 ? [await greyOfFill(job.fill)] : job.fill;
  const layout = slabLayout(job, n, t.flip);
  const views = slabViews(t.slab, layout, n, t.flip);
  const outs = views.outs.slice(0, job.sizes.length);
  // The slab held an earlier task's images: border bars must be painted again.
  if (job.crop === 'border') for (const b of outs) fillSlots(b, fill, C);
  const S0 = job.sizes[0]!;
  const lr = job.downscale ? views.outs[job.sizes.length]! : null;
  const status: (string | null)[] = new Array(n).fill(null);
  let next = 0;
  let busyMs = 0;
  // Each lane reads its next file while sharp decodes the current one on the libuv pool, so the
  // read (a sync read of a ~100 KB file: tens of µs) never leaves that thread idle.
  const read = (i: number): Uint8Array | Error => {
    const item = t.items[i]!;
    if (!('file' in item)) return item.raw;
    try {
      return readFileSync(item.file);
    } catch (e) {
      return e as Error;
    }
  };
  const lane = async () => {
    let ahead: { i: number; data: Uint8Array | Error } | undefined;
    while (ahead || next < n) {
      const i = ahead ? ahead.i : next++;
      const got = ahead ? ahead.data : read(i);
      ahead = undefined;
      const item = t.items[i]!;
      const t0 = performance.now();
      let data: Uint8Array | undefined;
      try {
        if (got instanceof Error) throw got;
        if ('file' in item) {
          data = got;
          const work = processImage({ data }, job, outs, i);
          if (next < n) {
            const j = next++;
            ahead = { i: j, data: read(j) };
          }
          await work;
        } else {
          data = item.raw;
          await processImage({ data, raw: { width: item.width, height: item.height, channels: item.channels } }, job, outs, i);
        }
        if (lr) await downscaleSlot(outs[0]!, S0, C, job.downscale!, job.kernel, lr, i);
      } catch (err) {
        status[i] = err instanceof BadImageError ? err.reason : data ? classify(err, data) : `unreadable: ${(err as Error).message}`;
      }
      busyMs += performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(t.inflight, n)) }, lane));
  if (views.flips) {
    for (const [k, f] of views.flips.entries()) for (let i = 0; i < n; i++) if (status[i] === null) flipSlot(views.outs[k]!, f, layout.sides[k]!, C, i);
  }
  return { status, busyMs };
}

async function shapes(t: ShapesTask): Promise<ShapesResult> {
  const files: ShapesResult['files'] = [];
  for (const index of t.indices) {
    const p = shapeParams(t.seed, index, t.classes);
    const px = renderShape(t.seed, p);
    const file = join(p.className, `${String(index).padStart(5, '0')}.jpg`);
    const jpeg = await sharp(px, { raw: { width: p.width, height: p.height, channels: 3 } }).jpeg({ quality: t.quality }).toBuffer();
    const path = join(t.dir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, jpeg);
    files.push({ index, file, label: p.label, bytes: jpeg.length });
  }
  return { files };
}

export default async function run(task: PreprocessTask | ShapesTask): Promise<PreprocessResult | ShapesResult> {
  return task.kind === 'preprocess' ? preprocess(task) : shapes(task);
}
