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
import { archFields, cutModel, loadBase, resolveLayer } from '../models/index.js';
import type { StageContext, StageImpl } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { pretrainedDir, stage as pretrainStage } from './pretrain-stage.js';
import { readDataInfo } from './setup.js';

export const FEATURES_VERSION = 1;

/**
 * Writes cut activations of `<src>/<split>/images` to `<dst>/<split>/features`, reading one chunk
 * of images and holding one chunk of activations at a time; `layer` (the cut layer's name) is
 * stored in the array's attributes. Returns images per second.
 */
export async function extractFeatures(features: tf.LayersModel, src: string, dst: string, split: 'train' | 'val', normalize: ExperimentSpec['preprocess']['normalize'], layer: string, onRows?: (n: number) => void): Promise<number> {
  const images = await openArray(join(src, split, 'images'));
  const labels = await openArray(join(src, split, 'labels'));
  const outShape = features.outputs[0]!.shape.slice(1) as number[];
  const w = new ArrayWriter(join(dst, split, 'features'), outShape, 'float32', images.chunkRows, undefined, { layer });
  const wl = new ArrayWriter(join(dst, split, 'labels'), [], 'int32', images.chunkRows);
  const [, h, wd, c] = images.shape as [number, number, number, number];
  const lut = normalizeTable(normalize, c);
  const raw = images.alloc(images.chunkRows) as Uint8Array;
  const lab = labels.alloc(labels.chunkRows) as Int32Array;
  const t0 = performance.now();
  for (let k = 0; k < images.numChunks; k++) {
    const rows = images.rowsInChunk(k);
    await images.readChunk(k, raw);
    await labels.readChunk(k, lab);
    const x = new Float32Array(rows * images.rowElems);
    for (let i = 0; i < x.length; i++) x[i] = lut[(i % c) * 256 + raw[i]!]!;
    const out = tf.tidy(() => features.predict(tf.tensor4d(x, [rows, h, wd, c])) as tf.Tensor);
    await w.append((await out.data()) as Float32Array);
    out.dispose();
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
  const trainRate = await extractFeatures(features, pre, ctx.out, 'train', spec.preprocess.normalize, layer, tick);
  await extractFeatures(features, pre, ctx.out, 'val', spec.preprocess.normalize, layer, tick);
  ctx.progress.done(`${total} images → activations at ${layer}`);
  ctx.run?.logMetric('features_images_per_s', trainRate);
  await writeFile(join(ctx.out, 'manifest.json'), JSON.stringify({ version: FEATURES_VERSION, layer, pool: spec.model.pool ?? null, shape, classes: info.classes }, null, 1));
  base.dispose();
}

export const stage: StageImpl = {
  kind: 'features',
  version: FEATURES_VERSION,
  inputs: ['preprocess', 'pretrain'],
  cacheable: true,
  enabled: (spec) => spec.model.cut !== undefined && spec.model.trainable === 'head',
  slice: (spec: ExperimentSpec) => ({
    // The pretrained weights enter through the pretrain key; without pretraining the base's
    // architecture and seed (or its path) decide the weights.
    base: pretrainStage.enabled!(spec) ? null : { arch: spec.model.base.arch, ...archFields(spec.model.base), path: spec.model.base.path ?? null, seed: spec.seed },
    cut: spec.model.cut,
    pool: spec.model.pool ?? null,
    normalize: spec.preprocess.normalize,
  }),
  // A user's model file can change under the same path: its size and mtime join the key.
  async identity(spec) {
    if (!spec.model.base.path) return null;
    const { stat } = await import('node:fs/promises');
    const p = spec.model.base.path;
    const s = await stat(p);
    const file = s.isDirectory() ? join(p, 'model.json') : p;
    const f = await stat(file);
    return { file, size: f.size, mtime: f.mtimeMs };
  },
  run,
};
