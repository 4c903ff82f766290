// Stage 'train' for task super-resolution: trains the fully convolutional network on
// (inputs_lr → images) pairs from the preprocess stage with the spec's loss terms, logs every term,
// PSNR/SSIM against the bicubic baseline per epoch and a triptych every `train.logEvery` steps, and
// leaves the trained model in `<out>/model` for the evaluate stage. ctx.out is a stable work folder:
// an interrupted run resumes from `<out>/checkpoint`.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { saveModel } from '../models/index.js';
import { trainingFiles } from '../pipeline/keys.js';
import type { StageContext, StageImpl } from '../pipeline/types.js';
import { superresNet } from './model.js';
import { IMAGE_TERMS, openSrData, srLoss } from './setup.js';
import { fitSr, loadSamples, savePng } from './train.js';
import { recordStop } from '../train/stop-rule.js';
import { withWorkers } from '../train/parallel/cores.js';

export const SUPERRES_TRAIN_VERSION = 1;
/** Validation images shown in each triptych (rows). */
export const TRIPTYCH_ROWS = 4;

async function run(ctx: StageContext): Promise<void> {
  const spec = ctx.spec;
  const d = await openSrData(ctx);
  const { loss } = await srLoss(ctx, d);
  const [S, , C] = d.shape;
  const model = superresNet({ channels: C, factor: d.factor, blocks: spec.model.superres.blocks, filters: spec.model.superres.filters, seed: spec.seed });
  const params = model.countParams();
  ctx.run?.logMetric('model_params', params);
  ctx.run?.setTag('superres.factor', String(d.factor));
  ctx.run?.setTag('superres.sizes', `${S / d.factor}->${S}`);
  ctx.log.info(
    `super-resolution ×${d.factor}: ${S / d.factor}×${S / d.factor} → ${S}×${S}×${C}, ${spec.model.superres.blocks} blocks × ${spec.model.superres.filters} filters (${params} parameters); loss ${loss.names.map((n, i) => `${loss.weights[i]}·${n}`).join(' + ')}`,
  );
  const samples = await loadSamples(d.val, TRIPTYCH_ROWS);
  const t0 = performance.now();
  const r = await fitSr({
    model,
    loss,
    train: d.train,
    val: d.val,
    spec: spec.train,
    seed: spec.seed,
    evalEvery: spec.evaluate.every,
    checkpointDir: ctx.out,
    metric: (k, v, s) => ctx.run?.logMetric(k, v, s),
    triptych: {
      samples,
      every: spec.train.logEvery,
      write: async (png, step) => {
        const file = await savePng(join(ctx.out, 'triptychs'), png, step);
        await ctx.run?.logArtifact(file, 'triptychs');
      },
    },
    progress: ctx.progress,
    log: ctx.log,
    signal: ctx.signal,
  });
  recordStop(ctx.run, r.stop);
  const seconds = (performance.now() - t0) / 1000;
  await saveModel(model, join(ctx.out, 'model'));
  await writeFile(
    join(ctx.out, 'manifest.json'),
    JSON.stringify({ version: SUPERRES_TRAIN_VERSION, factor: d.factor, shape: d.shape, params, epochs: r.epochs, steps: r.steps, seconds, last: r.last, baseline: r.baseline }, null, 1),
  );
  const v = r.last;
  if (v.val_psnr !== undefined) {
    const gain = v.val_psnr - v.val_psnr_bicubic!;
    ctx.log.info(`val PSNR ${v.val_psnr.toFixed(2)} dB vs bicubic ${v.val_psnr_bicubic!.toFixed(2)} dB (${gain >= 0 ? '+' : ''}${gain.toFixed(2)} dB), SSIM ${v.val_ssim!.toFixed(4)} vs ${v.val_ssim_bicubic!.toFixed(4)}`);
  }
  samples.lr.dispose();
  samples.hr.dispose();
  model.dispose();
}

export const stage: StageImpl = {
  kind: 'train',
  inputs: ['preprocess', 'pretrain'],
  cacheable: false,
  libraries: ['tfjs'],
  // Every train field but `augment`: the super-resolution loop does not augment, so a spec that
  // sets it is told so.
  reads: [
    'model.superres',
    'model.base',
    'loss',
    ...['epochs', 'steps', 'batchSize', 'optimizer', 'lr', 'momentum', 'beta1', 'decay', 'epsilon', 'schedule', 'backend', 'workers', 'logEvery', 'checkpointEvery', 'checkpointMinutes', 'stop', 'budget'].map((f) => `train.${f}`),
    'seed',
    'preprocess.normalize',
    'evaluate.every',
  ],
  refine: withWorkers,
  check(spec) {
    return spec.loss.terms.flatMap((t, i) =>
      IMAGE_TERMS.has(t.kind) ? [] : [{ path: ['loss', 'terms', i, 'kind'], message: `"${t.kind}" cannot compare images; task super-resolution takes ${[...IMAGE_TERMS].join(', ')}` }],
    );
  },
  ignores: {
    'train.logEvery': 'how often step metrics are logged',
    'train.checkpointEvery': 'checkpoint cadence: a resumed run continues where it stopped (the same results)',
    'train.checkpointMinutes': 'checkpoint cadence, by the clock',
  },
  identity: trainingFiles,
  run,
};
