// `ablate preview`: the first N training images exactly as the model will see them (the spec's
// crop and size, one PNG each), and a contact sheet with border / center / squish side by side
// for the same sources, so a person can see what each crop does to their data.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import type { ExperimentSpec } from '../spec/schema.js';
import type { Crop } from './geometry.js';
import { BadImageError, type ImageJob, fillSlots, greyOfFill, processImage } from './image.js';
import { type IngestItem, type IngestManifest, ingest } from './ingest.js';
import { jobOf } from './preprocess.js';
import { openArray } from './zarr.js';

export interface PreviewOptions {
  /** Number of images (default 16). */
  n?: number;
  /** Output folder (created). */
  out: string;
  /** Rows of the contact sheet (default min(n, 6)). */
  sheetRows?: number;
}

export interface PreviewResult {
  images: string[];
  sheet: string;
  skipped: { file: string; reason: string }[];
}

const CROPS: Crop[] = ['border', 'center', 'squish'];

export async function preview(spec: ExperimentSpec, o: PreviewOptions): Promise<PreviewResult> {
  const n = o.n ?? 16;
  const work = await mkdtemp(join(tmpdir(), 'ablate-preview-'));
  try {
    const ing = await ingest({ dataset: spec.dataset, seed: spec.dataset.seed, out: work, onlyFirst: n });
    const items = [...ing.splits.train, ...ing.splits.val].slice(0, n);
    const sources = await loadSources(ing, work, items);
    const base = jobOf(spec.preprocess, spec.dataset.maxPixels);
    const S = base.sizes[0]!;
    const job: ImageJob = { ...base, sizes: [S], downscale: undefined };
    await mkdir(o.out, { recursive: true });
    const images: string[] = [];
    const skipped: PreviewResult['skipped'] = [];
    const ok: number[] = [];
    for (const [i, src] of sources.entries()) {
      const name = `${String(i).padStart(2, '0')}-${ing.classes[items[i]!.label]}-${job.crop}.png`;
      try {
        const px = await render(src, job);
        await sharp(px, { raw: { width: S, height: S, channels: job.channels } }).png().toFile(join(o.out, name));
        images.push(join(o.out, name));
        ok.push(i);
      } catch (err) {
        if (!(err instanceof BadImageError)) throw err;
        skipped.push({ file: src.name, reason: err.reason });
      }
    }
    const sheet = join(o.out, 'contact-sheet.png');
    await contactSheet(
      ok.slice(0, o.sheetRows ?? Math.min(n, 6)).map((i) => sources[i]!),
      job,
      sheet,
    );
    return { images, sheet, skipped };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface Source {
  name: string;
  data: Uint8Array;
  raw?: { width: number; height: number; channels: 1 | 3 };
}

async function loadSources(ing: IngestManifest, work: string, items: IngestItem[]): Promise<Source[]> {
  if (ing.raw) {
    const arr = await openArray(join(work, ing.raw));
    const [, h, w, c] = arr.shape as [number, number, number, 1 | 3];
    const out: Source[] = [];
    for (const it of items as { row: number }[]) {
      const k = Math.floor(it.row / arr.chunkRows);
      const chunk = (await arr.readChunk(k)) as Uint8Array;
      const r = it.row - k * arr.chunkRows;
      out.push({ name: `mnist:${it.row}`, data: chunk.slice(r * h * w * c, (r + 1) * h * w * c), raw: { width: w, height: h, channels: c } });
    }
    return out;
  }
  const { readFile } = await import('node:fs/promises');
  return Promise.all(
    (items as { file: string }[]).map(async (it) => ({ name: it.file, data: await readFile(join(ing.root!, it.file)).catch(() => new Uint8Array(0)) })),
  );
}

async function render(src: Source, job: ImageJob): Promise<Uint8Array> {
  const S = job.sizes[0]!;
  const out = new Uint8Array(S * S * job.channels);
  if (job.crop === 'border') fillSlots(out, job.channels === 1 ? [await greyOfFill(job.fill)] : job.fill, job.channels);
  await processImage(src.raw ? { data: src.data, raw: src.raw } : { data: src.data }, job, [out], 0);
  return out;
}

/** Rows = sources, columns = border / center / squish at the spec's size, enlarged (nearest) to be seen. */
async function contactSheet(sources: Source[], job: ImageJob, file: string): Promise<void> {
  const S = job.sizes[0]!;
  const cell = Math.max(S, Math.ceil(160 / S) * S);
  const gap = 8;
  const header = 28;
  const W = CROPS.length * cell + (CROPS.length + 1) * gap;
  const H = header + sources.length * (cell + gap) + gap;
  const composites: OverlayOptions[] = [];
  for (const [r, src] of sources.entries()) {
    for (const [c, crop] of CROPS.entries()) {
      const px = await render(src, { ...job, crop });
      const big = await sharp(px, { raw: { width: S, height: S, channels: job.channels } })
        .resize(cell, cell, { kernel: 'nearest' })
        .png()
        .toBuffer();
      composites.push({ input: big, left: gap + c * (cell + gap), top: header + gap + r * (cell + gap) });
    }
  }
  const labels = CROPS.map(
    (c, i) => `<text x="${gap + i * (cell + gap) + cell / 2}" y="20" font-family="DejaVu Sans, sans-serif" font-size="16" fill="#222" text-anchor="middle">${c}${c === job.crop ? ' (spec)' : ''}</text>`,
  ).join('');
  composites.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${header}">${labels}</svg>`), left: 0, top: 0 });
  await sharp({ create: { width: W, height: H, channels: 3, background: '#e8e8e8' } })
    .composite(composites)
    .png()
    .toFile(file);
  await writeFile(`${file}.txt`, `columns: ${CROPS.join(' / ')} at ${S}×${S}, kernel ${job.kernel}, shown enlarged ${cell / S}× (nearest)\nrows: ${sources.map((s) => s.name).join(', ')}\n`);
}
