// `ablate compare`: the morning after. Groups a sweep's runs by its varied axes, aggregates over
// seeds and prints the table; writes compare.md/.csv, the plots and report.html.
import { relative } from 'node:path';
import { compare } from '../report/compare.js';
import { CompareError } from '../report/load.js';
import { DEFAULT_BINS, type SliceBins, sliceLines } from '../report/slices.js';
import { jsonGroups } from '../report/tables.js';
import { terminalTable } from '../report/tables.js';
import { storeRoot } from '../sweep/records.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';

const HELP = `Usage: ablate compare [sweep-id | experiment] [options]

Compares the runs of a sweep (default: the latest sweep in the store) grouped by the axes it
varied, aggregated over seeds: each arm's mean with its 95% interval, n, whether its runs
converged, what it cost; every pair of arms paired by seed with the difference, its 95% interval,
P(better) and a verdict (better, worse or inconclusive, with the seeds that would settle it); the
metric per slice (source aspect ratio, size, class) when per-example results exist. Prints the
tables and writes compare.md, compare.csv, compare.json, plots (SVG, PNG, Vega-Lite) and
report.html, by default into the sweep's parent run artifacts (compare/). How to read them:
docs/sweeps.md.

Options:
  --metric name     metric to compare (default: the sweep's, else val_accuracy)
  --by a.b[,c.d]    group by these fields instead of the sweep's axes
  --store dir       tracking store (default: runs/, or MLFLOW_TRACKING_URI)
  --out dir         where to write the files
  --format f        table (default) or json: print the groups as JSON for scripts
  --aspect-bins a,b aspect-ratio cut points of the slices (default 0.8,1.25: portrait < 0.8 ≤ near-square ≤ 1.25 < landscape)
  --size-bins a,b   short-side cut points in pixels of the size slices (default 256,512)
  --no-png          skip PNG rendering (SVG only)`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, {
    metric: { type: 'string' },
    by: { type: 'string', multiple: true },
    store: { type: 'string' },
    out: { type: 'string' },
    format: { type: 'string' },
    'aspect-bins': { type: 'string' },
    'size-bins': { type: 'string' },
    'no-png': { type: 'boolean' },
  });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.positionals.length > 1 || args.overrides.length > 0) throw new UsageError(`expected at most one sweep id or experiment\n\n${HELP}`);
  const format = args.values.format ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError(`--format expects table or json, got "${format}"`);
  let root: string;
  try {
    root = storeRoot(args.values.store);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const by = (args.values.by ?? []).flatMap((b) => b.split(',')).filter(Boolean);
  const bins: SliceBins = {
    aspect: cutPoints('--aspect-bins', args.values['aspect-bins'], DEFAULT_BINS.aspect),
    size: cutPoints('--size-bins', args.values['size-bins'], DEFAULT_BINS.size),
  };
  try {
    const c = await compare(root, args.positionals[0], {
      ...(args.values.metric ? { metric: args.values.metric } : {}),
      ...(by.length ? { by } : {}),
      ...(args.values.out ? { outDir: args.values.out } : {}),
      png: !args.values['no-png'],
      bins,
    });
    if (format === 'json') {
      console.log(JSON.stringify(jsonGroups(c.groups, c.ctx), null, 1));
      return EXIT.ok;
    }
    console.log(terminalTable(c.groups, c.ctx));
    if (c.slices) console.log(`\nper slice (accuracy [95% CI]):\n${sliceLines(c.slices, c.groups.map((g) => g.label)).map((l) => `  ${l}`).join('\n')}`);
    const failed = c.groups.reduce((s, g) => s + g.failed.length, 0);
    if (failed) console.log(`\n${failed} trial(s) without a finished run are listed in the report.`);
    const show = (p: string) => {
      const r = relative(process.cwd(), p);
      return r && !r.startsWith('..') ? r : p;
    };
    console.log(`\nreport: ${show(`${c.outDir}/report.html`)}   (compare.md, compare.csv, compare.json, metric/forest/curves/walltime/slices .svg/.png beside it)`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CompareError) {
      console.error(`ablate compare: ${e.message}`);
      return EXIT.failed;
    }
    throw e;
  }
}

/** Two increasing positive numbers, "a,b". */
function cutPoints(flag: string, text: string | undefined, fallback: [number, number]): [number, number] {
  if (text === undefined) return fallback;
  const v = text.split(',').map((x) => Number(x.trim()));
  if (v.length !== 2 || !v.every((x) => Number.isFinite(x) && x > 0) || !(v[0]! < v[1]!)) throw new UsageError(`${flag} expects two increasing positive numbers "a,b", got "${text}"`);
  return [v[0]!, v[1]!];
}
