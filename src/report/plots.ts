// The plots of a comparison as Vega-Lite specs, rendered headless to SVG (vega's own renderer, no
// browser) and to PNG (sharp through librsvg): the metric per group with its 95% interval, a
// forest plot of each arm's difference to the reference (baseline or best) with its interval, the
// learning curves per group (mean with a ±1 std band), the metric per slice per arm, and the
// cost per trial (CPU seconds, wall time where CPU was not recorded).
import type { Group } from './aggregate.js';
import type { SliceReport } from './slices.js';
import { referenceGroup } from './tables.js';

export interface Plot {
  name: string;
  title: string;
  spec: Record<string, unknown>;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WIDTH = 420;

export function metricPlot(groups: readonly Group[], metric: string): Plot {
  const finished = groups.filter((g) => g.stats.n > 0);
  const ref = referenceGroup(finished);
  const values = finished.map((g) => {
    const [lo, hi] = g.estimate.ci95;
    const p = ref && g !== ref ? g.pairs[ref.label] : undefined;
    return {
      group: g.label,
      mean: g.estimate.mean,
      lo: Number.isFinite(lo) ? lo : g.estimate.mean,
      hi: Number.isFinite(hi) ? hi : g.estimate.mean,
      n: g.stats.n,
      best: g === ref ? (g.best ? 'best' : 'baseline') : p ? `${p.verdict} than ${ref!.label}`.replace('inconclusive than', 'inconclusive vs').replace('inconclusive (did not learn) than', 'did not learn vs') : 'other',
    };
  });
  const runs = finished.flatMap((g) => g.runs.map((r) => ({ group: g.label, value: r.value, seed: r.seed ?? '' })));
  const order = finished.map((g) => g.label);
  const x = { field: 'group', type: 'nominal', sort: order, title: null, axis: { labelAngle: 0 } };
  const all = [...values.flatMap((v) => [v.lo, v.hi]), ...runs.map((r) => r.value)];
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const pad = (hi - lo) * 0.15 || 0.05;
  const domain = [Math.max(0, lo - pad), hi + pad];
  return {
    name: 'metric',
    title: `${metric} per group (mean and 95% interval, dots are runs)`,
    spec: {
      $schema: SCHEMA,
      title: `${metric}: mean and 95% interval over seeds`,
      width: WIDTH,
      height: 260,
      layer: [
        {
          data: { values },
          mark: { type: 'rule', strokeWidth: 2, color: '#222' },
          encoding: { x, y: { field: 'lo', type: 'quantitative', title: metric, scale: { domain, zero: false } }, y2: { field: 'hi' } },
        },
        {
          // The mean is a point, not a bar: the axis does not start at zero, so a bar would lie.
          data: { values },
          mark: { type: 'point', shape: 'square', filled: true, size: 90, opacity: 0.85 },
          encoding: {
            x,
            y: { field: 'mean', type: 'quantitative' },
            color: {
              field: 'best',
              type: 'nominal',
              title: null,
              legend: { labelLimit: 300, orient: 'bottom' },
            },
          },
        },
        {
          data: { values: runs },
          mark: { type: 'point', filled: true, size: 30, color: '#1a1a1a', opacity: 0.6, xOffset: 14 },
          encoding: { x, y: { field: 'value', type: 'quantitative' }, tooltip: [{ field: 'seed' }, { field: 'value' }] },
        },
      ],
    },
  };
}

// The epoch loops record train_ and val_ metrics once per epoch, with the epoch as the step.
export function stepTitle(metric: string): 'epoch' | 'step' {
  return /^(pretrain_)?(train|val)_/.test(metric) && !/_step_/.test(metric) ? 'epoch' : 'step';
}

export function curvePlot(groups: readonly Group[], finalMetric: string): Plot {
  const metric = groups.find((g) => g.curve.length > 0)?.curveMetric ?? finalMetric;
  const values = groups.flatMap((g) => g.curve.map((p) => ({ group: g.label, step: p.step, mean: p.mean, lo: p.mean - p.std, hi: p.mean + p.std })));
  // The legend draws the lines' colour at full strength: by default it takes the bands' pale
  // 0.2-opacity fill, which is not the colour to look for in the plot.
  const color = {
    field: 'group',
    type: 'nominal',
    title: null,
    sort: groups.map((g) => g.label),
    legend: { labelLimit: 300, symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 2.5, symbolFillColor: null },
  };
  return {
    name: 'curves',
    title: `${metric} learning curves per group (mean, band ±1 std)`,
    spec: {
      $schema: SCHEMA,
      title: `${metric} by ${stepTitle(metric)}: mean, band ±1 std over seeds`,
      width: WIDTH,
      height: 260,
      data: { values },
      layer: [
        {
          mark: { type: 'area', opacity: 0.2 },
          encoding: { x: { field: 'step', type: 'quantitative', title: stepTitle(metric), axis: { format: 'd', tickMinStep: 1 } }, y: { field: 'lo', type: 'quantitative', title: metric, scale: { zero: false } }, y2: { field: 'hi' }, color },
        },
        {
          mark: { type: 'line', point: values.length < 60 },
          encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'mean', type: 'quantitative' }, color },
        },
      ],
    },
  };
}

/** What each arm costs per trial: CPU seconds when recorded (wall time under --jobs N measures the neighbours too), else wall time. */
export function wallPlot(groups: readonly Group[]): Plot {
  const finished = groups.filter((g) => g.wall.n > 0);
  const cpu = finished.length > 0 && finished.every((g) => g.cost.cpu.n === g.stats.n && g.cost.cpu.n > 0);
  const values = finished.map((g) => {
    const st = cpu ? g.cost.cpu : g.wall;
    const sd = Number.isFinite(st.std) ? st.std : 0;
    return { group: g.label, mean: st.mean, lo: Math.max(0, st.mean - sd), hi: st.mean + sd };
  });
  const runs = finished.flatMap((g) => g.runs.map((r) => ({ group: g.label, seconds: cpu ? (r.cpuSeconds ?? Number.NaN) : r.wallSeconds })));
  const x = { field: 'group', type: 'nominal', sort: finished.map((g) => g.label), title: null, axis: { labelAngle: 0 } };
  const what = cpu ? 'CPU time per trial' : 'wall time per trial';
  return {
    name: 'walltime',
    title: `${what} (mean ± 1 std): what each choice costs${cpu ? '; CPU time does not grow when trials share the cores' : ''}`,
    spec: {
      $schema: SCHEMA,
      title: `${what} (s): mean ± 1 std`,
      width: WIDTH,
      height: 220,
      layer: [
        { data: { values }, mark: { type: 'bar', color: '#5b7fb5', opacity: 0.8, width: { band: 0.6 } }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'seconds', scale: { zero: true } } } },
        { data: { values }, mark: { type: 'rule', strokeWidth: 2, color: '#222' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
        { data: { values: runs }, mark: { type: 'point', filled: true, size: 30, color: '#1a1a1a' }, encoding: { x, y: { field: 'seconds', type: 'quantitative' } } },
      ],
    },
  };
}

/** Each arm's paired difference to the reference arm with its 95% interval; the rule at 0 is "no difference". */
export function forestPlot(groups: readonly Group[], metric: string): Plot | undefined {
  const ref = referenceGroup(groups);
  if (!ref) return undefined;
  const values = groups
    .filter((g) => g !== ref && g.pairs[ref.label])
    .map((g) => {
      const p = g.pairs[ref.label]!;
      return { group: g.label, diff: p.mean, lo: Number.isFinite(p.ci95[0]) ? p.ci95[0] : p.mean, hi: Number.isFinite(p.ci95[1]) ? p.ci95[1] : p.mean, verdict: p.verdict };
    });
  if (values.length === 0) return undefined;
  const y = { field: 'group', type: 'nominal', sort: values.map((v) => v.group), title: null };
  return {
    name: 'forest',
    title: `difference in ${metric} to ${ref.label}${ref.baseline ? ' (baseline)' : ' (best)'}, paired by seed, with 95% interval: an interval that crosses 0 is inconclusive`,
    spec: {
      $schema: SCHEMA,
      title: `${metric}: each arm − ${ref.label}`,
      width: WIDTH,
      height: Math.max(80, 36 * values.length),
      layer: [
        { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#888', strokeDash: [4, 3] }, encoding: { x: { field: 'zero', type: 'quantitative' } } },
        { data: { values }, mark: { type: 'rule', strokeWidth: 2, color: '#222' }, encoding: { y, x: { field: 'lo', type: 'quantitative', title: `${metric} difference`, scale: { zero: true } }, x2: { field: 'hi' } } },
        {
          data: { values },
          mark: { type: 'point', shape: 'diamond', filled: true, size: 110 },
          encoding: { y, x: { field: 'diff', type: 'quantitative' }, color: { field: 'verdict', type: 'nominal', title: null, legend: { orient: 'bottom' } } },
        },
      ],
    },
  };
}

/** Accuracy per slice per arm with 95% intervals, one panel per kind of slice. */
export function slicePlot(r: SliceReport, armOrder: readonly string[]): Plot {
  const values = r.rows.flatMap((row) =>
    Object.entries(row.arms).map(([arm, c]) => ({ kind: row.kind, slice: row.slice, arm, mean: c.mean, lo: Number.isFinite(c.ci95[0]) ? c.ci95[0] : c.mean, hi: Number.isFinite(c.ci95[1]) ? c.ci95[1] : c.mean, examples: c.examples })),
  );
  const color = { field: 'arm', type: 'nominal', title: null, sort: [...armOrder] };
  const x = { field: 'slice', type: 'nominal', title: null, axis: { labelAngle: -30, labelLimit: 160 }, sort: null };
  return {
    name: 'slices',
    title: 'accuracy per slice of the validation set (source aspect ratio, source size, class) per arm, with 95% intervals',
    spec: {
      $schema: SCHEMA,
      data: { values },
      facet: { row: { field: 'kind', type: 'nominal', title: null, sort: ['aspect', 'size', 'class'] } },
      resolve: { scale: { x: 'independent' } },
      spec: {
        width: WIDTH + 120,
        height: 160,
        layer: [
          { mark: { type: 'rule', strokeWidth: 2 }, encoding: { x, xOffset: { field: 'arm', sort: [...armOrder] }, y: { field: 'lo', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } }, y2: { field: 'hi' }, color } },
          { mark: { type: 'point', filled: true, size: 50 }, encoding: { x, xOffset: { field: 'arm', sort: [...armOrder] }, y: { field: 'mean', type: 'quantitative' }, color, tooltip: [{ field: 'arm' }, { field: 'slice' }, { field: 'mean', format: '.3f' }, { field: 'examples' }] } },
        ],
      },
    },
  };
}

export function comparisonPlots(groups: readonly Group[], metric: string, slices?: SliceReport): Plot[] {
  const forest = forestPlot(groups, metric);
  return [metricPlot(groups, metric), ...(forest ? [forest] : []), curvePlot(groups, metric), wallPlot(groups), ...(slices ? [slicePlot(slices, groups.map((g) => g.label))] : [])];
}

/** Vega-Lite → SVG without a browser. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const view = new vega.View(vega.parse(vl.compile(spec as never).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG → PNG at 2× for sharp text. */
export async function renderPng(svg: string): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  return sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
}
