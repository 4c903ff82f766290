// Compiling a resolved spec into its pipeline: which stages take part, in order, each with a
// content key made of what it reads (src/pipeline/keys.ts). Pure apart from loading the stage
// modules and their identity() look at the world.
import { join, resolve } from 'node:path';
import { shortHash } from '../spec/hash.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { isComplete } from '../cache/commit.js';
import { codeFingerprint, type KeyParts, libraryVersions, specSlice, stageKey } from './keys.js';
import { loadTaskStages, stageUrl } from './registry.js';
import type { PlannedStage, StageImpl, StageKind } from './types.js';

export interface PlanEntry extends PlannedStage {
  impl: StageImpl;
}

/** Whether a stage touches TensorFlow (the backend is initialised before the first that does). */
export const usesTf = (impl: StageImpl): boolean => impl.libraries?.includes('tfjs') ?? false;

// The backend's kernels are ours: their code is part of every TF stage's fingerprint.
const BACKEND_MODULE = new URL('../backend/index.js', import.meta.url);

export async function planPipeline(spec: ExperimentSpec, opts: { cwd?: string } = {}): Promise<PlanEntry[]> {
  const cacheRoot = resolve(opts.cwd ?? process.cwd(), spec.cache.dir);
  const plan: PlanEntry[] = [];
  const keys = new Map<StageKind, string>();
  for (const { reg, impl } of await loadTaskStages(spec.task)) {
    if (impl.enabled && !impl.enabled(spec)) continue;
    const kind = impl.kind;
    const inputs = impl.inputs.filter((k) => keys.has(k));
    const slice = specSlice(spec, impl);
    const libs = impl.libraries ?? [];
    const code = [codeFingerprint(stageUrl(reg)), ...(libs.includes('tfjs') ? [codeFingerprint(BACKEND_MODULE)] : [])].join('+');
    const parts: KeyParts = {
      spec: shortHash(slice).slice(0, 16),
      code,
      libs: await libraryVersions(libs, spec),
      data: impl.identity ? await impl.identity(spec) : null,
      inputs: inputs.map((k) => [k, keys.get(k)!]),
    };
    const key = stageKey(kind, parts);
    keys.set(kind, key);
    plan.push({ kind, key, parts, inputs, cacheable: impl.cacheable, dir: join(cacheRoot, kind, key), slice, impl });
  }
  return plan;
}

export type CacheStatus = 'hit' | 'miss' | 'run';

/** What running the stage now would do: reuse a complete entry, compute it, or always run. */
export function cacheStatus(stage: PlannedStage, spec: ExperimentSpec): CacheStatus {
  if (!stage.cacheable) return 'run';
  return spec.cache.enabled && isComplete(stage.dir) ? 'hit' : 'miss';
}
