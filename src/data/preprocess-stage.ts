// Stage 'preprocess': decode, crop and resize the ingested sources into Zarr arrays.
import type { StageImpl } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { parseFill } from './geometry.js';
import { createPool } from './pool/pool.js';
import { preprocessAll, sizesOf } from './preprocess.js';

export const PREPROCESS_VERSION = 1;

export const stage: StageImpl = {
  kind: 'preprocess',
  version: PREPROCESS_VERSION,
  inputs: ['ingest'],
  cacheable: true,
  slice(spec: ExperimentSpec) {
    const p = spec.preprocess;
    // Only what changes the stored pixels: workers never do, normalize is applied by the loader,
    // fill matters only for border and centerFraction only for center, so sweeps share entries.
    return {
      sizes: sizesOf(p),
      crop: p.crop,
      fill: p.crop === 'border' ? parseFill(p.fill as string) : null,
      centerFraction: p.crop === 'center' ? p.centerFraction : null,
      kernel: p.kernel,
      channels: p.channels,
      flip: p.flip,
      downscale: p.downscale ?? null,
      chunk: p.chunk,
      maxPixels: spec.dataset.maxPixels,
      maxBadFraction: spec.dataset.maxBadFraction,
    };
  },
  async run(ctx) {
    const pool = createPool(ctx.spec.preprocess.workers);
    try {
      const m = await preprocessAll({
        ingestDir: ctx.input('ingest'),
        out: ctx.out,
        preprocess: ctx.spec.preprocess,
        maxPixels: ctx.spec.dataset.maxPixels,
        maxBadFraction: ctx.spec.dataset.maxBadFraction,
        version: PREPROCESS_VERSION,
        pool,
        progress: ctx.progress,
        signal: ctx.signal,
        log: ctx.log,
      });
      ctx.run?.setTag('preprocess.skipped', String(m.skipped.length));
      ctx.run?.logMetric('preprocess_images_per_s', m.timings.imagesPerSecond);
    } finally {
      await pool.close();
    }
  },
};
