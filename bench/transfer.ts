// bench:transfer — epoch time of training a head on cached activations vs fine-tuning the same
// stacked model (base up to the cut + the same head) end to end, side by side in one run on the
// generated `shapes` data, on the best backend available. Also reports the one-off cost of
// computing the activations and after how many epochs caching pays for itself.
// Last stdout line: one JSON object with at least "head_vs_full_epoch_speedup".
//   node dist/bench/transfer.js [--epochs N] [--count N] [--width N]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { ingest } from '../src/data/ingest.js';
import { createPool } from '../src/data/pool/pool.js';
import { preprocessAll } from '../src/data/preprocess.js';
import { buildHead, cutModel, resnet, resolveLayer, setTrainable, stackModel } from '../src/models/index.js';
import { experimentSchema } from '../src/spec/schema.js';
import { extractFeatures } from '../src/train/features-stage.js';
import { fit, type LabelledArrays } from '../src/train/loop.js';
import { buildLoss } from '../src/train/losses.js';
import { openLabelled, readDataInfo } from '../src/train/setup.js';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const EPOCHS = arg('epochs', 3);
const COUNT = arg('count', 400);
const WIDTH = arg('width', 8);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function epochTimes(model: tf.LayersModel, data: LabelledArrays, seed: number): Promise<number[]> {
  const times: number[] = [];
  const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]);
  const spec = experimentSchema.parse({ train: { epochs: EPOCHS, batchSize: 32, lr: 1e-3 } }).train;
  await fit({ model, loss, train: data, spec, seed, metric: (k, v) => k === 'epoch_time_s' && times.push(v) });
  return times;
}

async function main(): Promise<void> {
  const backend = await initBackend('auto');
  const dir = await mkdtemp(join(tmpdir(), 'ablate-bench-transfer-'));
  try {
    const spec = experimentSchema.parse({
      dataset: { source: 'shapes', count: COUNT, path: join(dir, 'shapes') },
      preprocess: { size: 32, crop: 'squish' },
      model: { base: { arch: 'resnet', width: WIDTH }, cut: 'before-last-downsample', pool: 2 },
    });
    const pool = createPool();
    try {
      await ingest({ dataset: spec.dataset, seed: 0, out: join(dir, 'ingest'), pool });
      await preprocessAll({
        ingestDir: join(dir, 'ingest'),
        out: join(dir, 'pre'),
        preprocess: spec.preprocess,
        maxPixels: spec.dataset.maxPixels,
        maxBadFraction: spec.dataset.maxBadFraction,
        version: 0,
        pool,
      });
    } finally {
      await pool.close();
    }
    const pre = join(dir, 'pre');
    const info = await readDataInfo(pre);
    const base = resnet({ inputShape: info.imageShape, outputs: info.classes.length, width: WIDTH, seed: 0 });
    const layer = resolveLayer(base, spec.model.cut!).name;
    const features = cutModel(base, spec.model.cut!, spec.model.pool);
    const featShape = features.outputs[0]!.shape.slice(1) as number[];
    const headOpts = { ...spec.model.head, outputs: info.classes.length, seed: 0 };

    const t0 = performance.now();
    await extractFeatures(features, pre, join(dir, 'features'), 'train', spec.preprocess.normalize, layer);
    const featuresS = (performance.now() - t0) / 1000;

    // Head on cached activations.
    const head = buildHead(featShape, headOpts);
    const headTimes = await epochTimes(head, await openLabelled(join(dir, 'features'), 'train', 'features', 'none'), 0);
    // The same stacked model (fresh head of the same shape), everything trainable.
    const stacked = stackModel(features, buildHead(featShape, headOpts));
    setTrainable(stacked, 'all', new Set());
    const fullTimes = await epochTimes(stacked, await openLabelled(pre, 'train', 'images', spec.preprocess.normalize), 0);

    // The first epoch includes one-off kernel set-up; the median of the rest is the steady state.
    const steady = (t: number[]) => median(t.length > 1 ? t.slice(1) : t);
    const headS = steady(headTimes);
    const fullS = steady(fullTimes);
    const n = (await openLabelled(pre, 'train', 'images', 'unit')).x.shape[0]!;
    const rows: [string, string, string][] = [
      ['head on cached activations', headS.toFixed(3), (n / headS).toFixed(0)],
      ['full fine-tuning (stacked)', fullS.toFixed(3), (n / fullS).toFixed(0)],
    ];
    console.log(`backend ${backend.name} (${backend.detail}); shapes ${n} train images 32×32×3; resnet width ${WIDTH}; cut ${layer} + pool 2 → [${featShape.join(', ')}]; batch 32; ${EPOCHS} epochs each, median of epochs 2..${EPOCHS}`);
    console.log('| mode | epoch (s) | images/s |');
    console.log('|---|---:|---:|');
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
    console.log(`activations computed once in ${featuresS.toFixed(2)} s (train split)`);
    const speedup = fullS / headS;
    const result = {
      bench: 'transfer',
      backend: backend.name,
      images: n,
      cut: layer,
      feature_shape: featShape,
      head_epoch_s: headS,
      full_epoch_s: fullS,
      features_once_s: featuresS,
      head_vs_full_epoch_speedup: speedup,
      // Epochs after which caching + head training beats fine-tuning in total time.
      breakeven_epochs: featuresS / Math.max(1e-9, fullS - headS),
      head_epochs_s: headTimes,
      full_epochs_s: fullTimes,
    };
    console.log(JSON.stringify(result));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
