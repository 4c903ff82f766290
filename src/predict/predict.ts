// Applying a trained run to image files: each file goes through the preprocessing pool with the
// run's own ImageJob (crop, sizes, fill, centre fraction, kernel, channels, maxPixels: jobOf on the
// recorded spec, the same call the preprocess stage makes), then the loader's normalisation table,
// then the network a batch at a time, with the scores read as the evaluate stage reads them. The
// next batch is decoded while the current one runs through the network. A file that cannot be
// used is reported with the reason ingest/preprocess would give and skipped.
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type Normalize, normalizeTable } from '../data/loader.js';
import { jobOf } from '../data/preprocess.js';
import type { ImagePool } from '../data/pool/pool.js';
import { slabLayout, slabViews } from '../data/pool/slab.js';
import { DEFAULT_INFLIGHT } from '../data/pool/threads.js';
import type { ImageJob } from '../data/image.js';
import { classScores } from '../train/metrics.js';
import type { ExperimentSpec } from '../spec/schema.js';

export interface Prediction {
  file: string;
  /** Best first: class name and probability (softmax of the logits; with class target vectors, the cosine score). */
  top: { label: string; p: number }[];
}

export interface Skipped {
  file: string;
  reason: string;
}

/** Files named, and every non-hidden file under the folders named (sorted by code point, like ingest). */
export async function inputFiles(paths: string[]): Promise<{ files: string[]; missing: Skipped[] }> {
  const files: string[] = [];
  const missing: Skipped[] = [];
  const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => byCodePoint(a.name, b.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else files.push(p);
    }
  };
  for (const p of paths) {
    try {
      if ((await stat(p)).isDirectory()) await walk(p);
      else files.push(p);
    } catch (e) {
      missing.push({ file: p, reason: `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    }
  }
  return { files, missing };
}

/** The ImageJob a run's preprocess stage used (validation: never flipped). */
export function runJob(spec: ExperimentSpec): ImageJob {
  return jobOf(spec.preprocess, spec.dataset.maxPixels);
}

interface Decoded {
  files: string[];
  x: Float32Array;
  bad: Skipped[];
}

/** Decodes a batch in `workers` tasks side by side; the first output size is what the network sees. */
async function decode(pool: ImagePool, job: ImageJob, files: string[], lut: Float32Array | null): Promise<Decoded> {
  const S = job.sizes[0]!;
  const C = job.channels;
  const per = Math.ceil(files.length / pool.workers);
  const parts: { files: string[]; status: (string | null)[]; image: Uint8Array }[] = await Promise.all(
    Array.from({ length: Math.ceil(files.length / per) }, async (_, t) => {
      const mine = files.slice(t * per, (t + 1) * per);
      const layout = slabLayout(job, mine.length, false);
      const slab = new SharedArrayBuffer(layout.bytes);
      const r = await pool.preprocess({ items: mine.map((f) => ({ file: f })), job, flip: false, inflight: DEFAULT_INFLIGHT, slab });
      return { files: mine, status: r.status, image: slabViews(slab, layout, mine.length, false).outs[0]! };
    }),
  );
  const row = S * S * C;
  const okFiles: string[] = [];
  const bad: Skipped[] = [];
  for (const p of parts) {
    for (const [i, s] of p.status.entries()) {
      if (s === null) okFiles.push(p.files[i]!);
      else bad.push({ file: p.files[i]!, reason: s });
    }
  }
  const x = new Float32Array(okFiles.length * row);
  let at = 0;
  for (const p of parts) {
    for (let i = 0; i < p.files.length; i++) {
      if (p.status[i] !== null) continue;
      const px = p.image.subarray(i * row, (i + 1) * row);
      if (lut) for (let j = 0; j < row; j++) x[at + j] = lut[(j % C) * 256 + px[j]!]!;
      else for (let j = 0; j < row; j++) x[at + j] = px[j]!;
      at += row;
    }
  }
  return { files: okFiles, x, bad };
}

export interface PredictOptions {
  model: tf.LayersModel;
  spec: ExperimentSpec;
  classes: string[];
  pool: ImagePool;
  files: string[];
  /** Classes per image, best first (capped at the number of classes). */
  top: number;
  /** Class target vectors [K, D] when the run trained on embedding targets. */
  classTargets?: tf.Tensor2D | undefined;
  /** Images per network call (default: the run's train.batchSize, as evaluate used). */
  batchSize?: number | undefined;
  onBatch?: (preds: Prediction[], bad: Skipped[]) => void | Promise<void>;
  signal?: AbortSignal | undefined;
}

/** Runs every file through the model; calls onBatch in input order. Returns the counts. */
export async function predictFiles(o: PredictOptions): Promise<{ predicted: number; skipped: number }> {
  const job = runJob(o.spec);
  const S = job.sizes[0]!;
  const C = job.channels;
  const norm = o.spec.preprocess.normalize as Normalize;
  const lut = norm === 'none' ? null : normalizeTable(norm, C);
  const B = o.batchSize ?? o.spec.train.batchSize;
  const k = Math.min(o.top, o.classes.length);
  let predicted = 0;
  let skipped = 0;
  const batchesOf = Array.from({ length: Math.ceil(o.files.length / B) }, (_, i) => o.files.slice(i * B, (i + 1) * B).map((f) => resolve(f)));
  let next = batchesOf.length ? decode(o.pool, job, batchesOf[0]!, lut) : undefined;
  for (let i = 0; i < batchesOf.length; i++) {
    if (o.signal?.aborted) throw new Error('interrupted');
    const d = await next!;
    next = i + 1 < batchesOf.length ? decode(o.pool, job, batchesOf[i + 1]!, lut) : undefined;
    // Awaited next time round; if this batch throws first, its failure must not go unhandled.
    next?.catch(() => {});
    const preds: Prediction[] = [];
    if (d.files.length) {
      const K = o.classes.length;
      const out = tf.tidy(() => {
        const scores = classScores(o.model.apply(tf.tensor4d(d.x, [d.files.length, S, S, C]), { training: false }) as tf.Tensor, o.classTargets);
        // Ranked on the scores with the top-k the evaluate stage counts hits with, so ties break
        // the same way; softmax only labels the ranks (rounding could tie two close logits).
        return [tf.topk(scores, k).indices, o.classTargets ? scores : tf.softmax(scores)] as const;
      });
      // Read back and picked here: wasm's gather with batchDims reads out of bounds.
      const [idx, p] = await Promise.all([out[0].data(), out[1].data()]);
      tf.dispose([...out]);
      for (const [j, file] of d.files.entries()) {
        preds.push({
          file,
          top: Array.from({ length: k }, (_, r) => {
            const c = idx[j * k + r]!;
            return { label: o.classes[c]!, p: p[j * K + c]! };
          }),
        });
      }
    }
    predicted += preds.length;
    skipped += d.bad.length;
    await o.onBatch?.(preds, d.bad);
  }
  return { predicted, skipped };
}
