// Stage 'train' (task classify). Three modes, chosen by the spec:
//   head      cut + trainable: head  → trains the head on the cached activations of `features`
//   finetune  cut + trainable: all / {from}  → trains base-up-to-cut + head end to end on images
//   whole     no cut  → a fresh built-in network (or a pretrained/user base with a new classifier
//             at `before-head`), everything trainable
// Checkpoints go to ctx.out/checkpoint (a stable folder: a rerun resumes); the final networks to
// ctx.out/final/{model,head} for the evaluate stage, and to the run's artifacts (`final/`):
// `model` always maps images to outputs (for head mode: base up to the cut + pool + head).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { buildHead, cutModel, loadBase, resolveLayer, saveModel, setTrainable, stackModel } from '../models/index.js';
import { trainingFiles } from '../pipeline/keys.js';
import type { SpecProblem, StageContext, StageImpl } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { fit, type LabelledArrays } from './loop.js';
import { pretrainedDir, stage as pretrainStage } from './pretrain-stage.js';
import { classifyLoss, classTargetsTensor, openLabelled, outputSize, readDataInfo } from './setup.js';
import { withWorkers } from './parallel/cores.js';
import { recordStop } from './stop-rule.js';

export const TRAIN_VERSION = 1;
export type TrainMode = 'head' | 'finetune' | 'whole';

export function trainMode(spec: ExperimentSpec): TrainMode {
  if (spec.model.cut === undefined) return 'whole';
  return spec.model.trainable === 'head' ? 'head' : 'finetune';
}

export interface FinalInfo {
  mode: TrainMode;
  classes: string[];
  cutLayer: string | null;
}

async function run(ctx: StageContext): Promise<void> {
  const spec = ctx.spec;
  const mode = trainMode(spec);
  const pre = ctx.input('preprocess');
  const info = await readDataInfo(pre);
  const targets = await classTargetsTensor(spec, info.classes);
  const outputs = outputSize(info.classes, targets);
  const loss = await classifyLoss(spec);
  const headOpts = { ...spec.model.head, outputs, seed: spec.seed };
  const pretrained = pretrainStage.enabled!(spec) ? pretrainedDir(ctx) : undefined;

  let model: tf.LayersModel;
  let head: tf.LayersModel | undefined;
  let train: LabelledArrays;
  let val: LabelledArrays;
  let cutLayer: string | null = null;
  if (mode === 'head') {
    const dir = ctx.input('features');
    train = await openLabelled(dir, 'train', 'features', 'none');
    val = await openLabelled(dir, 'val', 'features', 'none');
    head = buildHead(train.x.shape.slice(1), headOpts);
    model = head;
    cutLayer = String(train.x.attributes.layer ?? spec.model.cut);
    ctx.log.info(`train: head (${spec.model.head.kind}) on cached activations at ${cutLayer} [${train.x.shape.slice(1).join(', ')}] from ${dir}`);
  } else {
    train = await openLabelled(pre, 'train', 'images', spec.preprocess.normalize);
    val = await openLabelled(pre, 'val', 'images', spec.preprocess.normalize);
    const base = await loadBase(spec.model.base, { inputShape: info.imageShape, outputs, seed: spec.seed }, pretrained);
    if (mode === 'whole' && !pretrained && !spec.model.base.path) {
      model = base;
    } else {
      const cut = spec.model.cut ?? 'before-head';
      cutLayer = resolveLayer(base, cut).name;
      const features = cutModel(base, cut, spec.model.pool);
      head = buildHead(features.outputs[0]!.shape.slice(1) as number[], headOpts);
      model = stackModel(features, head);
      if (mode === 'finetune') setTrainable(model, spec.model.trainable, new Set(head.layers.map((l) => l.name)));
    }
    const trainable = model.layers.filter((l) => l.trainable && l.trainableWeights.length).length;
    ctx.log.info(`train: ${mode === 'finetune' ? 'fine-tuning' : 'training'} ${model.name} on images (${trainable} trainable layers${cutLayer ? `, cut at ${cutLayer}` : ''})`);
  }
  ctx.run?.setTag('ablate.train.mode', mode);
  if (cutLayer) ctx.run?.setTag('ablate.cut.layer', cutLayer);

  const r = await fit({
    model,
    loss,
    train,
    val,
    classTargets: targets,
    spec: spec.train,
    seed: spec.seed,
    evalEvery: spec.evaluate.every,
    topK: spec.evaluate.topK,
    checkpointDir: ctx.out,
    metric: (k, v, s) => ctx.run?.logMetric(k, v, s),
    progress: ctx.progress,
    log: ctx.log,
    signal: ctx.signal,
  });
  recordStop(ctx.run, r.stop);
  if (r.resumedFrom > 0) ctx.run?.setTag('ablate.train.resumed_from_epoch', String(r.resumedFrom));
  await saveModel(model, join(ctx.out, 'final', mode === 'head' ? 'head' : 'model'));
  if (mode === 'head') {
    // The head alone only reads cached activations: also keep the deployable images → output model.
    const base = await loadBase(spec.model.base, { inputShape: info.imageShape, outputs, seed: spec.seed }, pretrained);
    await saveModel(stackModel(cutModel(base, spec.model.cut!, spec.model.pool), head!), join(ctx.out, 'final', 'model'));
    base.dispose();
  }
  const final: FinalInfo = { mode, classes: info.classes, cutLayer };
  await writeFile(join(ctx.out, 'final', 'info.json'), JSON.stringify(final, null, 1));
  // The work folder is cleared by the next run; the run's artifacts keep the trained model.
  await ctx.run?.logArtifact(join(ctx.out, 'final'));
  targets?.dispose();
  model.dispose();
}

export const stage: StageImpl = {
  kind: 'train',
  inputs: ['preprocess', 'pretrain', 'features'],
  cacheable: false,
  libraries: ['tfjs'],
  // `model.superres` is the super-resolution network: not read here, so a classify spec naming it is told so.
  reads: ['seed', 'model.base', 'model.cut', 'model.pool', 'model.head', 'model.trainable', 'loss', 'train', 'dataset.targets', 'preprocess.normalize', 'evaluate.topK', 'evaluate.every'],
  ignores: {
    'train.logEvery': 'how often step metrics are logged',
    'train.checkpointEvery': 'checkpoint cadence: a resumed run continues where it stopped (the same results)',
    'train.checkpointMinutes': 'checkpoint cadence, by the clock',
  },
  refine: withWorkers,
  check: classifyChecks,
  identity: trainingFiles,
  run,
};

/** What a classify run would fail on (or silently not do), from the spec alone; evaluate shares it. */
export function classifyChecks(spec: ExperimentSpec): SpecProblem[] {
  const out: SpecProblem[] = [];
  spec.loss.terms.forEach((t, i) => {
    const at = ['loss', 'terms', i, 'kind'];
    if (t.kind === 'content' || t.kind === 'style' || t.kind === 'pixel') {
      out.push({ path: at, message: `"${t.kind}" compares images: it is a loss for task super-resolution; classify takes crossentropy, mse, mae and cosine` });
    }
    if (t.kind === 'cosine' && !spec.dataset.targets) out.push({ path: at, message: '"cosine" needs per-class target vectors: set dataset.targets' });
  });
  if (spec.dataset.targets?.kind === 'attributes' && spec.dataset.source !== 'shapes') {
    out.push({ path: ['dataset', 'targets', 'kind'], message: `"attributes" are generated for dataset.source shapes only (got ${spec.dataset.source}); give a file (kind: file, path: …)` });
  }
  // The head trains on cached activations (floats), which the loader cannot flip or rotate.
  if (spec.train.augment !== 'none' && trainMode(spec) === 'head') {
    out.push({ path: ['train', 'augment'], message: `is ${spec.train.augment}, but with model.cut and model.trainable head the head trains on cached activations, which cannot be augmented; set model.trainable: all to fine-tune on images, or remove it` });
  }
  return out;
}
