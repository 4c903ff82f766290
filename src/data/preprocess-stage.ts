// Stage 'preprocess': decode, crop and resize the ingested sources into Zarr arrays.
import type { StageImpl } from '../pipeline/types.js';
import { parseFill } from './geometry.js';
import { createPool } from './pool/pool.js';
import { preprocessAll, sizesOf } from './preprocess.js';

export const PREPROCESS_VERSION = 1;

export const stage: StageImpl = {
  kind: 'preprocess',
  inputs: ['ingest'],
  cacheable: true,
  libraries: ['sharp'],
  reads: ['preprocess', 'dataset.maxPixels', 'dataset.maxBadFraction'],
  ignores: {
    'preprocess.workers': 'how many threads decode: every image is decoded the same way',
    'preprocess.normalize': 'applied by the loader when arrays are read, not stored',
  },
  // `fill` stays in every crop's key: besides border's padding it is the colour transparent
  // PNG/WebP/GIF pixels are flattened onto (src/data/image.ts), whatever the crop.
  refine(s, spec) {
    const p = s.preprocess as Record<string, unknown>;
    p.size = sizesOf(spec.preprocess);
    p.fill = parseFill(spec.preprocess.fill as string);
    // Only center crops by a fraction.
    if (spec.preprocess.crop !== 'center') delete p.centerFraction;
    return s;
  },
  check(spec) {
    const p = spec.preprocess;
    const first = sizesOf(p)[0]!;
    if (p.downscale && first % p.downscale !== 0) {
      return [{ path: ['preprocess', 'size', ...(Array.isArray(p.size) ? [0] : [])], message: `${first} is not divisible by preprocess.downscale ${p.downscale} (the low-resolution side must be whole)` }];
    }
    return [];
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
