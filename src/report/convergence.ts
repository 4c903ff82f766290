// Was a run trained to convergence, and did it learn at all? A comparison of arms that were still
// climbing measures how fast each is learned, not how good it is; a comparison of arms that never
// fit their training data measures nothing. Pure functions of a run's metrics, table-tested in
// test/compare-verdicts.test.ts.
import type { MetricPoint } from '../track/types.js';
import { mean, variance } from './stats.js';

export interface ConvergenceCheck {
  /** True when the curve had flattened (or early stopping ended the run on a plateau). */
  converged: boolean;
  /** Still improving at the end (false also when the curve is too short to tell). */
  improving: boolean;
  /** Why, in words: "stopped by train.stop", "+0.041 over the last 20% (noise ±0.012)". */
  why: string;
}

/** The per-epoch curve that stands for a final metric: `eval_accuracy` is judged by `val_accuracy`. */
export function curveMetric(metric: string, history: Record<string, MetricPoint[]>): string | undefined {
  // An eval_ metric is logged once, after training: its curve is the val_ metric of each epoch.
  const candidates = metric.startsWith('eval_') ? [metric.replace(/^eval_/, 'val_'), 'val_loss'] : [metric, 'val_loss'];
  return candidates.find((m) => (history[m]?.length ?? 0) > 1) ?? candidates.find((m) => (history[m]?.length ?? 0) > 0);
}

/**
 * Still improving at the last logged point: over the last 20% of the curve (at least 2 points)
 * the metric moved in the good direction by more than its noise. The noise of one point is
 * estimated from successive differences over the second half of the curve (σ ≈ sd(Δ)/√2, which a
 * steady trend hardly inflates), and the comparison is of the mean of that tail against the
 * mean of the equally long stretch before it: improving when the gain exceeds 2 standard errors.
 */
export function stillImproving(points: readonly MetricPoint[], goal: 'max' | 'min'): { improving: boolean; gain: number; noise: number } | undefined {
  const byStep = new Map<number, number>();
  for (const p of points) byStep.set(p.step, p.value);
  const v = [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([, x]) => x);
  if (v.length < 4) return undefined;
  const k = Math.max(2, Math.ceil(0.2 * v.length));
  const tail = v.slice(-k);
  const prior = v.slice(-2 * k, -k);
  if (prior.length < 2) return undefined;
  const half = v.slice(Math.floor(v.length / 2));
  const diffs = half.slice(1).map((x, i) => x - half[i]!);
  const sigma = Math.sqrt(variance(diffs) / 2) || 0;
  const gain = (goal === 'max' ? 1 : -1) * (mean(tail) - mean(prior));
  const se = sigma * Math.sqrt(1 / tail.length + 1 / prior.length);
  return { improving: gain > 2 * se && gain > 0, gain, noise: se };
}

export function convergence(o: { metric: string; goal: 'max' | 'min'; history: Record<string, MetricPoint[]>; tags?: Record<string, string> | undefined }): ConvergenceCheck {
  if (o.tags?.['ablate.train.stop_reason'] === 'patience') return { converged: true, improving: false, why: 'stopped by train.stop on a plateau' };
  const m = curveMetric(o.metric, o.history);
  if (!m) return { converged: false, improving: false, why: 'no learning curve logged' };
  const goal = m === 'val_loss' || /loss|fid|frechet|distance/i.test(m) ? 'min' : o.goal;
  const s = stillImproving(o.history[m]!, goal);
  if (!s) return { converged: false, improving: false, why: `${m}: fewer than 4 epochs logged, too few to tell` };
  const fmt = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
  if (s.improving) return { converged: false, improving: true, why: `${m} ${fmt(s.gain)} over the last 20% of training (noise ±${s.noise.toFixed(4)})` };
  return { converged: true, improving: false, why: `${m} flat over the last 20% (${fmt(s.gain)}, noise ±${s.noise.toFixed(4)})` };
}

export interface LearnedCheck {
  learned: boolean;
  why: string;
}

/**
 * Did an arm learn? For classification: its final training accuracy must get at least half of the
 * way from chance (1 / classes) to 1. A network that cannot fit its own training data that far
 * has not learned the task (measured here: a two-class border arm with train loss 0.69 → 0.58,
 * i.e. training accuracy about 0.7, and validation accuracy wandering between 0.53 and 0.72).
 * Undefined for tasks without a training accuracy.
 */
export function learned(trainAccuracy: number | undefined, classes: number | undefined): LearnedCheck | undefined {
  if (trainAccuracy === undefined || !Number.isFinite(trainAccuracy) || !classes || classes < 2) return undefined;
  const chance = 1 / classes;
  const bar = chance + 0.5 * (1 - chance);
  if (trainAccuracy >= bar) return { learned: true, why: `train accuracy ${trainAccuracy.toFixed(3)} (chance ${chance.toFixed(3)})` };
  return { learned: false, why: `train accuracy ${trainAccuracy.toFixed(3)} is below ${bar.toFixed(3)}, half-way from chance ${chance.toFixed(3)} to 1` };
}
