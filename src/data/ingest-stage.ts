// Stage 'ingest': list, split and label the dataset (generate it for shapes).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { StageImpl } from '../pipeline/types.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { listFolder, listingIdentity } from './folder.js';
import { datasetRoot, ingest, knownClasses } from './ingest.js';
import { createPool } from './pool/pool.js';

export const stage: StageImpl = {
  kind: 'ingest',
  inputs: [],
  cacheable: true,
  // Generating shapes draws them with sharp (the rendered PNGs); folders and mnist are only listed.
  libraries: ['sharp'],
  reads: ['dataset'],
  ignores: {
    'dataset.maxPixels': 'checked when decoding, by preprocess (in its key)',
    'dataset.maxBadFraction': 'checked when decoding, by preprocess (in its key)',
    'dataset.targets': 'read by train and evaluate (in their keys)',
    'dataset.verify': 'decides how the files are recognised (the identity), not what is listed',
  },
  refine(d, spec) {
    const ds = d.dataset as Record<string, unknown>;
    // The folder's absolute location is part of its identity; `count` only generates shapes.
    if (spec.dataset.source === 'folder') ds.path = datasetRoot(spec.dataset, '');
    if (spec.dataset.source !== 'shapes') delete ds.count;
    return d;
  },
  check(spec) {
    const d = spec.dataset;
    const all = knownClasses(d.source);
    if (!all || !d.classes) return [];
    return d.classes.flatMap((c, i) => (all.includes(c) ? [] : [{ path: ['dataset', 'classes', i], message: `${d.source} has no class "${c}" (known: ${all.join(', ')})` }]));
  },
  async identity(spec: ExperimentSpec) {
    const d = spec.dataset;
    if (d.source === 'folder') return listingIdentity(await listFolder(datasetRoot(d, ''), d.classes), d.verify);
    // Generated data is a function of the spec slice and the generator's code (fingerprinted).
    if (d.source === 'shapes') return null;
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
