// Stage 'pretrain': trains a built-in base on a source task — a subset of the dataset's own
// classes, MNIST (resized here), or generated shapes for another dataset (ingested and preprocessed
// like the dataset) — and saves it as a LayersModel (`<out>/model`), so transfer learning works
// without downloaded weights. The source arrays it trains on are temporary and removed.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ingest, knownClasses } from '../data/ingest.js';
import { loadMnist, MNIST_SIDE } from '../data/mnist.js';
import { createPool } from '../data/pool/pool.js';
import { preprocessAll } from '../data/preprocess.js';
import { rng, shuffle } from '../util/rng.js';
import { ArrayWriter, openArray } from '../data/zarr.js';
import { archFields, buildArch } from '../models/index.js';
import { saveModel } from '../models/io.js';
import type { StageContext, StageImpl } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { datasetSchema } from '../spec/sections.js';
import { fit } from './loop.js';
import { buildLoss } from './losses.js';
import { resolveWorkers } from './parallel/cores.js';
import { openLabelled, readDataInfo } from './setup.js';

export const PRETRAIN_VERSION = 2;
// Fixed, not train.batchSize: a sweep over the head's batch size must not retrain the base (and
// with it invalidate the cached activations).
const PRETRAIN_BATCH = 32;

/** Copies the rows whose label is in `keep` (remapped to 0..k−1), a chunk at a time. */
async function subsetSplit(src: string, dst: string, split: 'train' | 'val', keep: Map<number, number>): Promise<number> {
  const images = await openArray(join(src, split, 'images'));
  const labels = await openArray(join(src, split, 'labels'));
  const wi = new ArrayWriter(join(dst, split, 'images'), images.shape.slice(1), 'uint8', images.chunkRows);
  const wl = new ArrayWriter(join(dst, split, 'labels'), [], 'int32', images.chunkRows);
  const ib = images.alloc(images.chunkRows);
  const lb = labels.alloc(labels.chunkRows) as Int32Array;
  for (let c = 0; c < images.numChunks; c++) {
    await images.readChunk(c, ib);
    await labels.readChunk(c, lb);
    for (let r = 0; r < images.rowsInChunk(c); r++) {
      const to = keep.get(lb[r]!);
      if (to === undefined) continue;
      await wi.append(ib, r, 1);
      await wl.append(Int32Array.of(to));
    }
  }
  await wi.close();
  await wl.close();
  return wl.length;
}

/** MNIST digits resized to the training image shape (bilinear, gray tiled to RGB), split 90/10 with the seed. */
export async function mnistSource(dst: string, shape: [number, number, number], seed: number, chunk: number): Promise<string[]> {
  const { images, labels } = await loadMnist();
  const n = labels.length;
  const order = shuffle(
    Array.from({ length: n }, (_, i) => i),
    rng(seed, 'pretrain-mnist'),
  );
  const nVal = Math.round(n * 0.1);
  const px = MNIST_SIDE * MNIST_SIDE;
  for (const [split, rows] of [['val', order.slice(0, nVal)], ['train', order.slice(nVal)]] as const) {
    const wi = new ArrayWriter(join(dst, split, 'images'), shape, 'uint8', chunk);
    const wl = new ArrayWriter(join(dst, split, 'labels'), [], 'int32', chunk);
    for (let s = 0; s < rows.length; s += 256) {
      const part = rows.slice(s, s + 256);
      const raw = new Uint8Array(part.length * px);
      for (const [i, r] of part.entries()) raw.set(images.subarray(r * px, (r + 1) * px), i * px);
      const out = tf.tidy(() => {
        let t = tf.image.resizeBilinear(tf.tensor4d(raw, [part.length, MNIST_SIDE, MNIST_SIDE, 1], 'float32'), [shape[0], shape[1]]);
        if (shape[2] === 3) t = t.tile([1, 1, 1, 3]);
        return t.round().clipByValue(0, 255).toInt();
      });
      await wi.append(Uint8Array.from(await out.data()));
      out.dispose();
      await wl.append(Int32Array.from(part, (r) => labels[r]!));
    }
    await wi.close();
    await wl.close();
  }
  return Array.from({ length: 10 }, (_, d) => String(d));
}

/**
 * Generated `shapes` (default count, seeded) through the data module's own ingest and preprocess
 * with the spec's preprocessing, for datasets that are not shapes themselves. Returns the classes.
 */
async function shapesSource(dst: string, spec: ExperimentSpec, classes: string[] | undefined, signal: AbortSignal): Promise<string[]> {
  const dataset = datasetSchema.parse({ source: 'shapes', ...(classes ? { classes } : {}) });
  const pool = createPool(spec.preprocess.workers);
  try {
    await ingest({ dataset, seed: spec.dataset.seed, out: join(dst, 'ingest'), pool, signal });
    const m = await preprocessAll({
      ingestDir: join(dst, 'ingest'),
      out: dst,
      preprocess: { ...spec.preprocess, size: spec.preprocess.size, downscale: undefined },
      maxPixels: dataset.maxPixels,
      maxBadFraction: dataset.maxBadFraction,
      version: PRETRAIN_VERSION,
      pool,
      signal,
    });
    return m.classes;
  } finally {
    await pool.close();
  }
}

async function run(ctx: StageContext): Promise<void> {
  const spec = ctx.spec;
  const p = spec.model.base.pretrain!;
  const pre = ctx.input('preprocess');
  const info = await readDataInfo(pre);
  const src = join(ctx.out, 'source');
  let classes: string[];
  if (p.source === spec.dataset.source) {
    classes = p.classes ?? info.classes;
    const unknown = classes.filter((c) => !info.classes.includes(c));
    if (unknown.length) throw new Error(`model.base.pretrain.classes: ${unknown.join(', ')} not in the dataset's classes (${info.classes.join(', ')})`);
    const keep = new Map(classes.map((c, i) => [info.classes.indexOf(c), i]));
    const n = await subsetSplit(pre, src, 'train', keep);
    await subsetSplit(pre, src, 'val', keep);
    ctx.log.info(`pretrain: ${n} training images of ${classes.length} ${spec.dataset.source} classes (${classes.join(', ')})`);
  } else if (p.source === 'mnist') {
    classes = await mnistSource(src, info.imageShape, spec.dataset.seed, spec.preprocess.chunk);
    if (p.classes) throw new Error('model.base.pretrain.classes is only supported when pretraining on the dataset itself');
    ctx.log.info(`pretrain: MNIST resized to ${info.imageShape.join('×')}`);
  } else {
    classes = await shapesSource(src, spec, p.classes, ctx.signal);
    ctx.log.info(`pretrain: generated shapes (${classes.join(', ')}) preprocessed like the dataset (${spec.preprocess.crop} ${info.imageShape.join('×')})`);
  }

  const model = buildArch(spec.model.base.arch, { inputShape: info.imageShape, outputs: classes.length, ...archFields(spec.model.base), seed: spec.seed });
  const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]);
  const r = await fit({
    model,
    loss,
    train: await openLabelled(src, 'train', 'images', spec.preprocess.normalize),
    val: await openLabelled(src, 'val', 'images', spec.preprocess.normalize),
    spec: { ...spec.train, batchSize: PRETRAIN_BATCH, epochs: p.epochs, steps: undefined, optimizer: 'adam', beta1: undefined, lr: p.lr, schedule: { kind: 'constant', every: 1, gamma: 1, patience: 2, warmupSteps: 0 } },
    seed: spec.seed,
    topK: Math.min(spec.evaluate.topK, classes.length),
    metric: (k, v, s) => ctx.run?.logMetric(`pretrain_${k}`, v, s),
    progress: ctx.progress,
    log: ctx.log,
    signal: ctx.signal,
  });
  await saveModel(model, join(ctx.out, 'model'));
  model.dispose();
  await rm(src, { recursive: true, force: true });
  await writeFile(
    join(ctx.out, 'manifest.json'),
    JSON.stringify({ version: PRETRAIN_VERSION, arch: spec.model.base.arch, width: spec.model.base.width, source: p.source, classes, inputShape: info.imageShape, metrics: r.last }, null, 1),
  );
  ctx.log.info(`pretrain: ${spec.model.base.arch} on ${classes.length} classes, val_accuracy ${(r.last.val_accuracy ?? 0).toFixed(3)}`);
}

export const stage: StageImpl = {
  kind: 'pretrain',
  inputs: ['preprocess'],
  cacheable: true,
  libraries: ['tfjs'],
  enabled: (spec) => spec.model.base.pretrain !== undefined && spec.model.base.path === undefined,
  check(spec) {
    const p = spec.model.base.pretrain!;
    if (!p.classes) return [];
    const at = (i?: number) => ['model', 'base', 'pretrain', 'classes', ...(i === undefined ? [] : [i])];
    const same = p.source === spec.dataset.source;
    // Pretraining on MNIST while the dataset is something else uses all ten digits.
    if (p.source === 'mnist' && !same) return [{ path: at(), message: 'is only supported when pretraining on the dataset itself (model.base.pretrain.source equal to dataset.source); MNIST pretraining uses all ten digits' }];
    const known = same ? (spec.dataset.classes ?? knownClasses(p.source)) : knownClasses(p.source);
    if (!known) return [];
    return p.classes.flatMap((c, i) => (known.includes(c) ? [] : [{ path: at(i), message: `"${c}" is not a class of the ${same ? 'dataset' : p.source} (${known.join(', ')})` }]));
  },
  reads: ['model.base', 'seed', 'dataset.seed', 'dataset.source', 'preprocess.normalize', 'preprocess.chunk', 'train.backend'],
  ignores: { 'model.base.path': 'a base loaded from a path is never pretrained (the stage is off)' },
  refine(s, spec) {
    // The data seed picks the MNIST split and the generated shapes of a foreign source; a source
    // equal to the dataset reuses the preprocessed arrays (their key is an input).
    const ds = s.dataset as Record<string, unknown>;
    if (spec.model.base.pretrain?.source === spec.dataset.source) delete ds.seed;
    delete ds.source;
    // The worker count as the run resolves it changes the order of the gradient sums (fit splits each batch over them).
    s.workers = resolveWorkers(spec.train.workers);
    return s;
  },
  run,
};

/** The pretrained model folder of a run, if the spec pretrains. */
export function pretrainedDir(ctx: StageContext): string | undefined {
  return stage.enabled!(ctx.spec) ? join(ctx.input('pretrain'), 'model') : undefined;
}
