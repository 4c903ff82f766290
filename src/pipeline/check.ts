// Everything a run of a spec would fail on, or silently not do, that the spec alone shows, found
// before anything runs: every stage of the task checks what it needs (StageImpl.check), and a field
// that no stage of the task reads is named (a `gan:` section on a classify spec, `train.stop` on a
// GAN). `ablate validate`, `ablate run` and `ablate sweep` (and their --dry-run) call this, so a
// spec that validates does not fail minutes later on something its text already said.
import { SpecError, joinPath, type SpecIssue } from '../spec/issues.js';
import type { LoadedSpec } from '../spec/load.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { inReadingOrder, whereIs } from '../spec/validate.js';
import { loadTaskStages } from './registry.js';
import type { SpecProblem, StageImpl } from './types.js';

type Task = ExperimentSpec['task'];
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Fields the runner itself reads (naming, tracking, the cache), whatever the task. */
const RUNNER_FIELDS = new Set(['extends', 'name', 'description', 'task', 'track', 'cache']);

const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
const readBy = (stages: readonly StageImpl[], field: string) => stages.some((s) => s.reads.some((r) => overlaps(r, field)));

async function readers(task: Task): Promise<StageImpl[]> {
  return (await loadTaskStages(task)).map((s) => s.impl);
}

/**
 * Sections (and their direct fields) the user set that no stage of this task reads: they would
 * be accepted and do nothing. Named with the tasks that do read them.
 */
async function unusedFields(task: Task, written: Obj): Promise<SpecProblem[]> {
  const mine = await readers(task);
  const out: SpecProblem[] = [];
  const others = async (field: string) => {
    const users: string[] = [];
    for (const t of ['classify', 'gan', 'super-resolution'] as const) if (t !== task && readBy(await readers(t), field)) users.push(t);
    return users.length ? ` (it is for task ${users.join(' and ')})` : '';
  };
  for (const [section, value] of Object.entries(written)) {
    if (RUNNER_FIELDS.has(section)) continue;
    if (!readBy(mine, section)) {
      out.push({ path: [section], atKey: true, message: `is not used by task ${task}${await others(section)}; remove it${section === 'gan' ? ' or set task: gan' : ''}` });
      continue;
    }
    if (!isObj(value)) continue;
    for (const field of Object.keys(value)) {
      const dotted = `${section}.${field}`;
      if (!readBy(mine, dotted)) out.push({ path: [section, field], atKey: true, message: `is not used by task ${task}${await others(dotted)}; remove it` });
    }
  }
  return out;
}

/** The problems of a resolved spec, unlocated: every stage's check, then fields no stage reads. */
export async function specProblems(spec: ExperimentSpec, written: Obj): Promise<SpecProblem[]> {
  const out: SpecProblem[] = [];
  for (const { impl } of await loadTaskStages(spec.task)) {
    if (impl.enabled && !impl.enabled(spec)) continue;
    out.push(...(impl.check?.(spec, written) ?? []));
  }
  out.push(...(await unusedFields(spec.task, written)));
  // Two stages may find the same thing (train and evaluate both need targets for cosine).
  const seen = new Set<string>();
  return out.filter((p) => {
    const k = `${joinPath(p.path)}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The problems of a loaded spec, each located at its field in the file or override that set it. */
export async function specCheckIssues(loaded: LoadedSpec): Promise<SpecIssue[]> {
  const problems = await specProblems(loaded.spec, loaded.input);
  return inReadingOrder(problems.map((p) => ({ ...whereIs(loaded.layers, p.path, p.atKey), path: joinPath(p.path), message: p.message })));
}

/** Throws one SpecError with every problem the spec's stages find. */
export async function checkSpec(loaded: LoadedSpec): Promise<void> {
  const issues = await specCheckIssues(loaded);
  if (issues.length) throw new SpecError(issues);
}
