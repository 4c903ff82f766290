// `ablate ls`: what has run, newest first, without opening MLflow: status, duration, the params
// that differ between the runs shown (the ablation axes) and the final metrics. An interrupted
// trial that was resumed has several runs with one spec hash; they are one row (the latest run),
// so 9 trials read as 9 rows however often they were interrupted; --all shows every run.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { listExperiments, listRuns, localStoreRoot, type RunRecord, TAG } from '../track/index.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';

const HELP = `Usage: ablate ls [experiment] [options]

Lists the experiments of the local tracking store and their runs, newest first: status, start,
duration, the params that differ between the runs listed (and sweep axes), and final metrics.
A trial that was interrupted and resumed (several runs of one spec) is one row, its latest run;
RUNS says how many runs it took. With an MLflow server as MLFLOW_TRACKING_URI, this lists the
local mirror (runs/).

Arguments:
  experiment       only this experiment (name or id)

Options:
  --store dir      tracking store folder (default: MLFLOW_TRACKING_URI if a folder, else runs/)
  --all            every run, each trial's earlier runs under its latest (↳)
  --limit n        trials per experiment (default 10 for all experiments, 50 for one; 0 = all)
  --format f       table (default) or json`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, { store: { type: 'string' }, limit: { type: 'string' }, format: { type: 'string' }, all: { type: 'boolean' } });
  const showAll = Boolean(args.values.all);
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.positionals.length > 1 || args.overrides.length > 0) throw new UsageError(`expected at most one experiment\n\n${HELP}`);
  const format = args.values.format ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError(`--format must be table or json, got "${format}"`);
  const limitText = args.values.limit;
  if (limitText !== undefined && !/^\d+$/.test(limitText)) throw new UsageError(`--limit must be a whole number, got "${limitText}"`);
  const wanted = args.positionals[0];
  const root = storeRoot(args.values.store);
  if (!existsSync(root)) {
    console.log(`no runs yet: ${root} does not exist`);
    return EXIT.ok;
  }
  let experiments = listExperiments(root);
  if (wanted !== undefined) {
    const match = experiments.filter((e) => e.name === wanted || e.experimentId === wanted);
    if (match.length === 0) {
      const names = experiments.map((e) => e.name).join(', ');
      console.error(`ablate ls: no experiment "${wanted}" in ${root}${names ? ` (there are: ${names})` : ''}`);
      return EXIT.failed;
    }
    experiments = match;
  }
  const limit = limitText !== undefined ? Number(limitText) : wanted !== undefined ? 50 : 10;
  const listed = experiments
    .map((e) => {
      const runs = listRuns(root, e.experimentId, { history: false });
      return { ...e, runs, trials: trialsOf(runs) };
    })
    // Empty experiments (the Default one) only clutter the list unless asked for.
    .filter((e) => e.runs.length > 0 || wanted !== undefined)
    .sort((a, b) => newest(b.runs) - newest(a.runs));
  if (format === 'json') {
    const out = listed.map((e) => ({
      experimentId: e.experimentId,
      name: e.name,
      runs: (limit ? e.trials.slice(0, limit) : e.trials).flatMap((t) =>
        (showAll ? [t.latest, ...t.earlier] : [t.latest]).map((r) => ({
          ...r.info,
          params: r.params,
          tags: r.tags,
          metrics: r.metrics,
          ...(r === t.latest && t.earlier.length ? { earlierRunIds: t.earlier.map((x) => x.info.runId) } : {}),
        })),
      ),
    }));
    console.log(JSON.stringify(out, null, 2));
    return EXIT.ok;
  }
  if (listed.length === 0) {
    console.log(`no runs yet in ${root}`);
    return EXIT.ok;
  }
  const now = Date.now();
  for (const e of listed) {
    const trials = limit ? e.trials.slice(0, limit) : e.trials;
    const shown = trials.flatMap((t) => (showAll ? [t.latest, ...t.earlier] : [t.latest]));
    const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
    console.log(`${e.name} (experiment ${e.experimentId}, ${e.trials.length === e.runs.length ? plural(e.runs.length, 'run') : `${plural(e.trials.length, 'trial')}, ${plural(e.runs.length, 'run')}`})`);
    if (shown.length === 0) {
      console.log('  no runs\n');
      continue;
    }
    const keys = keyParams(shown);
    const metrics = metricNames(shown);
    const trialOf = new Map(trials.flatMap((t) => [t.latest, ...t.earlier].map((r) => [r, t] as const)));
    const rows = shown.map((r) => [
      r.info.runId.slice(0, 8),
      trialOf.get(r)!.latest === r ? r.info.runName : `  ↳ ${r.info.runName}`,
      r.info.status,
      trialOf.get(r)!.latest === r && trialOf.get(r)!.earlier.length ? runsNote(trialOf.get(r)!) : '',
      formatTime(r.info.startTime),
      formatDuration((r.info.endTime ?? now) - r.info.startTime) + (r.info.endTime === null ? '+' : ''),
      keys.map((k) => `${short(k)}=${value(r, k)}`).join(' '),
      metrics.map((m) => (r.metrics[m] === undefined ? '' : `${m}=${formatNumber(r.metrics[m]!)}`)).join(' '),
    ]);
    printTable(['RUN', 'NAME', 'STATUS', 'RUNS', 'STARTED', 'DURATION', 'PARAMS', 'METRICS'], rows);
    if (trials.length < e.trials.length) console.log(`  … ${e.trials.length - trials.length} older (--limit 0 shows all)`);
    const hidden = showAll ? 0 : trials.reduce((n, t) => n + t.earlier.length, 0);
    if (hidden) console.log(`  ${plural(hidden, 'earlier run')} of these trials not shown (--all shows them)`);
    console.log('');
  }
  return EXIT.ok;
}

function storeRoot(flag: string | undefined): string {
  return flag ? resolve(flag) : localStoreRoot(undefined);
}

interface Trial {
  latest: RunRecord;
  /** The trial's earlier runs (interrupted, then resumed by a later one), newest first. */
  earlier: RunRecord[];
}

/** Runs of one spec (within one sweep) are one trial tried more than once; newest trial first. */
export function trialsOf(runs: RunRecord[]): Trial[] {
  const byKey = new Map<string, RunRecord[]>();
  for (const r of [...runs].sort((a, b) => b.info.startTime - a.info.startTime)) {
    const hash = r.tags[TAG.specHash];
    const k = hash ? `${hash} ${r.tags[TAG.sweepId] ?? ''}` : r.info.runId;
    byKey.set(k, [...(byKey.get(k) ?? []), r]);
  }
  return [...byKey.values()].map(([latest, ...earlier]) => ({ latest: latest!, earlier }));
}

function runsNote(t: Trial): string {
  const counts = new Map<string, number>();
  for (const r of t.earlier) counts.set(r.info.status, (counts.get(r.info.status) ?? 0) + 1);
  return `${t.earlier.length + 1} (${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')} before)`;
}

const newest = (runs: RunRecord[]) => runs.reduce((m, r) => Math.max(m, r.info.startTime), 0);

/** Sweep axes first, then params whose values differ between the runs shown; at most four. */
function keyParams(runs: RunRecord[]): string[] {
  const axes = new Set<string>();
  for (const r of runs) for (const t of Object.keys(r.tags)) if (t.startsWith('ablate.axis.')) axes.add(`tag:${t}`);
  const varying: string[] = [];
  if (runs.length > 1) {
    const keys = new Set(runs.flatMap((r) => Object.keys(r.params)));
    // A param only some runs have (a sweep's parent run has none) does not make it vary.
    for (const k of [...keys].sort()) {
      const values = new Set(runs.filter((r) => k in r.params).map((r) => r.params[k]));
      if (values.size > 1 && k !== 'name' && !axes.has(`tag:ablate.axis.${k}`)) varying.push(k);
    }
  }
  return [...axes, ...varying].slice(0, 4);
}

function value(r: RunRecord, key: string): string {
  const v = key.startsWith('tag:') ? r.tags[key.slice(4)] : r.params[key];
  if (v === undefined) return '-';
  return v.length > 24 ? `${v.slice(0, 23)}…` : v;
}

const short = (key: string) => (key.startsWith('tag:ablate.axis.') ? key.slice('tag:ablate.axis.'.length) : key);

/** Validation metrics first (what an ablation is judged on), at most four. */
function metricNames(runs: RunRecord[]): string[] {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))];
  const rank = (n: string) => (n.startsWith('val') ? 0 : n.includes('loss') ? 1 : 2);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).slice(0, 4);
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

function printTable(head: string[], rows: string[][]): void {
  const used = head.map((_, i) => i).filter((i) => rows.some((r) => r[i] !== ''));
  const width = used.map((i) => Math.max(head[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `  ${used.map((i, j) => cells[i]!.padEnd(width[j]!)).join('  ')}`.trimEnd();
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}
