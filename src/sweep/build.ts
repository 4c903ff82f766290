// From a sweep file and command-line arguments to trials that are ready to launch: every trial's
// spec is resolved and validated before anything runs, so a typo in one grid value fails the
// sweep at once, located in the sweep file, instead of at 3 a.m. in trial 7.
import { basename, relative } from 'node:path';
import { type LoadedSpec, type LoadedSweep, loadSweep, resolveSpec } from '../spec/load.js';
import { shortHash } from '../spec/hash.js';
import { SpecError, type SpecIssue } from '../spec/issues.js';
import { locate, readYamlLayer } from '../spec/index.js';
import type { ExperimentSpec, SweepSpec } from '../spec/schema.js';
import { parseCliSweepArgs } from './cli-axes.js';
import { type AxisInfo, expandSweep, type TrialOverride, type TrialPlan } from './expand.js';
import { specCheckIssues } from '../pipeline/check.js';
import { planPipeline, type PlanEntry } from '../pipeline/plan.js';
import { summariseParts } from '../pipeline/keys.js';
import type { TrialKeys } from './resume.js';

export interface BuiltTrial extends TrialPlan {
  spec: LoadedSpec['spec'];
  /** sha256 of the resolved spec: which earlier runs are this trial's (resume then compares stage keys). */
  hash: string;
}

/**
 * The stage keys each trial computes now, from the data, code and libraries as they are: what
 * resume compares with the keys a finished run recorded.
 */
export async function planTrials(trials: readonly BuiltTrial[]): Promise<Array<{ keys: TrialKeys; plan: PlanEntry[] }>> {
  const out: Array<{ keys: TrialKeys; plan: PlanEntry[] }> = [];
  for (const t of trials) {
    const plan = await planPipeline(t.spec);
    out.push({
      plan,
      keys: {
        hash: t.hash,
        stages: Object.fromEntries(plan.map((s) => [s.kind, s.key])),
        keyParts: Object.fromEntries(plan.map((s) => [s.kind, summariseParts(s.parts)])),
      },
    });
  }
  return out;
}

export interface BuiltSweep {
  /** `<name>-<8 hex>`, derived from the trials' specs: the same sweep gets the same id. */
  id: string;
  name: string;
  file: string;
  sweep: SweepSpec;
  axes: AxisInfo[];
  trials: BuiltTrial[];
  /** The base spec with the overrides every trial shares: what `compare` diffs each trial against. */
  base: LoadedSpec;
  /** Trials dropped because they resolved to the same spec as an earlier one. */
  duplicates: { index: number; name: string; sameAs: string }[];
  /** Command-line arguments that were neither axes nor overrides of a field (e.g. none). */
  cliArgs: string[];
}

export function sweepName(sweep: SweepSpec, file: string): string {
  return sweep.name ?? basename(file).replace(/\.sweep\.ya?ml$|\.ya?ml$/, '');
}

/**
 * What defines a trial for the sweep id: its resolved spec without `track` and `cache`, which say
 * where it is recorded and cached, not what runs; the same sweep in two stores gets one id.
 */
export function trialIdentity(spec: ExperimentSpec): string {
  const { track: _track, cache: _cache, ...defining } = spec;
  return shortHash(defining);
}

/** The id depends only on what will run, so rerunning the same command resumes the same sweep. */
export function sweepId(name: string, hashes: readonly string[]): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'sweep';
  return `${slug}-${shortHash({ name, trials: hashes }).slice(0, 8)}`;
}

export function buildSweep(file: string, cliArgs: readonly string[] = []): BuiltSweep {
  const loaded = loadSweep(file);
  return buildFromLoaded(loaded, cliArgs);
}

export function buildFromLoaded(loaded: LoadedSweep, cliArgs: readonly string[]): BuiltSweep {
  const { sweep } = loaded;
  const cli = parseCliSweepArgs(cliArgs);
  const expansion = expandSweep(sweep, cli);
  const locateInSweep = sweepLocator(loaded.file);
  const issues = new Map<string, SpecIssue>();
  const trials: BuiltTrial[] = [];
  for (const t of expansion.trials) {
    try {
      const r = resolveSpec(loaded.base.data, loaded.base.layers, t.overrides.map((o) => o.text), loaded.base.file);
      trials.push({ ...t, spec: r.spec, hash: r.hash });
    } catch (e) {
      if (!(e instanceof SpecError)) throw e;
      for (const issue of e.issues) {
        const located = relocate(issue, t.overrides, locateInSweep);
        issues.set(`${located.file}:${located.line}:${located.col} ${located.path} ${located.message}`, located);
      }
    }
  }
  if (sweep.baseline !== undefined) {
    const issue = baselineIssue(sweep.baseline, expansion, locateInSweep);
    if (issue) issues.set(`baseline ${issue.message}`, issue);
  }
  if (issues.size > 0) throw new SpecError([...issues.values()]);

  const base = resolveSpec(
    loaded.base.data,
    loaded.base.layers,
    // What every trial shares: the sweep-wide overrides and single-valued command-line ones.
    expansion.trials[0]?.overrides
      .filter((o) => (o.origin.kind === 'sweep' && o.origin.at[0] === 'overrides') || (o.origin.kind === 'cli' && o.origin.text === o.text))
      .map((o) => o.text) ?? [],
    loaded.base.file,
  );

  const duplicates: BuiltSweep['duplicates'] = [];
  const unique: BuiltTrial[] = [];
  for (const t of trials) {
    const first = unique.find((u) => u.hash === t.hash);
    if (first) duplicates.push({ index: t.index, name: t.name, sameAs: first.name });
    else unique.push({ ...t, index: unique.length });
  }
  const name = sweepName(sweep, loaded.file);
  return {
    id: sweepId(name, unique.map((t) => trialIdentity(t.spec))),
    name,
    file: loaded.file,
    sweep,
    axes: expansion.axes,
    trials: unique,
    base,
    duplicates,
    cliArgs: [...cliArgs],
  };
}

type Locator = (at: (string | number)[]) => { file: string; line: number; col: number };

function sweepLocator(file: string): Locator {
  const rel = relative(process.cwd(), file);
  const shown = rel && !rel.startsWith('..') ? rel : file;
  const { layer } = readYamlLayer(file, shown);
  return (at) => {
    if (!layer) return { file: shown, line: 0, col: 0 };
    return { file: layer.file, ...locate(layer, at).at };
  };
}

/**
 * Every trial's stage checks (src/pipeline/check.ts) before any trial starts, so a sweep does not
 * fail at its seventh trial on what the spec already said; each problem is located where the sweep
 * file (or the base spec) set the field, once however many trials share it.
 */
export async function checkTrials(sweep: BuiltSweep): Promise<void> {
  const loaded = loadSweep(sweep.file);
  const locateInSweep = sweepLocator(loaded.file);
  const issues = new Map<string, SpecIssue>();
  for (const t of sweep.trials) {
    const r = resolveSpec(loaded.base.data, loaded.base.layers, t.overrides.map((o) => o.text), loaded.base.file);
    for (const issue of await specCheckIssues(r)) {
      const located = relocate(issue, t.overrides, locateInSweep);
      issues.set(`${located.file}:${located.line}:${located.col} ${located.path} ${located.message}`, located);
    }
  }
  if (issues.size > 0) throw new SpecError([...issues.values()]);
}

/** An issue found at `override "grid value"` is moved to where the sweep file wrote the value. */
function relocate(issue: SpecIssue, overrides: TrialOverride[], locateInSweep: Locator): SpecIssue {
  const m = /^override "(.*)"$/s.exec(issue.file);
  if (!m) return issue;
  const o = overrides.find((x) => x.text === m[1]);
  if (!o) return issue;
  if (o.origin.kind === 'cli') return { ...issue, file: `override "${o.origin.text}"` };
  return { ...issue, ...locateInSweep(o.origin.at) };
}

/** `baseline` must name an arm the sweep has: a value of its one varied axis, or axis → value pairs that some trial takes. */
function baselineIssue(b: string | Record<string, unknown>, expansion: ReturnType<typeof expandSweep>, locate: Locator): SpecIssue | undefined {
  const varied = expansion.axes.filter((a) => !a.replicate).map((a) => a.path);
  const at = { ...locate(['baseline']), path: 'baseline' };
  const label = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const arms = expansion.trials.map((t) => Object.fromEntries(varied.map((p) => [p, label(t.axes[p])])));
  if (typeof b === 'string') {
    if (varied.length !== 1) return { ...at, message: `names an arm by one value, but the sweep varies ${varied.length} axes (${varied.join(', ') || 'none'}); give axis → value pairs` };
    const values = [...new Set(arms.map((a) => a[varied[0]!]!))];
    return values.includes(b) ? undefined : { ...at, message: `"${b}" is not a value of ${varied[0]} (${values.join(', ')})` };
  }
  const unknown = Object.keys(b).filter((k) => !varied.includes(k));
  if (unknown.length) return { ...at, message: `${unknown.join(', ')} ${unknown.length === 1 ? 'is not an axis' : 'are not axes'} of this sweep (${varied.join(', ')})` };
  const want = Object.entries(b).map(([k, v]) => [k, label(v)] as const);
  return arms.some((a) => want.every(([k, v]) => a[k] === v)) ? undefined : { ...at, message: `no trial has ${want.map(([k, v]) => `${k}=${v}`).join(', ')}` };
}
