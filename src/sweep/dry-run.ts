// `ablate sweep --dry-run`: the trial table and, per trial, which stages it will compute and
// which it will reuse (from the cache, or from an earlier trial of this sweep computing the same
// key), without launching anything or writing to the store.
import { cacheStatus } from '../pipeline/plan.js';
import { type BuiltSweep, planTrials } from './build.js';
import { storeRoot, sweepRemote, trackedSweepRuns } from './records.js';
import { decide } from './resume.js';
import { toPrior, trialExperiments } from './run.js';

export interface DryRunRow {
  index: number;
  name: string;
  hash: string;
  action: string;
  /** Stage kind → `compute`, `reuse (cache)`, `reuse (#n)`, or `—` (trial skipped). */
  stages: Record<string, string>;
  /** Why a trial that ran before runs again (`dataset changed: 12 files added`). */
  reason?: string;
}

export async function dryRun(sweep: BuiltSweep): Promise<{ rows: DryRunRow[]; kinds: string[]; store: string }> {
  const first = sweep.trials[0]!.spec;
  const root = storeRoot(first.track.uri);
  const runs = await trackedSweepRuns(root, sweepRemote(first.track.uri), sweep.id, { experiments: trialExperiments(sweep), log: (m) => process.stderr.write(`ablate: ${m}\n`) });
  const prior = toPrior(runs, sweep.sweep.metric);
  const computedBy = new Map<string, number>();
  const kinds: string[] = [];
  const rows: DryRunRow[] = [];
  const planned = await planTrials(sweep.trials);
  for (const t of sweep.trials) {
    const { plan, keys } = planned[t.index]!;
    const d = decide(keys, prior);
    const stages: Record<string, string> = {};
    for (const s of plan) {
      if (!kinds.includes(s.kind)) kinds.push(s.kind);
      if (d.action === 'skip') stages[s.kind] = '—';
      else if (!s.cacheable || !t.spec.cache.enabled) stages[s.kind] = 'compute';
      else if (cacheStatus(s, t.spec) === 'hit') stages[s.kind] = 'reuse (cache)';
      else if (computedBy.has(s.key)) stages[s.kind] = `reuse (#${computedBy.get(s.key)! + 1})`;
      else {
        stages[s.kind] = 'compute';
        computedBy.set(s.key, t.index);
      }
    }
    rows.push({ index: t.index, name: t.name, hash: t.hash, action: d.action === 'skip' ? 'done (skip)' : d.action, stages, ...(d.reason ? { reason: d.reason } : {}) });
  }
  return { rows, kinds, store: root };
}

export function formatDryRun(sweep: BuiltSweep, r: { rows: DryRunRow[]; kinds: string[]; store: string }, jobs: number): string {
  const head = ['#', 'trial', 'hash', 'status', ...r.kinds];
  const body = r.rows.map((x) => [String(x.index + 1), x.name, x.hash.slice(0, 8), x.action, ...r.kinds.map((k) => x.stages[k] ?? '')]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  const counts = r.kinds.map((k) => {
    const c = r.rows.filter((x) => x.stages[k] === 'compute').length;
    const reused = r.rows.filter((x) => x.stages[k]?.startsWith('reuse')).length;
    return `${k} ${c}${reused ? ` (+${reused} reused)` : ''}`;
  });
  const axes = sweep.axes.map((a) => `${a.path}${a.replicate ? ' (replicates)' : ''}`).join(' × ') || 'none';
  return [
    `sweep ${sweep.id}: ${sweep.trials.length} trials, axes ${axes}, ${jobs} at a time, store ${r.store}`,
    ...(sweep.duplicates.length ? [`(${sweep.duplicates.length} duplicate trial(s) dropped: ${sweep.duplicates.map((d) => `${d.name} = ${d.sameAs}`).join('; ')})`] : []),
    '',
    fmt(head),
    ...body.map(fmt),
    '',
    `stage executions: ${counts.join(', ')}`,
    ...r.rows.filter((x) => x.reason).map((x) => `#${x.index + 1} ${x.name} runs again: ${x.reason}`),
  ].join('\n');
}
