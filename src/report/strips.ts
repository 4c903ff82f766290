// Example inputs per arm for report.html: the same few validation images, read back from each
// arm's preprocess output in the stage cache, so the reader sees exactly what each model saw
// (a border arm's bars, a center arm's cut edges, a squish arm's distortion) side by side.
// The images are embedded as PNG data URIs: the report stays one file with no requests.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { openArray, type ZarrArray } from '../data/zarr.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { TAG } from '../track/tags.js';
import type { Group } from './aggregate.js';
import { esc } from './html.js';
import type { SweepData, TrialData } from './load.js';


/** Pixels per image in the strip: small inputs scaled up (nearest neighbour, so no detail is invented). */
const SHOWN = 96;
const GAP = 4;

interface ArmImages {
  label: string;
  side: number;
  channels: number;
  images: ZarrArray;
  /** Validation position (index into the split's file list) → row in the arrays. */
  rowOf: Map<number, number>;
  files: string[];
  classes: string[];
  labels: Int32Array;
  /** Filled by readRows: position → pixels. */
  rows: Map<number, Uint8Array>;
}

async function readAll(a: ZarrArray): Promise<Int32Array> {
  const out = new Int32Array(a.shape[0]!);
  for (let k = 0; k < a.numChunks; k++) out.set(((await a.readChunk(k)) as Int32Array).subarray(0, a.rowsInChunk(k)), k * a.chunkRows);
  return out;
}

/** One arm's validation arrays (opened, only the small index and labels read), or why not. */
async function armImages(label: string, trial: TrialData): Promise<ArmImages | string> {
  const spec = trial.spec as ExperimentSpec | undefined;
  const key = trial.tags?.[`${TAG.stage}preprocess`];
  if (!spec || !key) return `${label}: its run recorded no preprocess stage`;
  const dir = join(resolve(spec.cache.dir), 'preprocess', key);
  if (!existsSync(join(dir, 'val', 'images'))) return `${label}: its preprocess cache entry ${dir} is gone`;
  const images = await openArray(join(dir, 'val', 'images'));
  const index = await readAll(await openArray(join(dir, 'val', 'index')));
  const labels = await readAll(await openArray(join(dir, 'val', 'labels')));
  const [side, , channels] = images.shape.slice(1) as [number, number, number];
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { classes: string[]; splits: { val: { files: string[] } } };
  const rowOf = new Map<number, number>();
  for (let r = 0; r < index.length; r++) rowOf.set(index[r]!, r);
  return { label, side, channels, images, rowOf, files: manifest.splits.val.files, classes: manifest.classes, labels, rows: new Map() };
}

/** Reads only the chunks holding the wanted positions (a validation split can be gigabytes). */
async function readRows(arm: ArmImages, positions: number[]): Promise<void> {
  const row = arm.images.rowElems;
  const chunks = new Map<number, Uint8Array>();
  for (const p of positions) {
    const r = arm.rowOf.get(p)!;
    const k = Math.floor(r / arm.images.chunkRows);
    if (!chunks.has(k)) chunks.set(k, (await arm.images.readChunk(k)) as Uint8Array);
    const at = (r - k * arm.images.chunkRows) * row;
    arm.rows.set(p, chunks.get(k)!.slice(at, at + row));
  }
}

async function stripPng(arm: ArmImages, positions: number[]): Promise<string> {
  const { side, channels } = arm;
  const tiles = await Promise.all(
    positions.map((p) =>
      sharp(Buffer.from(arm.rows.get(p)!), { raw: { width: side, height: side, channels: channels as 1 | 3 } })
        .resize(SHOWN, SHOWN, { kernel: 'nearest' })
        .png()
        .toBuffer(),
    ),
  );
  const width = positions.length * SHOWN + (positions.length - 1) * GAP;
  const png = await sharp({ create: { width, height: SHOWN, channels: 3, background: '#ffffff' } })
    .composite(tiles.map((input, i) => ({ input, left: i * (SHOWN + GAP), top: 0 })))
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/**
 * The strips section: `n` validation images present in every arm (the first ones in validation
 * order), one strip per group. Returns '' with a note when no arm's preprocess output is found.
 */
export async function exampleStrips(data: SweepData, groups: readonly Group[], n = 5): Promise<string> {
  const byRun = new Map(data.trials.flatMap((t) => t.runIds.map((id) => [id, t] as const)));
  const arms: ArmImages[] = [];
  const missing: string[] = [];
  for (const g of groups) {
    const trial = [...g.runs, ...g.failed].map((r) => byRun.get(r.runIds.at(-1) ?? '')).find((t) => t?.tags?.[`${TAG.stage}preprocess`]);
    if (!trial) {
      missing.push(`${g.label}: no run with a preprocess stage`);
      continue;
    }
    const a = await armImages(g.label, trial);
    if (typeof a === 'string') missing.push(a);
    else arms.push(a);
  }
  const note = missing.length ? `<p class="note">Not shown: ${esc(missing.join('; '))}.</p>` : '';
  if (arms.length === 0) return `<section id="examples"><h2>Example inputs</h2>${note || '<p class="note">No preprocessed images found.</p>'}</section>`;
  // Images every arm kept (an arm may skip a file another could read), in validation order.
  const shared = [...arms[0]!.rowOf.keys()].filter((p) => arms.every((a) => a.rowOf.has(p))).sort((a, b) => a - b);
  const positions = shared.slice(0, n);
  if (positions.length === 0) return `<section id="examples"><h2>Example inputs</h2><p class="note">No validation image is in every arm's preprocess output.</p>${note}</section>`;
  for (const a of arms) await readRows(a, positions);
  const first = arms[0]!;
  const names = positions.map((p) => `${first.files[p] ?? `#${p}`} (${first.classes[first.labels[first.rowOf.get(p)!]!] ?? '?'})`);
  const strips: string[] = [];
  for (const a of arms) {
    const uri = await stripPng(a, positions);
    const w = positions.length * SHOWN + (positions.length - 1) * GAP;
    strips.push(
      `<figure class="strip" data-group="${esc(a.label)}"><figcaption>${esc(a.label)} <small>${a.side}×${a.side}×${a.channels}</small></figcaption><img src="${uri}" width="${w}" height="${SHOWN}" alt="${esc(`${a.label}: ${names.join(', ')}`)}"></figure>`,
    );
  }
  return `<section id="examples"><h2>Example inputs</h2><p class="note">The same ${positions.length} validation images as each arm's preprocessing made them, the pixels the model saw (shown at ${SHOWN} px, nearest neighbour): ${esc(names.join(', '))}.</p>${strips.join('\n')}${note}</section>`;
}
