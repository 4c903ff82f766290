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
import type { SweepData, TrialData } from './load.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Pixels per image in the strip: small inputs scaled up (nearest neighbour, so no detail is invented). */
const SHOWN = 96;
const GAP = 4;

interface ArmImages {
  label: string;
  side: number;
  channels: number;
  /** Validation position (index into the split's file list) → pixels. */
  rows: Map<number, Uint8Array>;
  files: string[];
  classes: string[];
  labels: Map<number, number>;
}

async function readAll(a: ZarrArray): Promise<Uint8Array | Int32Array> {
  const parts: (Uint8Array | Int32Array)[] = [];
  for (let k = 0; k < a.numChunks; k++) parts.push(((await a.readChunk(k)) as Uint8Array | Int32Array).subarray(0, a.rowsInChunk(k) * a.rowElems));
  const n = parts.reduce((t, p) => t + p.length, 0);
  const out = a.dtype === 'int32' ? new Int32Array(n) : new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One arm's validation images, or why they cannot be shown. */
async function armImages(label: string, trial: TrialData): Promise<ArmImages | string> {
  const spec = trial.spec as ExperimentSpec | undefined;
  const key = trial.tags?.[`${TAG.stage}preprocess`];
  if (!spec || !key) return `${label}: its run recorded no preprocess stage`;
  const dir = join(resolve(spec.cache.dir), 'preprocess', key);
  if (!existsSync(join(dir, 'val', 'images'))) return `${label}: its preprocess cache entry ${dir} is gone`;
  const images = await openArray(join(dir, 'val', 'images'));
  const index = (await readAll(await openArray(join(dir, 'val', 'index')))) as Int32Array;
  const labels = (await readAll(await openArray(join(dir, 'val', 'labels')))) as Int32Array;
  const px = (await readAll(images)) as Uint8Array;
  const [side, , channels] = images.shape.slice(1) as [number, number, number];
  const row = side * side * channels;
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { classes: string[]; splits: { val: { files: string[] } } };
  const rows = new Map<number, Uint8Array>();
  const lab = new Map<number, number>();
  for (let r = 0; r < index.length; r++) {
    rows.set(index[r]!, px.subarray(r * row, (r + 1) * row));
    lab.set(index[r]!, labels[r]!);
  }
  return { label, side, channels, rows, files: manifest.splits.val.files, classes: manifest.classes, labels: lab };
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
  const shared = [...arms[0]!.rows.keys()].filter((p) => arms.every((a) => a.rows.has(p))).sort((a, b) => a - b);
  const positions = shared.slice(0, n);
  const first = arms[0]!;
  const names = positions.map((p) => `${first.files[p] ?? `#${p}`} (${first.classes[first.labels.get(p)!] ?? '?'})`);
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
