// The stage graph: one registration per stage implementation, saying what it provides (its kind,
// which later stages read through ctx.input()), the tasks it serves and the module that holds it.
// What it requires (`inputs`), reads (its key), checks (`check`) and does (`run`) lives in that
// module. Adding a stage is that one file and one line here; the list is in pipeline order, which
// is the order stages run in. Modules load lazily, so `ablate --help` never pays for TensorFlow or
// sharp; `ablate validate` loads the modules of the spec's task to run their checks.
import { TASKS, type ExperimentSpec } from '../spec/schema.js';
import type { StageImpl } from './types.js';

type Task = ExperimentSpec['task'];

export interface StageRegistration {
  /** The kind of output this stage commits (ingest, preprocess, ...): what `inputs` name. */
  provides: string;
  tasks: readonly Task[];
  /** Built module, relative to this file, exporting `stage: StageImpl`. */
  module: string;
}

export const STAGES = [
  { provides: 'ingest', tasks: TASKS, module: '../data/ingest-stage.js' },
  { provides: 'preprocess', tasks: TASKS, module: '../data/preprocess-stage.js' },
  { provides: 'pretrain', tasks: ['classify', 'super-resolution'], module: '../train/pretrain-stage.js' },
  // The small MNIST classifier behind the GAN quality score (a cached stage like pretrain).
  { provides: 'scorer', tasks: ['gan'], module: '../gan/scorer-stage.js' },
  { provides: 'features', tasks: ['classify'], module: '../train/features-stage.js' },
  { provides: 'train', tasks: ['classify'], module: '../train/train-stage.js' },
  { provides: 'train', tasks: ['gan'], module: '../gan/train-stage.js' },
  { provides: 'train', tasks: ['super-resolution'], module: '../superres/train-stage.js' },
  { provides: 'evaluate', tasks: ['classify'], module: '../train/evaluate-stage.js' },
  { provides: 'evaluate', tasks: ['gan'], module: '../gan/evaluate-stage.js' },
  { provides: 'evaluate', tasks: ['super-resolution'], module: '../superres/evaluate-stage.js' },
] as const satisfies readonly StageRegistration[];

export type StageKind = (typeof STAGES)[number]['provides'];
export const STAGE_KINDS: readonly StageKind[] = [...new Set(STAGES.map((s) => s.provides))];

export class StageMissingError extends Error {}

/** The registrations serving a task, in pipeline order. */
export function stagesFor(task: Task): StageRegistration[] {
  return STAGES.filter((s) => (s.tasks as readonly Task[]).includes(task));
}

/** The built module of a stage (its code fingerprint starts there). */
export function stageUrl(reg: StageRegistration): URL {
  return new URL(reg.module, import.meta.url);
}

export async function loadStage(reg: StageRegistration): Promise<StageImpl> {
  let mod: { stage?: StageImpl };
  try {
    mod = (await import(stageUrl(reg).href)) as { stage?: StageImpl };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(reg.module.replace('../', ''))) {
      throw new StageMissingError(`stage "${reg.provides}" for ${reg.tasks.join(', ')} is not implemented yet (${reg.module})`);
    }
    throw e;
  }
  if (!mod.stage) throw new StageMissingError(`${reg.module} does not export \`stage\``);
  if (mod.stage.kind !== reg.provides) throw new StageMissingError(`${reg.module} exports a "${mod.stage.kind}" stage but is registered as providing "${reg.provides}"`);
  return mod.stage;
}

/**
 * The task's stages, loaded, each with its registration. A stage that requires an output no
 * earlier stage of the task provides is a mistake in the registry, reported by name.
 */
export async function loadTaskStages(task: Task): Promise<Array<{ reg: StageRegistration; impl: StageImpl }>> {
  const out: Array<{ reg: StageRegistration; impl: StageImpl }> = [];
  const provided = new Set<string>();
  for (const reg of stagesFor(task)) {
    const impl = await loadStage(reg);
    const missing = impl.inputs.filter((k) => !provided.has(k));
    if (missing.length) throw new StageMissingError(`stage "${reg.provides}" (${reg.module}) requires ${missing.join(', ')}, which no earlier stage of task ${task} provides`);
    provided.add(reg.provides);
    out.push({ reg, impl });
  }
  return out;
}
