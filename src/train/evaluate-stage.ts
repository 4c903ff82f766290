// Stage 'evaluate' (task classify): the final model on the validation set — loss terms, accuracy,
// top-k, one row per example (`predictions.csv`, see examples.ts) — and, with embedding targets
// and `evaluate.nearest`, nearest-neighbour search of the predicted vectors among the class
// targets, exact and approximate (HNSW) with its recall. With `evaluate.crop` other than the
// training crop, the validation images are cropped that way first (train/test crop discrepancy)
// and the whole model (images → output) is evaluated on them.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Batch, batches } from '../data/loader.js';
import { loadModel } from '../models/io.js';
import { trainingFiles } from '../pipeline/keys.js';
import type { StageContext, StageImpl } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { readIngest } from '../data/ingest.js';
import { createPool } from '../data/pool/pool.js';
import { preprocessSplit } from '../data/preprocess.js';
import { openArray } from '../data/zarr.js';
import { EXAMPLES_ARTIFACT, examplesCsv, predictExamples, splitExamples } from './examples.js';
import { trainingWorkers } from './epoch-loop.js';
import { CLASSIFY_OUTPUTS, classifyPass, evaluateArrays, evalMetrics, type LabelledArrays } from './loop.js';
import { type RowPass, rowsOf } from './parallel/pass.js';
import { nearestEval } from './nearest.js';
import { classifyLoss, classTargetsTensor, openLabelled } from './setup.js';
import type { FinalInfo } from './train-stage.js';

/** Predicted vectors and labels for a whole labelled array, in row order (the classifier's CLASSIFY_OUTPUTS pass). */
async function predictAll(pass: RowPass<Batch>, data: LabelledArrays, batchSize: number): Promise<{ pred: Float32Array; labels: Int32Array; dim: number }> {
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  let dim = 0;
  let index = 0;
  for await (const b of batches({ images: data.x, labels: data.y, batchSize, seed: 0, epoch: 0, normalize: data.normalize })) {
    const out = rowsOf(await pass.map(b, CLASSIFY_OUTPUTS, index++));
    dim = out.length / b.n;
    parts.push(out);
    labels.push(...b.y!);
  }
  const pred = new Float32Array(parts.reduce((t, p) => t + p.length, 0));
  let at = 0;
  for (const p of parts) {
    pred.set(p, at);
    at += p.length;
  }
  return { pred, labels: Int32Array.from(labels), dim };
}

/** The validation split cropped with `crop` instead of the training crop, written under `dir`. */
async function recropVal(ctx: StageContext, crop: ExperimentSpec['preprocess']['crop'], dir: string): Promise<string> {
  const spec = ctx.spec;
  const ingestDir = ctx.input('ingest');
  const ing = await readIngest(ingestDir);
  const pool = createPool(spec.preprocess.workers);
  try {
    const r = await preprocessSplit(ing, ingestDir, 'val', { ...spec.preprocess, crop, flip: false }, spec.dataset.maxPixels, dir, { pool, signal: ctx.signal });
    ctx.log.info(`evaluate: validation images cropped with ${crop} (trained with ${spec.preprocess.crop}): ${r.count} images`);
    return JSON.stringify(r.files);
  } finally {
    await pool.close();
  }
}

function optionalInput(ctx: StageContext, kind: 'ingest'): string | undefined {
  try {
    return ctx.input(kind);
  } catch {
    return undefined;
  }
}

async function run(ctx: StageContext): Promise<void> {
  const spec = ctx.spec;
  const trained = join(ctx.input('train'), 'final');
  const info = JSON.parse(await readFile(join(trained, 'info.json'), 'utf8')) as FinalInfo;
  const recrop = spec.evaluate.crop !== undefined && spec.evaluate.crop !== spec.preprocess.crop ? spec.evaluate.crop : undefined;
  // Another crop means other images: the head's cached activations do not apply, the whole model does.
  const head = info.mode === 'head' && !recrop;
  const model = await loadModel(join(trained, head ? 'head' : 'model'));
  const pre = ctx.input('preprocess');
  let imagesDir = pre;
  let files = (JSON.parse(await readFile(join(pre, 'manifest.json'), 'utf8')) as { splits?: { val?: { files?: string[] } } }).splits?.val?.files ?? [];
  if (recrop) {
    imagesDir = join(ctx.out, 'recrop');
    files = JSON.parse(await recropVal(ctx, recrop, imagesDir)) as string[];
  }
  const val = head ? await openLabelled(ctx.input('features'), 'val', 'features', 'none') : await openLabelled(imagesDir, 'val', 'images', spec.preprocess.normalize);
  const targets = await classTargetsTensor(spec, info.classes);
  const loss = await classifyLoss(spec);
  const k = spec.evaluate.topK;
  // The validation batches split across the ranks of train.workers, as training splits its batches.
  const { workers, backend } = trainingWorkers(spec.train.workers);
  const pass = await classifyPass(model, loss, { topK: k, classTargets: targets, workers, backend });
  try {
  const r = await evaluateArrays(model, loss, val, { batchSize: spec.train.batchSize, topK: k, classTargets: targets, pass });
  const metrics: Record<string, number> = evalMetrics('eval', r, k, info.classes.length);
  if (spec.evaluate.nearest) {
    if (!targets) throw new Error('evaluate.nearest needs dataset.targets (the model must predict vectors)');
    const { pred, labels, dim } = await predictAll(pass, val, spec.train.batchSize);
    const nn = nearestEval(pred, labels, dim, (await targets.array()) as number[][], { k: spec.evaluate.nearest.k, approximate: spec.evaluate.nearest.approximate, seed: spec.seed });
    Object.assign(metrics, nn);
  }
  await mkdir(ctx.out, { recursive: true });
  // Per-example rows: ids and source sizes by row (the features keep the preprocess rows' order).
  const ingestDir = optionalInput(ctx, 'ingest');
  const { ids, dims } = await splitExamples({
    index: await openArray(join(imagesDir, 'val', 'index')).catch(() => undefined),
    rows: val.x.shape[0]!,
    files,
    ing: ingestDir ? await readIngest(ingestDir).catch(() => undefined) : undefined,
    ingestDir,
  });
  const rows = await predictExamples(model, val, { classes: info.classes, ids, dims, batchSize: spec.train.batchSize, classTargets: targets, pass });
  const examplesFile = join(ctx.out, EXAMPLES_ARTIFACT);
  await writeFile(examplesFile, examplesCsv(rows));
  await ctx.run?.logArtifact(examplesFile);
  for (const [key, v] of Object.entries(metrics)) ctx.run?.logMetric(key, v);
  await writeFile(join(ctx.out, 'metrics.json'), JSON.stringify(metrics, null, 1));
  ctx.log.info(`evaluate: ${Object.entries(metrics).map(([key, v]) => `${key} ${v.toFixed(4)}`).join(', ')} (${r.n} images${recrop ? `, cropped with ${recrop}` : ''}${workers > 1 ? `, ${workers} workers` : ''})`);
  } finally {
    await pass.close();
  }
  targets?.dispose();
  model.dispose();
}

export const stage: StageImpl = {
  kind: 'evaluate',
  inputs: ['ingest', 'preprocess', 'features', 'train'],
  cacheable: false,
  libraries: ['tfjs'],
  // Not `evaluate.every` (how often train evaluates: in the train key) nor `evaluate.quality` (the
  // GAN quality score: a classify spec naming it is told so).
  reads: ['evaluate.topK', 'evaluate.nearest', 'evaluate.crop', 'loss', 'dataset.targets', 'seed', 'train.batchSize', 'preprocess.normalize', 'train.workers'],
  // Another evaluation crop re-reads the sources with the training preprocessing otherwise.
  refine: (slice, spec) => (spec.evaluate.crop !== undefined && spec.evaluate.crop !== spec.preprocess.crop ? { ...slice, recrop: JSON.parse(JSON.stringify(spec.preprocess)) } : slice),
  check(spec) {
    if (spec.evaluate.nearest && !spec.dataset.targets) {
      return [{ path: ['evaluate', 'nearest'], message: 'needs dataset.targets: the nearest-neighbour search compares predicted vectors with the class target vectors' }];
    }
    return [];
  },
  identity: trainingFiles,
  run,
};
