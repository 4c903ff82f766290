// Stage 'ingest': list, split and label the dataset (generate it for shapes).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { StageImpl } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { listFolder, listingIdentity } from './folder.js';
import { datasetRoot, ingest } from './ingest.js';
import { createPool } from './pool/pool.js';
import { SHAPES_VERSION } from './shapes.js';

export const stage: StageImpl = {
  kind: 'ingest',
  version: 1,
  inputs: [],
  cacheable: true,
  slice(spec: ExperimentSpec) {
    const { maxPixels: _p, maxBadFraction: _b, targets: _t, ...d } = spec.dataset;
    // The folder's absolute location is part of its identity; for shapes, generation params only.
    return { ...d, path: d.source === 'folder' ? datasetRoot(spec.dataset, '') : d.path, count: d.source === 'shapes' ? d.count : undefined };
  },
  async identity(spec: ExperimentSpec) {
    const d = spec.dataset;
    if (d.source === 'folder') return listingIdentity(await listFolder(datasetRoot(d, ''), d.classes));
    if (d.source === 'shapes') return { generator: SHAPES_VERSION };
    const require = createRequire(import.meta.url);
    return { mnist: JSON.parse(await readFile(require.resolve('mnist/package.json'), 'utf8')).version };
  },
  async run(ctx) {
    const d = ctx.spec.dataset;
    const pool = d.source === 'shapes' ? createPool(ctx.spec.preprocess.workers) : undefined;
    try {
      await ingest({ dataset: d, seed: ctx.spec.dataset.seed, out: ctx.out, pool, log: ctx.log, signal: ctx.signal });
    } finally {
      await pool?.close();
    }
  },
};
