// The Wasserstein-estimate curve of a run as a PNG, read from the tracking store alone, for
// docs/gans.md:  node dist/src/gan/plot.js <run dir> <out.png>
// The raw per-step estimate is noisy (weight clipping keeps it small), so a moving average is drawn
// over it; `trend` is what the docs quote to say whether it fell.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { readMetricFile } from '../track/reader.js';

export interface Point {
  step: number;
  value: number;
}

/** Trailing moving average over `window` points. */
export function movingAverage(points: Point[], window: number): Point[] {
  const out: Point[] = [];
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    sum += points[i]!.value;
    if (i >= window) sum -= points[i - window]!.value;
    out.push({ step: points[i]!.step, value: sum / Math.min(i + 1, window) });
  }
  return out;
}

/** Mean of the first and last `fraction` of the points: the numbers behind "it fell". */
export function trend(points: Point[], fraction = 0.2): { first: number; last: number } {
  const k = Math.max(1, Math.floor(points.length * fraction));
  const mean = (p: Point[]) => p.reduce((t, x) => t + x.value, 0) / p.length;
  return { first: mean(points.slice(0, k)), last: mean(points.slice(-k)) };
}

export async function curvePng(points: Point[], title: string, window = 10): Promise<Buffer> {
  const smooth = movingAverage(points, window);
  const series = ['per step', `moving average (${window})`];
  const values = [...points.map((p) => ({ ...p, series: series[0] })), ...smooth.map((p) => ({ ...p, series: series[1] }))];
  const spec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 560,
    height: 260,
    background: 'white',
    data: { values },
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'generator step' },
      y: { field: 'value', type: 'quantitative', title: 'E[D(real)] − E[D(fake)]' },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: series, range: ['#c6d4e8', '#1f4e9c'] } },
    },
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return sharp(Buffer.from(svg)).png().toBuffer();
}

async function main(): Promise<void> {
  const [runDir, out] = process.argv.slice(2);
  if (!runDir || !out) throw new Error('usage: node dist/src/gan/plot.js <run dir> <out.png>');
  const points = readMetricFile(join(runDir, 'metrics', 'wasserstein_estimate')).map(({ step, value }) => ({ step, value }));
  if (points.length === 0) throw new Error(`${runDir} has no wasserstein_estimate metric`);
  writeFileSync(out, await curvePng(points, 'WGAN on MNIST: critic Wasserstein estimate'));
  const t = trend(points);
  console.log(`${points.length} steps; mean of first 20%: ${t.first.toFixed(5)}, last 20%: ${t.last.toFixed(5)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
