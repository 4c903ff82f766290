// `ablate compare` as a function: load a sweep's trials, aggregate, and write compare.md,
// compare.csv, the plots (Vega-Lite JSON, SVG, PNG) and report.html into one folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aggregate, type Group } from './aggregate.js';
import { specDiff } from './diff.js';
import { reportHtml } from './html.js';
import { loadComparison, type SweepData } from './load.js';
import { comparisonPlots, renderPng, renderSvg } from './plots.js';
import { setupHtml, setupRows } from './setup.js';
import { exampleStrips } from './strips.js';
import { csvTable, jsonGroups, markdownTable, type TableContext } from './tables.js';

export interface CompareOptions {
  metric?: string;
  by?: string[];
  outDir?: string;
  /** Skip the plots and report (JSON output for scripts does not need them). */
  filesOnly?: boolean;
  png?: boolean;
}

export interface Comparison {
  data: SweepData;
  ctx: TableContext;
  groups: Group[];
  outDir: string;
  files: string[];
}

export function compareData(data: SweepData): { ctx: TableContext; groups: Group[] } {
  const ctx: TableContext = { id: data.id, metric: data.metric, goal: data.goal, axes: data.axes, ...(data.replicate ? { replicate: data.replicate } : {}) };
  return { ctx, groups: aggregate(data.trials, data.axes, data.metric, data.goal, data.replicate) };
}

export async function compare(root: string, ref: string | undefined, opts: CompareOptions = {}): Promise<Comparison> {
  const data = loadComparison(root, ref, { ...(opts.metric ? { metric: opts.metric } : {}), ...(opts.by ? { by: opts.by } : {}) });
  const { ctx, groups } = compareData(data);
  const outDir = opts.outDir ?? data.outDir;
  const files = await writeReport(data, ctx, groups, outDir, opts.png ?? true);
  return { data, ctx, groups, outDir, files };
}

export async function writeReport(data: SweepData, ctx: TableContext, groups: Group[], outDir: string, png = true): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  const put = (name: string, content: string | Buffer) => {
    const p = join(outDir, name);
    writeFileSync(p, content);
    files.push(p);
  };
  put('compare.md', `# ${data.name}\n\n${markdownTable(groups, ctx)}\n`);
  put('compare.csv', csvTable(groups, ctx));
  put('compare.json', `${JSON.stringify(jsonGroups(groups, ctx), null, 1)}\n`);
  const plots = [];
  for (const p of comparisonPlots(groups, data.metric)) {
    const svg = await renderSvg(p.spec);
    put(`${p.name}.vl.json`, `${JSON.stringify(p.spec, null, 1)}\n`);
    put(`${p.name}.svg`, svg);
    if (png) put(`${p.name}.png`, await renderPng(svg));
    plots.push({ name: p.name, title: p.title, svg });
  }
  const diffs = data.trials.map((t) => ({ name: t.name, runId: t.runIds.at(-1) ?? '', status: t.status, changes: data.baseSpec !== undefined && t.spec !== undefined ? specDiff(data.baseSpec, t.spec) : [] }));
  put(
    'report.html',
    reportHtml({
      ctx,
      title: `${data.name}: ${data.metric} by ${data.axes.join(' × ') || 'run'}`,
      groups,
      plots,
      diffs,
      setup: setupHtml(setupRows(data)),
      strips: await exampleStrips(data, groups),
      generated: new Date().toISOString(),
      ...(data.baseSpec === undefined ? { note: 'No sweep manifest: spec diffs are not available for these runs.' } : {}),
    }),
  );
  return files;
}
