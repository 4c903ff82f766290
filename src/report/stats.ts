// The statistics behind a verdict. Pure functions of numbers, tested against cases with known
// answers (test/compare-stats.test.ts), including the coverage of the intervals over simulated
// sweeps.
//
// The design being measured: every arm is trained once per seed, trials sharing a seed share the
// split and the initialisation, and (when `dataset.seed` is fixed, as in every shipped sweep) all
// seeds share one validation set. Two sources of noise follow:
//   - training noise: how the result moves from seed to seed (seen in the spread of per-seed values);
//   - validation-set noise: which examples happened to be held out. All seeds saw the same ones,
//     so the seed spread does not show it; with 120 images it alone is worth ±0.05 on accuracy.
// A difference between arms is estimated paired by seed, and its interval carries both parts when
// per-example results exist (the evaluate stage stores them).
import { rng } from '../util/rng.js';

export const LEVEL = 0.95;
export const RESAMPLES = 10_000;

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length ? s / xs.length : Number.NaN;
}

/** Sample variance (n − 1); NaN below two values. */
export function variance(xs: ArrayLike<number>): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < n; i++) s += (xs[i]! - m) ** 2;
  return s / (n - 1);
}

/** Interquartile mean: the mean of the middle half (25% trimmed each side, fractional ends weighted). */
export function iqm(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return Number.NaN;
  const lo = n * 0.25;
  const hi = n * 0.75;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const w = Math.max(0, Math.min(i + 1, hi) - Math.max(i, lo));
    s += w * v[i]!;
  }
  return s / (hi - lo);
}

// ---- Student's t: regularised incomplete beta (Lentz's continued fraction) and its inverse ----

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9): ~15 significant digits for x > 0.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = c[0]!;
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lbt = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  const bt = Math.exp(lbt);
  return x < (a + 1) / (a + b + 2) ? (bt * betaContinuedFraction(a, b, x)) / a : 1 - (bt * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T ≤ t) for Student's t with df degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const x = df / (df + t * t);
  const tail = 0.5 * incompleteBeta(x, df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t (bisection on the CDF: exact to ~1e-12, fast enough here). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) return Number.NaN;
  if (p === 0.5) return 0;
  let lo = -1e3;
  let hi = 1e3;
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

const tCache = new Map<string, number>();
function tQuantileCached(p: number, df: number): number {
  const k = `${p}:${df}`;
  let q = tCache.get(k);
  if (q === undefined) {
    q = studentTQuantile(p, df);
    tCache.set(k, q);
  }
  return q;
}

// ---- Intervals ----

export type Interval = [number, number];

function percentile(sorted: Float64Array, q: number): number {
  // Linear interpolation between order statistics (type 7, numpy's default).
  const h = (sorted.length - 1) * q;
  const i = Math.floor(h);
  const j = Math.min(i + 1, sorted.length - 1);
  return sorted[i]! + (h - i) * (sorted[j]! - sorted[i]!);
}

/** Percentile bootstrap of the mean: `resamples` draws with replacement, seeded. */
export function bootstrapMean(xs: readonly number[], o: { resamples?: number; seed?: number; level?: number } = {}): Interval {
  const n = xs.length;
  if (n < 2) return [Number.NaN, Number.NaN];
  const R = o.resamples ?? RESAMPLES;
  const r = rng(o.seed ?? 0, 'bootstrap');
  const means = new Float64Array(R);
  for (let k = 0; k < R; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[Math.floor(r() * n)]!;
    means[k] = s / n;
  }
  means.sort();
  const a = (1 - (o.level ?? LEVEL)) / 2;
  return [percentile(means, a), percentile(means, 1 - a)];
}

/** Student-t interval of a mean whose variance is `v` (v = s²/n + any extra part), with df. */
export function tInterval(m: number, v: number, df: number, level = LEVEL): Interval {
  if (!(df >= 1) || !Number.isFinite(v)) return [Number.NaN, Number.NaN];
  const h = studentTQuantile(1 - (1 - level) / 2, df) * Math.sqrt(Math.max(v, 0));
  return [m - h, m + h];
}

const width = (i: Interval) => i[1] - i[0];

/**
 * Per-example scores of one seed: id → score (1/0 for correct/wrong). For a difference, the
 * per-example difference of the two arms on the same example.
 */
export type ExampleScores = ReadonlyMap<string, number>;

/**
 * The part of a mean's variance that comes from which validation examples were drawn, when every
 * seed scored the same examples. Computed in closed form as a bootstrap over examples would
 * estimate it, minus the seed × example noise that the seed spread already carries (two-way
 * ANOVA without replication: E[Var_x(ē)] = Var_x(μ) + σ²/n, σ² estimated by the residual mean
 * square). Returns undefined when the seeds did not score one common set of examples.
 */
export function exampleVariance(perSeed: readonly ExampleScores[]): { v: number; m: number } | undefined {
  const n = perSeed.length;
  if (n === 0) return undefined;
  const ids = [...perSeed[0]!.keys()];
  if (ids.length < 2 || perSeed.some((s) => s.size !== ids.length || ids.some((id) => !s.has(id)))) return undefined;
  const m = ids.length;
  const E = perSeed.map((s) => Float64Array.from(ids, (id) => s.get(id)!));
  const rowMean = E.map((row) => mean(row));
  const colMean = new Float64Array(m);
  for (const row of E) for (let x = 0; x < m; x++) colMean[x]! += row[x]! / n;
  const grand = mean(rowMean);
  const varCols = variance(colMean);
  let msRes = 0;
  if (n > 1) {
    let ss = 0;
    for (let i = 0; i < n; i++) for (let x = 0; x < m; x++) ss += (E[i]![x]! - colMean[x]! - rowMean[i]! + grand) ** 2;
    msRes = ss / ((n - 1) * (m - 1));
  }
  return { v: Math.max(0, varCols - msRes / n) / m, m };
}

export interface MeanEstimate {
  n: number;
  mean: number;
  ci95: Interval;
  /** Sample std of the per-seed values. */
  sd: number;
  /** Variance of the mean from the validation examples (0 without per-example results). */
  exampleVar: number;
  /** Which intervals were computed; the reported one is the widest. */
  method: string;
}

/**
 * Mean of per-seed values with its 95% interval: the percentile bootstrap over seeds and a
 * Student-t interval, the wider of the two, each widened by the validation-set variance when
 * per-example scores are given (one map per value, same order).
 *
 * Why both, at every n: the percentile bootstrap alone covers less than it claims with few seeds
 * (its spread uses the n, not n − 1, variance and normal tails; measured in the coverage test:
 * 73% at 3 seeds, 84% at 5, 91% at 10); the t interval is exact for normal noise and the bootstrap guards
 * against skewed noise.
 */
/**
 * Metrics that are proportions (accuracy, top-k accuracy, class coverage): a mean of them cannot
 * leave [0, 1], but a t interval over 3 seeds can (0.997 ± 0.006 reached 1.003 on a planted set).
 */
export function proportionBounds(metric: string): Interval | undefined {
  return /(^|_)(accuracy|top\d+|coverage)($|_)/.test(metric) ? [0, 1] : undefined;
}

export function estimateMean(
  values: readonly number[],
  o: { examples?: readonly ExampleScores[] | undefined; resamples?: number; seed?: number; level?: number; /** The interval is cut to the values the metric can take. */ bounds?: Interval | undefined } = {},
): MeanEstimate {
  const n = values.length;
  const m = mean(values);
  const sd = Math.sqrt(variance(values));
  const ex = o.examples && o.examples.length === n ? exampleVariance(o.examples) : undefined;
  const vEx = ex?.v ?? 0;
  if (n < 2) {
    return { n, mean: m, ci95: [Number.NaN, Number.NaN], sd: Number.NaN, exampleVar: vEx, method: n === 1 ? 'one seed: no interval' : 'no value' };
  }
  const level = o.level ?? LEVEL;
  // Welch–Satterthwaite degrees of freedom: the seed part has n − 1, the example part (estimated
  // from m examples) m − 1; the t quantile should not inflate a part that is well estimated.
  const vSeed = sd ** 2 / n;
  const df = ex && vEx > 0 ? (vSeed + vEx) ** 2 / (vSeed ** 2 / (n - 1) + vEx ** 2 / (ex.m - 1)) : n - 1;
  const t = tInterval(m, vSeed + vEx, df, level);
  const boot = bootstrapMean(values, { resamples: o.resamples ?? RESAMPLES, seed: o.seed ?? 0, level });
  // The bootstrap interval widened by the example part, combined in quadrature on each side.
  const z = studentTQuantile(1 - (1 - level) / 2, 1e6);
  const widen = (d: number) => Math.sqrt(d * d + z * z * vEx);
  const bootEx: Interval = [m - widen(m - boot[0]), m + widen(boot[1] - m)];
  const wide = width(bootEx) > width(t) ? bootEx : t;
  const ci95: Interval = o.bounds ? [Math.max(o.bounds[0], wide[0]), Math.min(o.bounds[1], wide[1])] : wide;
  const parts = [`bootstrap over ${n} seeds`, `t (df ${df.toFixed(1)})`];
  if (ex) parts.push(`+ validation-set variance over ${ex.m} examples`);
  return { n, mean: m, ci95, sd, exampleVar: vEx, method: parts.join(', ') };
}

/** Fraction of paired seeds on which a beats b in the goal's direction (ties count half). */
export function probabilityOfImprovement(a: readonly number[], b: readonly number[], goal: 'max' | 'min'): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = goal === 'max' ? a[i]! - b[i]! : b[i]! - a[i]!;
    s += d > 0 ? 1 : d === 0 ? 0.5 : 0;
  }
  return a.length ? s / a.length : Number.NaN;
}

/**
 * How many seeds an effect the size of `diff` would need for a 95% interval that excludes zero,
 * assuming the observed spread: the smallest n with t(n−1)·√(sd²/n + exampleVar) < |diff|.
 * Infinity when the validation-set part alone is too wide (more seeds cannot settle it: a larger
 * validation set can), NaN when there is nothing to go on.
 */
export function seedsNeeded(diff: number, sd: number, exampleVar: number, level = LEVEL): number {
  const d = Math.abs(diff);
  if (!Number.isFinite(d) || d === 0 || !Number.isFinite(sd)) return Number.NaN;
  const p = 1 - (1 - level) / 2;
  const z = studentTQuantile(p, 1e6);
  if (z * Math.sqrt(exampleVar) >= d) return Number.POSITIVE_INFINITY;
  const settles = (n: number) => tQuantileCached(p, n - 1) * Math.sqrt((sd * sd) / n + exampleVar) < d;
  // The half-width falls with n: find the first n that settles by doubling, then bisection.
  let hi = 2;
  while (!settles(hi)) {
    if (hi > 1e7) return Number.POSITIVE_INFINITY;
    hi *= 2;
  }
  let lo = Math.max(1, hi / 2);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (settles(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

export type Verdict = 'better' | 'worse' | 'inconclusive';

export interface PairEstimate extends MeanEstimate {
  pImprove: number;
  verdict: Verdict;
  /** Seeds that would settle this difference (when inconclusive). */
  seedsNeeded: number;
}

/**
 * a − b paired by seed. `a` and `b` are the two arms' values on the same seeds (same order);
 * examples, when given, the per-example scores of each run (same order).
 */
export function comparePaired(
  a: readonly number[],
  b: readonly number[],
  goal: 'max' | 'min',
  o: { examplesA?: readonly ExampleScores[] | undefined; examplesB?: readonly ExampleScores[] | undefined; resamples?: number; seed?: number } = {},
): PairEstimate {
  const diffs = a.map((x, i) => x - b[i]!);
  let examples: ExampleScores[] | undefined;
  if (o.examplesA && o.examplesB && o.examplesA.length === a.length && o.examplesB.length === b.length) {
    examples = o.examplesA.map((ea, i) => {
      const eb = o.examplesB![i]!;
      const d = new Map<string, number>();
      for (const [id, v] of ea) if (eb.has(id)) d.set(id, v - eb.get(id)!);
      return d;
    });
  }
  const est = estimateMean(diffs, { examples, ...(o.resamples ? { resamples: o.resamples } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}) });
  const [lo, hi] = est.ci95;
  const sign = goal === 'max' ? 1 : -1;
  let verdict: Verdict = 'inconclusive';
  if (Number.isFinite(lo) && Number.isFinite(hi) && (lo > 0 || hi < 0)) verdict = sign * est.mean > 0 ? 'better' : 'worse';
  return { ...est, pImprove: probabilityOfImprovement(a, b, goal), verdict, seedsNeeded: verdict === 'inconclusive' ? seedsNeeded(est.mean, est.sd, est.exampleVar) : Number.NaN };
}
