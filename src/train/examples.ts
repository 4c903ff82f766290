// Per-example results of an evaluation: one row per validation image with its true and predicted
// class, whether it was right, the confidence, and the source image's size and aspect ratio.
// Written by the evaluate stage as the run artifact `predictions.csv`; `ablate compare` reads it
// for the validation-set part of the intervals and for the per-slice breakdowns. The example id is
// the source file (relative to the dataset), so runs of different arms pair up example by example
// even when a crop skipped a file.
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { type Batch, batches } from '../data/loader.js';
import type { IngestManifest } from '../data/ingest.js';
import type { ZarrArray } from '../data/zarr.js';
import { CLASSIFY_TOP1, classifyMaps, type LabelledArrays } from './loop.js';
import { localPass, type RowPass, rowsOf } from './parallel/pass.js';

export interface ExampleRow {
  id: string;
  label: number;
  trueClass: string;
  pred: number;
  predClass: string;
  correct: 0 | 1;
  confidence: number;
  width: number;
  height: number;
  /** width / height of the source image (after EXIF rotation). */
  aspect: number;
}

export const EXAMPLES_ARTIFACT = 'predictions.csv';
const COLUMNS = ['id', 'label', 'true_class', 'pred', 'pred_class', 'correct', 'confidence', 'width', 'height', 'aspect'] as const;

/**
 * Predictions for every row of `data`; `ids[row]` names the row's example and `dims[row]` its
 * source size. Top-1 comes from the same class scores as the evaluation's accuracy (the
 * classifier's CLASSIFY_TOP1 pass, split across `pass`'s ranks when given).
 */
export async function predictExamples(
  model: tf.LayersModel,
  data: LabelledArrays,
  o: { classes: string[]; ids: string[]; dims: { width: number; height: number }[]; batchSize: number; classTargets?: tf.Tensor2D | undefined; pass?: RowPass<Batch> | undefined },
): Promise<ExampleRow[]> {
  const pass = o.pass ?? localPass(classifyMaps(model, undefined, o.classTargets, 1));
  const rows: ExampleRow[] = [];
  let index = 0;
  for await (const b of batches({ images: data.x, labels: data.y, batchSize: o.batchSize, seed: 0, epoch: 0, normalize: data.normalize })) {
    const v = rowsOf(await pass.map(b, CLASSIFY_TOP1, index++));
    for (let i = 0; i < b.n; i++) {
      const row = b.rows[i]!;
      const label = b.y![i]!;
      const pred = v[2 * i]!;
      const d = o.dims[row] ?? { width: Number.NaN, height: Number.NaN };
      rows.push({
        id: o.ids[row] ?? String(row),
        label,
        trueClass: o.classes[label] ?? String(label),
        pred,
        predClass: o.classes[pred] ?? String(pred),
        correct: pred === label ? 1 : 0,
        confidence: v[2 * i + 1]!,
        width: d.width,
        height: d.height,
        aspect: d.width / d.height,
      });
    }
  }
  return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Example ids and source sizes of a preprocessed split, by row: the split's `index` array maps rows
 * to its file list; without one (arrays written by other tools) rows are their own ids, and
 * without the ingest manifest the sizes are unknown.
 */
export async function splitExamples(
  o: { index?: ZarrArray | undefined; rows: number; files: string[]; ing?: IngestManifest | undefined; ingestDir?: string | undefined },
): Promise<{ ids: string[]; dims: { width: number; height: number }[] }> {
  const rowsToFile: number[] = [];
  if (o.index) for (let c = 0; c < o.index.numChunks; c++) rowsToFile.push(...((await o.index.readChunk(c)) as Int32Array).subarray(0, o.index.rowsInChunk(c)));
  else for (let r = 0; r < o.rows; r++) rowsToFile.push(r);
  const ids = rowsToFile.map((k) => o.files[k] ?? `row:${k}`);
  const ing = o.ing;
  const dims = await Promise.all(
    ids.map(async (id) => {
      if (!ing) return { width: Number.NaN, height: Number.NaN };
      if (ing.raw || id.startsWith('mnist:')) return { width: 28, height: 28 };
      try {
        const m = await sharp(join(ing.root ?? o.ingestDir ?? '', id)).metadata();
        // EXIF orientations 5–8 swap the sides, as the preprocessing's rotation does.
        const swap = (m.orientation ?? 1) >= 5;
        return { width: (swap ? m.height : m.width) ?? Number.NaN, height: (swap ? m.width : m.height) ?? Number.NaN };
      } catch {
        return { width: Number.NaN, height: Number.NaN };
      }
    }),
  );
  return { ids, dims };
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

export function examplesCsv(rows: readonly ExampleRow[]): string {
  const body = rows.map((r) =>
    [csvField(r.id), r.label, csvField(r.trueClass), r.pred, csvField(r.predClass), r.correct, r.confidence.toFixed(6), r.width, r.height, Number.isFinite(r.aspect) ? r.aspect.toFixed(6) : ''].join(','),
  );
  return `${[COLUMNS.join(','), ...body].join('\n')}\n`;
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Reads `predictions.csv` back; throws naming the line on a malformed row. */
export function parseExamplesCsv(text: string, file = EXAMPLES_ARTIFACT): ExampleRow[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const head = splitCsvLine(lines[0] ?? '');
  const col = (name: (typeof COLUMNS)[number]) => {
    const i = head.indexOf(name);
    if (i < 0) throw new Error(`${file}:1: missing column ${name}`);
    return i;
  };
  const c = Object.fromEntries(COLUMNS.map((n) => [n, col(n)])) as Record<(typeof COLUMNS)[number], number>;
  return lines.slice(1).map((line, k) => {
    const f = splitCsvLine(line);
    if (f.length !== head.length) throw new Error(`${file}:${k + 2}: expected ${head.length} fields, got ${f.length}`);
    const num = (n: (typeof COLUMNS)[number]) => (f[c[n]] === '' ? Number.NaN : Number(f[c[n]]));
    return {
      id: f[c.id]!,
      label: num('label'),
      trueClass: f[c.true_class]!,
      pred: num('pred'),
      predClass: f[c.pred_class]!,
      correct: num('correct') === 1 ? 1 : 0,
      confidence: num('confidence'),
      width: num('width'),
      height: num('height'),
      aspect: num('aspect'),
    };
  });
}
