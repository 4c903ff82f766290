// The three plots of a comparison as Vega-Lite specs, rendered headless to SVG (vega's own
// renderer, no browser) and to PNG (sharp through librsvg): the metric per group with error bars,
// the learning curves per group (mean with a ±1 std band), and the wall time per group.
import type { Group } from './aggregate.js';

export interface Plot {
  name: string;
  title: string;
  spec: Record<string, unknown>;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WIDTH = 420;

export function metricPlot(groups: readonly Group[], metric: string): Plot {
  const finished = groups.filter((g) => g.stats.n > 0);
  const values = finished.map((g) => ({
    group: g.label,
    mean: g.stats.mean,
    lo: g.stats.mean - (Number.isFinite(g.stats.std) ? g.stats.std : 0),
    hi: g.stats.mean + (Number.isFinite(g.stats.std) ? g.stats.std : 0),
    n: g.stats.n,
    best: g.best ? 'best' : g.withinStd ? 'within 1 std of best' : 'worse',
  }));
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
    title: `${metric} per group (mean ± 1 std, dots are runs)`,
    spec: {
      $schema: SCHEMA,
      title: `${metric}: mean ± 1 std over seeds`,
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
              scale: { domain: ['best', 'within 1 std of best', 'worse'], range: ['#2f7d32', '#8bb98d', '#9e9e9e'] },
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

export function curvePlot(groups: readonly Group[], metric: string): Plot {
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

export function wallPlot(groups: readonly Group[]): Plot {
  const finished = groups.filter((g) => g.wall.n > 0);
  const values = finished.map((g) => {
    const sd = Number.isFinite(g.wall.std) ? g.wall.std : 0;
    return { group: g.label, mean: g.wall.mean, lo: Math.max(0, g.wall.mean - sd), hi: g.wall.mean + sd };
  });
  const runs = finished.flatMap((g) => g.runs.map((r) => ({ group: g.label, seconds: r.wallSeconds })));
  const x = { field: 'group', type: 'nominal', sort: finished.map((g) => g.label), title: null, axis: { labelAngle: 0 } };
  return {
    name: 'walltime',
    title: 'wall time per trial (mean ± 1 std): what each choice costs',
    spec: {
      $schema: SCHEMA,
      title: 'wall time per trial (s): mean ± 1 std',
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

export function comparisonPlots(groups: readonly Group[], metric: string): Plot[] {
  return [metricPlot(groups, metric), curvePlot(groups, metric), wallPlot(groups)];
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
