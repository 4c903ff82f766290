// Reading what `compare` compares from the tracking store: the runs of a sweep (or of an
// experiment), one entry per trial. A trial that was interrupted and continued has several runs
// with the same spec hash; they are stitched into one (the finished run decides the result, the
// learning curve is the union of their steps, wall time is their sum).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { listExperiments, listRuns } from '../track/reader.js';
import { TAG } from '../track/tags.js';
import type { MetricPoint, RunRecord } from '../track/types.js';
import { readSweepRuns, SWEEP_TAG } from '../sweep/records.js';
import { EXAMPLES_ARTIFACT, type ExampleRow, parseExamplesCsv } from '../train/examples.js';

export interface TrialData {
  /** Spec hash (or run id when a run has none). */
  key: string;
  name: string;
  runIds: string[];
  status: 'FINISHED' | 'FAILED' | 'KILLED' | 'RUNNING' | 'SCHEDULED';
  /** Axis path → value as text (the `ablate.axis.*` tags, else the run's params). */
  values: Record<string, string>;
  metrics: Record<string, number>;
  history: Record<string, MetricPoint[]>;
  wallSeconds: number;
  error?: string;
  spec?: unknown;
  /** Tags of the run that decides the result (how training ended: `ablate.train.stop_reason`). */
  tags?: Record<string, string>;
  /** Per-example validation results (the evaluate stage's predictions.csv), when stored. */
  examples?: ExampleRow[];
}

export interface SweepData {
  /** Sweep id, or `experiment <name>` when comparing an experiment's runs. */
  id: string;
  name: string;
  metric: string;
  goal: 'max' | 'min';
  /** Axes that vary (replicates excluded) and the replicate axis (`seed`) if any. */
  axes: string[];
  replicate?: string;
  baseSpec?: unknown;
  /** The sweep's `baseline` arm (label or axis → value), when it names one. */
  baseline?: string | Record<string, unknown>;
  parentRunId?: string;
  /** Where the report goes by default: the parent run's artifacts, else a folder in the store. */
  outDir: string;
  trials: TrialData[];
}

interface Manifest {
  id: string;
  name: string;
  metric: string;
  goal: 'max' | 'min';
  axes: { path: string; replicate: boolean }[];
  base: { spec: unknown };
  trials: { hash: string; name: string; spec: unknown }[];
  baseline?: string | Record<string, unknown>;
}

export class CompareError extends Error {}

function parents(root: string): RunRecord[] {
  const out: RunRecord[] = [];
  for (const e of listExperiments(root)) for (const r of listRuns(root, e.experimentId, { history: false })) if (r.tags[SWEEP_TAG.role] === 'parent') out.push(r);
  return out.sort((a, b) => b.info.startTime - a.info.startTime);
}

/** Resolve `ref` (sweep id, experiment name or id; default the latest sweep) and read its trials. */
export function loadComparison(root: string, ref: string | undefined, opts: { metric?: string; by?: string[] } = {}): SweepData {
  if (!existsSync(root)) throw new CompareError(`no tracking store at ${root} (run a sweep first, or pass --store)`);
  const ps = parents(root);
  const parent = ref === undefined ? ps[0] : ps.find((p) => p.tags[TAG.sweepId] === ref || p.tags[TAG.sweepId]?.startsWith(ref));
  if (parent) return fromSweep(root, parent, opts);
  const exp = listExperiments(root).find((e) => e.name === ref || e.experimentId === ref);
  if (exp) return fromExperiment(root, exp.experimentId, exp.name, opts);
  if (ref === undefined) throw new CompareError(`no sweep in ${root} yet: run \`ablate sweep <file>\` first, or name an experiment`);
  const known = ps.map((p) => p.tags[TAG.sweepId]).slice(0, 5);
  throw new CompareError(`no sweep or experiment "${ref}" in ${root}${known.length ? `; recent sweeps: ${known.join(', ')}` : ''}`);
}

function fromSweep(root: string, parent: RunRecord, opts: { metric?: string; by?: string[] }): SweepData {
  const id = parent.tags[TAG.sweepId]!;
  const manifestPath = join(parent.dir, 'artifacts', 'sweep.json');
  const manifest = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest) : undefined;
  const runs = readSweepRuns(root, id, true).filter((r) => r.tags[SWEEP_TAG.role] !== 'parent');
  const replicate = manifest?.axes.find((a) => a.replicate)?.path;
  const varied = manifest ? manifest.axes.filter((a) => !a.replicate).map((a) => a.path) : axesFromTags(runs);
  const axes = opts.by && opts.by.length > 0 ? opts.by : varied;
  const specs = new Map((manifest?.trials ?? []).map((t) => [t.hash, t]));
  const order = new Map((manifest?.trials ?? []).map((t, i) => [t.hash, i]));
  const trials = stitch(runs, axes, replicate)
    .map((t) => ({ ...t, spec: specs.get(t.key)?.spec ?? t.spec, name: specs.get(t.key)?.name ?? t.name }))
    .sort((a, b) => (order.get(a.key) ?? 1e9) - (order.get(b.key) ?? 1e9));
  return {
    id,
    name: manifest?.name ?? parent.tags[SWEEP_TAG.name] ?? id,
    metric: opts.metric ?? manifest?.metric ?? parent.params['sweep.metric'] ?? 'val_accuracy',
    goal: manifest?.goal ?? (parent.params['sweep.goal'] === 'min' ? 'min' : 'max'),
    axes,
    ...(replicate ? { replicate } : {}),
    ...(manifest ? { baseSpec: manifest.base.spec } : {}),
    ...(manifest?.baseline !== undefined ? { baseline: manifest.baseline } : {}),
    parentRunId: parent.info.runId,
    outDir: join(parent.dir, 'artifacts', 'compare'),
    trials,
  };
}

function fromExperiment(root: string, experimentId: string, name: string, opts: { metric?: string; by?: string[] }): SweepData {
  const runs = listRuns(root, experimentId, { history: true }).filter((r) => r.tags[SWEEP_TAG.role] !== 'parent');
  // Without a sweep, the axes are the spec fields that differ between runs (seed is a replicate).
  const axes = opts.by && opts.by.length > 0 ? opts.by : variedParams(runs).filter((p) => p !== 'seed');
  return {
    id: `experiment ${name}`,
    name,
    metric: opts.metric ?? 'val_accuracy',
    goal: /loss|error|distance|fid/i.test(opts.metric ?? '') ? 'min' : 'max',
    axes,
    replicate: 'seed',
    outDir: join(root, '.reports', `experiment-${experimentId}`),
    trials: stitch(runs, axes, 'seed'),
  };
}

const IGNORED_PARAMS = /^(track\.|cache\.|dataset\.path$|name$|description$)/;

function variedParams(runs: RunRecord[]): string[] {
  const keys = new Set(runs.flatMap((r) => Object.keys(r.params)));
  return [...keys].filter((k) => !IGNORED_PARAMS.test(k) && new Set(runs.map((r) => r.params[k])).size > 1).sort();
}

function axesFromTags(runs: RunRecord[]): string[] {
  const keys = new Set(runs.flatMap((r) => Object.keys(r.tags).filter((k) => k.startsWith(TAG.sweepAxis)).map((k) => k.slice(TAG.sweepAxis.length))));
  return [...keys].filter((k) => k !== 'seed');
}

export function axisValue(r: RunRecord, path: string): string {
  return r.tags[`${TAG.sweepAxis}${path}`] ?? r.params[path] ?? '';
}

/** One entry per trial: runs with the same spec hash are one trial tried more than once. */
export function stitch(runs: RunRecord[], axes: string[], replicate?: string): TrialData[] {
  const byKey = new Map<string, RunRecord[]>();
  for (const r of [...runs].sort((a, b) => a.info.startTime - b.info.startTime)) {
    const k = r.tags[TAG.specHash] ?? r.info.runId;
    byKey.set(k, [...(byKey.get(k) ?? []), r]);
  }
  const out: TrialData[] = [];
  for (const [key, rs] of byKey) {
    const finished = [...rs].reverse().find((r) => r.info.status === 'FINISHED');
    const final = finished ?? rs.at(-1)!;
    const history: Record<string, MetricPoint[]> = {};
    for (const r of rs) {
      for (const [m, points] of Object.entries(r.history)) {
        const byStep = new Map((history[m] ?? []).map((p) => [p.step, p]));
        for (const p of points) byStep.set(p.step, p); // a later run's point for a step wins
        history[m] = [...byStep.values()].sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
      }
    }
    const values: Record<string, string> = {};
    for (const a of axes) values[a] = axisValue(final, a);
    if (replicate) values[replicate] = axisValue(final, replicate);
    const wall = rs.reduce((s, r) => s + Math.max(0, ((r.info.endTime ?? r.info.startTime) - r.info.startTime) / 1000), 0);
    out.push({
      key,
      name: final.info.runName,
      runIds: rs.map((r) => r.info.runId),
      status: final.info.status,
      values,
      metrics: final.metrics,
      history,
      wallSeconds: wall,
      tags: final.tags,
      ...(final.tags[TAG.error] ? { error: final.tags[TAG.error] } : {}),
      ...(readSpec(final) !== undefined ? { spec: readSpec(final) } : {}),
      ...(finished ? examplesOf(finished) : {}),
    });
  }
  return out;
}

/** A run's per-example results; a damaged file is reported and left out (the seed-level statistics still hold). */
function examplesOf(r: RunRecord): { examples?: ExampleRow[] } {
  const p = join(r.dir, 'artifacts', EXAMPLES_ARTIFACT);
  if (!existsSync(p)) return {};
  try {
    return { examples: parseExamplesCsv(readFileSync(p, 'utf8'), p) };
  } catch (e) {
    console.warn(`compare: ignoring ${(e as Error).message}`);
    return {};
  }
}

function readSpec(r: RunRecord): unknown {
  for (const f of ['spec.yaml', 'spec.json']) {
    const p = join(r.dir, 'artifacts', f);
    if (existsSync(p)) {
      try {
        return parseYaml(readFileSync(p, 'utf8'));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
