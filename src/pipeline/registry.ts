// Which module implements a stage for a task. Modules load lazily so `ablate --help` and
// `ablate validate` never pay for TensorFlow or sharp.
import type { ExperimentSpec } from '../spec/schema.js';
import type { StageImpl, StageKind } from './types.js';

type Task = ExperimentSpec['task'];
const byKind: Record<StageKind, string | Partial<Record<Task, string>>> = {
  ingest: '../data/ingest-stage.js',
  preprocess: '../data/preprocess-stage.js',
  pretrain: '../train/pretrain-stage.js',
  scorer: { gan: '../gan/scorer-stage.js' },
  features: { classify: '../train/features-stage.js' },
  train: { classify: '../train/train-stage.js', gan: '../gan/train-stage.js', 'super-resolution': '../superres/train-stage.js' },
  evaluate: { classify: '../train/evaluate-stage.js', gan: '../gan/evaluate-stage.js', 'super-resolution': '../superres/evaluate-stage.js' },
};

export class StageMissingError extends Error {}

/** The module path for a stage of this task, or undefined when the task has no such stage. */
export function stageModule(kind: StageKind, task: Task): string | undefined {
  const m = byKind[kind];
  return typeof m === 'string' ? m : m[task];
}

/** The built module of a stage (its code fingerprint starts there). */
export function stageUrl(kind: StageKind, task: Task): URL | undefined {
  const rel = stageModule(kind, task);
  return rel ? new URL(rel, import.meta.url) : undefined;
}

export async function loadStage(kind: StageKind, task: Task): Promise<StageImpl | undefined> {
  const rel = stageModule(kind, task);
  if (!rel) return undefined;
  try {
    const mod = (await import(new URL(rel, import.meta.url).href)) as { stage?: StageImpl };
    if (!mod.stage) throw new StageMissingError(`${rel} does not export \`stage\``);
    return mod.stage;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(rel.replace('../', ''))) {
      throw new StageMissingError(`stage "${kind}" for task ${task} is not implemented yet (${rel})`);
    }
    throw e;
  }
}
