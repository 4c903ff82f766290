// Stage 'features': runs the base up to the cut (and the optional pooling) over every preprocessed
// image, a batch at a time, and stores the activations as Zarr arrays `<out>/<split>/features`
// (float32, chunked like the images) with `<split>/labels`. Flipped copies are rows of the
// preprocessed images already, so they get activations too. The key holds only the base, the cut
// and the pool: sweeps over heads, losses or optimizers all reuse one entry.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { normalizeTable } from '../data/loader.js';
import { ArrayWriter, openArray } from '../data/zarr.js';
import { cutModel, loadBase, resolveLayer } from '../models/index.js';
import { modelContent } from '../pipeline/keys.js';
import type { StageContext, StageImpl } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { pretrainedDir } from './pretrain-stage.js';
import { trainingWorkers } from './epoch-loop.js';
import { localPass, type RowPass, rowsOf, startPass } from './parallel/pass.js';
import type { ReplicaTask, ShardMap } from './parallel/replica.js';
import { rowBuffers, splitRows } from './parallel/shards.js';
import { readDataInfo } from './setup.js';

export const FEATURES_VERSION = 1;

/** A chunk of normalised images (rows of height × width × channels). */
type ImageRows = { n: number; x: Float32Array };

/** The cut network's forward pass on a shard of images: its activations, row by row. */
function cutMap(features: tf.LayersModel, shape: number[]): ShardMap<ImageRows> {
  return async (b) => {
    const out = tf.tidy(() => features.predict(tf.tensor4d(b.x, [b.n, ...shape] as [number, number, number, number])) as tf.Tensor);
    const v = (await out.data()) as Float32Array;
    out.dispose();
    return [v];
  };
}

/** Builds the cut network's pass in a data-parallel worker (the features stage's). */
export async function featuresReplica(config: { shape: number[] }, [features]: tf.LayersModel[]): Promise<ReplicaTask<ImageRows>> {
  return { phases: [], maps: [cutMap(features!, config.shape)] };
}

/**
 * The features pass over `workers` ranks (`train.workers`, each chunk split across them), or on
 * this thread with one. `shape` is one image's [height, width, channels].
 */
export function featuresPass(features: tf.LayersModel, shape: number[], workers: number, backend: string): Promise<RowPass<ImageRows>> {
  return startPass({
    workers,
    backend,
    plan: { models: [features], maps: [cutMap(features, shape)], recipe: { module: import.meta.url, name: 'featuresReplica', config: { shape } }, split: splitRows, buffers: rowBuffers },
  });
}

/**
 * Writes cut activations of `<src>/<split>/images` to `<dst>/<split>/features`, reading one chunk
 * of images and holding one chunk of activations at a time; `layer` (the cut layer's name) is
 * stored in the array's attributes. With `pass` (featuresPass), each chunk is split across its
 * ranks. Returns images per second.
 */
export async function extractFeatures(
  features: tf.LayersModel,
  src: string,
  dst: string,
  split: 'train' | 'val',
  normalize: ExperimentSpec['preprocess']['normalize'],
  layer: string,
  onRows?: (n: number) => void,
  pass?: RowPass<ImageRows>,
): Promise<number> {
  const images = await openArray(join(src, split, 'images'));
  const labels = await openArray(join(src, split, 'labels'));
  const outShape = features.outputs[0]!.shape.slice(1) as number[];
  const w = new ArrayWriter(join(dst, split, 'features'), outShape, 'float32', images.chunkRows, undefined, { layer });
  const wl = new ArrayWriter(join(dst, split, 'labels'), [], 'int32', images.chunkRows);
  const [, h, wd, c] = images.shape as [number, number, number, number];
  const lut = normalizeTable(normalize, c);
  const run = pass ?? localPass([cutMap(features, [h, wd, c])]);
  const raw = images.alloc(images.chunkRows) as Uint8Array;
  const lab = labels.alloc(labels.chunkRows) as Int32Array;
  const t0 = performance.now();
  for (let k = 0; k < images.numChunks; k++) {
    const rows = images.rowsInChunk(k);
    await images.readChunk(k, raw);
    await labels.readChunk(k, lab);
    const x = new Float32Array(rows * images.rowElems);
    for (let i = 0; i < x.length; i++) x[i] = lut[(i % c) * 256 + raw[i]!]!;
    await w.append(rowsOf(await run.map({ n: rows, x }, 0, k)));
    await wl.append(lab, 0, rows);
    onRows?.(rows);
  }
  await w.close();
  await wl.close();
  return images.shape[0]! / ((performance.now() - t0) / 1000);
}

async function run(ctx: StageContext): Promise<void> {
  const spec = ctx.spec;
  const pre = ctx.input('preprocess');
  const info = await readDataInfo(pre);
  const base = await loadBase(spec.model.base, { inputShape: info.imageShape, outputs: info.classes.length, seed: spec.seed }, pretrainedDir(ctx));
  const layer = resolveLayer(base, spec.model.cut!).name;
  const features = cutModel(base, spec.model.cut!, spec.model.pool);
  const shape = features.outputs[0]!.shape.slice(1);
  const total = (await openArray(join(pre, 'train', 'images'))).shape[0]! + (await openArray(join(pre, 'val', 'images'))).shape[0]!;
  ctx.log.info(`features: cut at ${layer}${spec.model.pool ? ` + ${spec.model.pool}×${spec.model.pool} average pool` : ''} → [${shape.join(', ')}] per image`);
  ctx.progress.start(total, 'images');
  const tick = (n: number) => ctx.progress.tick(n);
  const { workers, backend } = trainingWorkers(spec.train.workers);
  const pass = await featuresPass(features, info.imageShape, workers, backend);
  let trainRate: number;
  try {
    trainRate = await extractFeatures(features, pre, ctx.out, 'train', spec.preprocess.normalize, layer, tick, pass);
    await extractFeatures(features, pre, ctx.out, 'val', spec.preprocess.normalize, layer, tick, pass);
  } finally {
    await pass.close();
  }
  ctx.progress.done(`${total} images → activations at ${layer}${workers > 1 ? ` (${workers} workers)` : ''}`);
  ctx.run?.logMetric('features_images_per_s', trainRate);
  await writeFile(join(ctx.out, 'manifest.json'), JSON.stringify({ version: FEATURES_VERSION, layer, pool: spec.model.pool ?? null, shape, classes: info.classes }, null, 1));
  base.dispose();
}

export const stage: StageImpl = {
  kind: 'features',
  inputs: ['preprocess', 'pretrain'],
  cacheable: true,
  libraries: ['tfjs'],
  enabled: (spec) => spec.model.cut !== undefined && spec.model.trainable === 'head',
  reads: ['model.base', 'model.cut', 'model.pool', 'seed', 'preprocess.normalize', 'train.backend', 'train.workers'],
  ignores: {
    // test/parallel-passes.test.ts checks the bytes are the same for 1 and 2 workers.
    'train.workers': 'how many ranks compute the activations: each row is computed alone, the same bytes whatever the split',
  },
  // A base file counts by content (model.json and its weight files), not by path.
  async identity(spec) {
    return spec.model.base.path ? { base: await modelContent(spec.model.base.path) } : null;
  },
  run,
};
