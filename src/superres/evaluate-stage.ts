// Stage 'evaluate' for task super-resolution: reloads the saved model (proving the artifact works
// on its own) and measures it on the whole validation set against the bicubic baseline. Logs
// val_psnr / val_ssim / val_psnr_bicubic / val_ssim_bicubic at the last training epoch (the same
// values training logged, now from the saved model), their gains, a final triptych and one
// upscale of full-size validation images, which shows the network runs at a size it never saw.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { gridPng } from '../gan/grid.js';
import { loadModel } from '../models/index.js';
import { trainingFiles } from '../pipeline/keys.js';
import type { StageContext, StageImpl } from '../pipeline/types.js';
import { toUnitRange } from './metrics.js';
import './model.js';
import { openSrData, srLoss } from './setup.js';
import { evaluateSr, loadSamples, srMetrics, triptychPng } from './train.js';

export const SUPERRES_EVALUATE_VERSION = 1;

async function run(ctx: StageContext): Promise<void> {
  const spec = ctx.spec;
  const trained = ctx.input('train');
  const manifest = JSON.parse(await readFile(join(trained, 'manifest.json'), 'utf8')) as { epochs: number; steps: number };
  const model = await loadModel(join(trained, 'model'));
  const d = await openSrData(ctx);
  const { loss } = await srLoss(ctx, d);
  const bs = spec.train.batchSize;
  const t0 = performance.now();
  const net = await evaluateSr(model, loss, d.val, bs);
  const seconds = (performance.now() - t0) / 1000;
  const base = await evaluateSr(null, null, d.val, bs);
  const m: Record<string, number> = {
    ...srMetrics('val', net),
    ...srMetrics('val', base, '_bicubic'),
    val_psnr_gain: net.psnr - base.psnr,
    val_ssim_gain: net.ssim - base.ssim,
    val_images_per_s: net.n / seconds,
  };
  for (const [k, v] of Object.entries(m)) ctx.run?.logMetric(k, v, manifest.epochs);
  await writeFile(join(ctx.out, 'evaluation.json'), JSON.stringify({ images: net.n, epochs: manifest.epochs, steps: manifest.steps, metrics: m }, null, 1));
  await ctx.run?.logArtifact(join(ctx.out, 'evaluation.json'), 'evaluate');

  const samples = await loadSamples(d.val, 8);
  await writeFile(join(ctx.out, 'triptych.png'), await triptychPng(model, samples));
  await ctx.run?.logArtifact(join(ctx.out, 'triptych.png'), 'evaluate');
  // The targets themselves as input: S×S → (f·S)×(f·S), a size the network was not trained on.
  const [k, S, , C] = samples.hr.shape;
  const big = tf.tidy(() => toUnitRange(model.predict(samples.hr.slice([0, 0, 0, 0], [Math.min(k, 4), S, S, C])) as tf.Tensor4D, samples.normalize));
  const name = `upscaled_${S}_to_${big.shape[1]}.png`;
  await writeFile(join(ctx.out, name), await gridPng((await big.data()) as Float32Array, big.shape[0], big.shape[1], big.shape[2], C, { range: [0, 1], cols: big.shape[0], pad: 2, scale: 2 }));
  await ctx.run?.logArtifact(join(ctx.out, name), 'evaluate');
  tf.dispose([big, samples.lr, samples.hr]);
  model.dispose();
  ctx.log.info(`evaluate: val PSNR ${net.psnr.toFixed(2)} dB (bicubic ${base.psnr.toFixed(2)}, ${m.val_psnr_gain! >= 0 ? '+' : ''}${m.val_psnr_gain!.toFixed(2)} dB), SSIM ${net.ssim.toFixed(4)} (bicubic ${base.ssim.toFixed(4)}) on ${net.n} images`);
}

export const stage: StageImpl = {
  kind: 'evaluate',
  inputs: ['preprocess', 'pretrain', 'train'],
  cacheable: false,
  libraries: ['tfjs'],
  reads: ['loss', 'preprocess.normalize', 'train.batchSize', 'train.backend'],
  identity: trainingFiles,
  run,
};
