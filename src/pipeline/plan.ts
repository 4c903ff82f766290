// Compiling a resolved spec into its pipeline: which stages take part, in order, each with a
// content key made of its kind, code version, slice of the spec, identity and input keys. Pure
// apart from loading the stage modules and their identity() look at the world.
import { join, resolve } from 'node:path';
import { shortHash } from '../spec/hash.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { isComplete } from '../cache/commit.js';
import { loadStage } from './registry.js';
import { STAGE_KINDS, type PlannedStage, type StageImpl, type StageKind } from './types.js';

export interface PlanEntry extends PlannedStage {
  impl: StageImpl;
}

/** Stages that touch TensorFlow (the backend is initialised before the first of them). */
export const TF_STAGES: ReadonlySet<StageKind> = new Set(['pretrain', 'scorer', 'features', 'train', 'evaluate']);

export async function planPipeline(spec: ExperimentSpec, opts: { cwd?: string } = {}): Promise<PlanEntry[]> {
  const cacheRoot = resolve(opts.cwd ?? process.cwd(), spec.cache.dir);
  const plan: PlanEntry[] = [];
  const keys = new Map<StageKind, string>();
  for (const kind of STAGE_KINDS) {
    const impl = await loadStage(kind, spec.task);
    if (!impl || (impl.enabled && !impl.enabled(spec))) continue;
    const inputs = impl.inputs.filter((k) => keys.has(k));
    const slice = impl.slice(spec);
    const identity = impl.identity ? await impl.identity(spec) : null;
    const key = shortHash({ kind, version: impl.version, slice, identity, inputs: inputs.map((k) => [k, keys.get(k)]) });
    keys.set(kind, key);
    plan.push({ kind, key, inputs, cacheable: impl.cacheable, dir: join(cacheRoot, kind, key), slice, impl });
  }
  return plan;
}

export type CacheStatus = 'hit' | 'miss' | 'run';

/** What running the stage now would do: reuse a complete entry, compute it, or always run. */
export function cacheStatus(stage: PlannedStage, spec: ExperimentSpec): CacheStatus {
  if (!stage.cacheable) return 'run';
  return spec.cache.enabled && isComplete(stage.dir) ? 'hit' : 'miss';
}
