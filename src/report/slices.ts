// Where each arm wins and loses: the per-example results of every run, broken down by the source
// image's aspect ratio, its size and its class, with a 95% interval per slice and arm (the same
// estimate as a group's mean: seeds, plus the examples of that slice), and a confusion matrix per
// arm. For the crop ablation this is the answer a researcher wants ("squish loses 20 points on
// elongated images and ties on square ones").
import type { ExampleRow } from '../train/examples.js';
import type { TrialData } from './load.js';
import { estimateMean, type Interval } from './stats.js';

export interface SliceBins {
  /** Aspect (width / height) cut points: below the first is portrait, above the last landscape. */
  aspect: [number, number];
  /** Short-side cut points in pixels: small < first ≤ medium < second ≤ large. */
  size: [number, number];
}

export const DEFAULT_BINS: SliceBins = { aspect: [0.8, 1.25], size: [256, 512] };

export interface SliceCell {
  /** Examples in the slice (per run; the same examples in every run of a shared validation set). */
  examples: number;
  mean: number;
  ci95: Interval;
  n: number;
}

export interface SliceRow {
  kind: 'aspect' | 'size' | 'class';
  slice: string;
  /** Arm label → its accuracy on this slice. */
  arms: Record<string, SliceCell>;
}

export interface Confusion {
  classes: string[];
  /** counts[true][pred], summed over the arm's seeds. */
  counts: number[][];
}

export interface SliceReport {
  bins: SliceBins;
  rows: SliceRow[];
  confusion: Record<string, Confusion>;
}

export function aspectSlice(aspect: number, bins: SliceBins): string {
  if (!Number.isFinite(aspect)) return 'unknown';
  const [lo, hi] = bins.aspect;
  return aspect < lo ? `portrait (< ${lo})` : aspect > hi ? `landscape (> ${hi})` : `near-square (${lo}–${hi})`;
}

export function sizeSlice(width: number, height: number, bins: SliceBins): string {
  const s = Math.min(width, height);
  if (!Number.isFinite(s)) return 'unknown';
  const [a, b] = bins.size;
  return s < a ? `small (short side < ${a})` : s < b ? `medium (${a}–${b - 1})` : `large (≥ ${b})`;
}

const SLICERS: { kind: SliceRow['kind']; of: (r: ExampleRow, bins: SliceBins) => string }[] = [
  { kind: 'aspect', of: (r, bins) => aspectSlice(r.aspect, bins) },
  { kind: 'size', of: (r, bins) => sizeSlice(r.width, r.height, bins) },
  { kind: 'class', of: (r) => r.trueClass },
];

/**
 * Slices of every arm that has per-example results. `arms` maps an arm's label to its finished
 * trials (one per seed); arms without per-example rows are left out.
 */
export function sliceReport(arms: ReadonlyMap<string, readonly TrialData[]>, bins: SliceBins = DEFAULT_BINS, o: { resamples?: number } = {}): SliceReport | undefined {
  const withRows = [...arms].filter(([, ts]) => ts.length > 0 && ts.every((t) => t.examples?.length));
  if (withRows.length === 0) return undefined;
  const rows: SliceRow[] = [];
  for (const { kind, of } of SLICERS) {
    const names = new Set<string>();
    for (const [, ts] of withRows) for (const t of ts) for (const r of t.examples!) names.add(of(r, bins));
    for (const slice of [...names].sort(sliceOrder)) {
      const row: SliceRow = { kind, slice, arms: {} };
      for (const [label, ts] of withRows) {
        const perRun = ts.map((t) => t.examples!.filter((r) => of(r, bins) === slice));
        if (perRun.some((rs) => rs.length === 0)) continue;
        const values = perRun.map((rs) => rs.reduce((s, r) => s + r.correct, 0) / rs.length);
        // A slice's accuracy is a proportion: a t interval over 3 seeds of a 0/1-heavy slice can reach
        // past 0 or 1 (-0.44..1.18 measured), bounds no run could produce, so the interval is cut to [0, 1].
        const est = estimateMean(values, { examples: perRun.map((rs) => new Map(rs.map((r) => [r.id, r.correct]))), bounds: [0, 1], ...(o.resamples ? { resamples: o.resamples } : {}) });
        row.arms[label] = { examples: perRun[0]!.length, mean: est.mean, ci95: est.ci95, n: est.n };
      }
      rows.push(row);
    }
  }
  const confusion: Record<string, Confusion> = {};
  for (const [label, ts] of withRows) {
    const classes = [...new Set(ts.flatMap((t) => t.examples!.flatMap((r) => [r.trueClass, r.predClass])))];
    const byName = new Map(ts[0]!.examples!.map((r) => [r.trueClass, r.label]));
    classes.sort((a, b) => (byName.get(a) ?? 1e9) - (byName.get(b) ?? 1e9) || a.localeCompare(b));
    const idx = new Map(classes.map((c, i) => [c, i]));
    const counts = classes.map(() => classes.map(() => 0));
    for (const t of ts) for (const r of t.examples!) counts[idx.get(r.trueClass)!]![idx.get(r.predClass)!]!++;
    confusion[label] = { classes, counts };
  }
  return { bins, rows, confusion };
}

// portrait, near-square, landscape and small, medium, large read best in that order; classes alphabetically.
function sliceOrder(a: string, b: string): number {
  const rank = (s: string) => ['portrait', 'near-square', 'landscape', 'small', 'medium', 'large', 'unknown'].findIndex((p) => s.startsWith(p));
  const ra = rank(a);
  const rb = rank(b);
  if (ra >= 0 || rb >= 0) return (ra < 0 ? 99 : ra) - (rb < 0 ? 99 : rb);
  return a.localeCompare(b);
}

/** The slice table as text: one line per slice, a column per arm (`mean [lo, hi]`). */
export function sliceLines(r: SliceReport, armOrder: readonly string[]): string[] {
  const arms = armOrder.filter((a) => r.rows.some((row) => row.arms[a]));
  const cell = (c: SliceCell | undefined) => (c ? `${c.mean.toFixed(3)} [${Number.isFinite(c.ci95[0]) ? `${c.ci95[0].toFixed(2)}, ${c.ci95[1].toFixed(2)}` : '–'}]` : '');
  const head = ['slice', 'examples', ...arms];
  const body = r.rows.map((row) => [`${row.kind}: ${row.slice}`, String(Object.values(row.arms)[0]?.examples ?? ''), ...arms.map((a) => cell(row.arms[a]))]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [fmt(head), ...body.map(fmt)];
}
