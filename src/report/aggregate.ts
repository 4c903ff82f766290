// Grouping trials by the varied axes and aggregating over seeds: mean ± sample std, n, min/max,
// the best group, and which differences from the best are within one std (noise, not a result).
// Pure functions of values, table-tested.
import type { MetricPoint } from '../track/types.js';
import type { TrialData } from './load.js';

export interface Stats {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); NaN for a single value. */
  std: number;
  min: number;
  max: number;
}

export interface CurvePoint {
  step: number;
  mean: number;
  std: number;
  n: number;
}

export interface Group {
  group: Record<string, string>;
  label: string;
  stats: Stats;
  wall: Stats;
  /** Every finished trial in the group, with its run ids and value. */
  runs: { name: string; runIds: string[]; value: number; wallSeconds: number; seed?: string }[];
  failed: { name: string; runIds: string[]; status: string; error?: string }[];
  curve: CurvePoint[];
  best: boolean;
  /** Difference to the best group's mean (signed, this − best). */
  delta: number;
  /** |delta| within one std of either group: not distinguishable from the best with these seeds. */
  withinStd: boolean;
}

export function stats(xs: readonly number[]): Stats {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { n: 0, mean: Number.NaN, std: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : Number.NaN;
  return { n, mean, std, min: Math.min(...v), max: Math.max(...v) };
}

export function groupLabel(group: Record<string, string>): string {
  const entries = Object.entries(group);
  if (entries.length === 0) return 'all';
  if (entries.length === 1) return entries[0]![1];
  return entries.map(([k, v]) => `${k.split('.').at(-1)}=${v}`).join(', ');
}

/** Mean ± std per step over the runs of a group (steps some runs lack average the others). */
export function meanCurve(histories: readonly MetricPoint[][]): CurvePoint[] {
  const bySteps = new Map<number, number[]>();
  for (const h of histories) {
    // The last point per step of a run (a run may log a step twice after a resume).
    const last = new Map<number, number>();
    for (const p of h) last.set(p.step, p.value);
    for (const [step, v] of last) bySteps.set(step, [...(bySteps.get(step) ?? []), v]);
  }
  return [...bySteps.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([step, vs]) => {
      const s = stats(vs);
      return { step, mean: s.mean, std: Number.isNaN(s.std) ? 0 : s.std, n: s.n };
    });
}

export function aggregate(trials: readonly TrialData[], axes: readonly string[], metric: string, goal: 'max' | 'min', replicate?: string): Group[] {
  const groups = new Map<string, TrialData[]>();
  for (const t of trials) {
    const key = JSON.stringify(axes.map((a) => t.values[a] ?? ''));
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const out: Group[] = [...groups.values()].map((ts) => {
    const group = Object.fromEntries(axes.map((a) => [a, ts[0]!.values[a] ?? '']));
    const ok = ts.filter((t) => t.status === 'FINISHED' && Number.isFinite(t.metrics[metric]));
    return {
      group,
      label: groupLabel(group),
      stats: stats(ok.map((t) => t.metrics[metric]!)),
      wall: stats(ok.map((t) => t.wallSeconds)),
      runs: [...ok].sort((a, b) => bySeed(a.values[replicate ?? ''], b.values[replicate ?? ''])).map((t) => ({
        name: t.name,
        runIds: t.runIds,
        value: t.metrics[metric]!,
        wallSeconds: t.wallSeconds,
        ...(replicate && t.values[replicate] !== undefined ? { seed: t.values[replicate] } : {}),
      })),
      failed: ts.filter((t) => !ok.includes(t)).map((t) => ({ name: t.name, runIds: t.runIds, status: t.status, ...(t.error ? { error: t.error } : {}) })),
      curve: meanCurve(ok.map((t) => t.history[metric] ?? [])),
      best: false,
      delta: Number.NaN,
      withinStd: false,
    };
  });
  const ranked = out.filter((g) => g.stats.n > 0);
  const sign = goal === 'max' ? 1 : -1;
  ranked.sort((a, b) => sign * (b.stats.mean - a.stats.mean));
  const best = ranked[0];
  if (best) {
    best.best = true;
    for (const g of out) {
      if (g.stats.n === 0) continue;
      g.delta = g.stats.mean - best.stats.mean;
      const spread = Math.max(Number.isNaN(g.stats.std) ? 0 : g.stats.std, Number.isNaN(best.stats.std) ? 0 : best.stats.std);
      g.withinStd = g !== best && spread > 0 && Math.abs(g.delta) <= spread;
    }
  }
  // Best first, then the rest in the same order; groups with no finished run last.
  return [...ranked, ...out.filter((g) => g.stats.n === 0)];
}

function bySeed(a: string | undefined, b: string | undefined): number {
  const x = Number(a);
  const y = Number(b);
  return Number.isFinite(x) && Number.isFinite(y) ? x - y : String(a).localeCompare(String(b));
}
