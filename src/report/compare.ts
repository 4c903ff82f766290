// `ablate compare` as a function: load a sweep's trials, aggregate, and write compare.md,
// compare.csv, the plots (Vega-Lite JSON, SVG, PNG) and report.html into one folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aggregate, type Group, groupKey } from './aggregate.js';
import { specDiff } from './diff.js';
import { reportHtml } from './html.js';
import { loadComparison, type SweepData, type TrialData } from './load.js';
import { comparisonPlots, renderPng, renderSvg } from './plots.js';
import { setupHtml, setupRows } from './setup.js';
import { exampleStrips } from './strips.js';
import { DEFAULT_BINS, type SliceBins, type SliceReport, sliceLines, sliceReport } from './slices.js';
import { csvTable, jsonGroups, markdownTable, type TableContext } from './tables.js';

export interface CompareOptions {
  metric?: string;
  by?: string[];
  outDir?: string;
  /** Skip the plots and report (JSON output for scripts does not need them). */
  filesOnly?: boolean;
  png?: boolean;
  /** Slice cut points for the per-slice breakdown (aspect ratio, short side). */
  bins?: SliceBins;
}

export interface Comparison {
  data: SweepData;
  ctx: TableContext;
  groups: Group[];
  slices?: SliceReport | undefined;
  outDir: string;
  files: string[];
}

export function compareData(data: SweepData, bins: SliceBins = DEFAULT_BINS): { ctx: TableContext; groups: Group[]; slices?: SliceReport | undefined } {
  const groups = aggregate(data.trials, data.axes, data.metric, data.goal, { replicate: data.replicate, baseline: data.baseline });
  const ref = groups.find((g) => g.baseline);
  const ctx: TableContext = { id: data.id, metric: data.metric, goal: data.goal, axes: data.axes, ...(data.replicate ? { replicate: data.replicate } : {}), ...(ref ? { baseline: ref.label } : {}) };
  // The slices use every finished trial of each arm, grouped as the table groups them.
  const arms = new Map<string, TrialData[]>();
  for (const g of groups) {
    const key = groupKey({ values: g.group } as unknown as TrialData, data.axes);
    arms.set(
      g.label,
      data.trials.filter((t) => groupKey(t, data.axes) === key && t.status === 'FINISHED' && Number.isFinite(t.metrics[data.metric])),
    );
  }
  const slices = sliceReport(arms, bins);
  return { ctx, groups, slices };
}

export async function compare(root: string, ref: string | undefined, opts: CompareOptions = {}): Promise<Comparison> {
  const data = loadComparison(root, ref, { ...(opts.metric ? { metric: opts.metric } : {}), ...(opts.by ? { by: opts.by } : {}) });
  const { ctx, groups, slices } = compareData(data, opts.bins);
  const outDir = opts.outDir ?? data.outDir;
  const files = await writeReport(data, ctx, groups, outDir, opts.png ?? true, slices);
  return { data, ctx, groups, slices, outDir, files };
}

export async function writeReport(data: SweepData, ctx: TableContext, groups: Group[], outDir: string, png = true, slices?: SliceReport): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  const put = (name: string, content: string | Buffer) => {
    const p = join(outDir, name);
    writeFileSync(p, content);
    files.push(p);
  };
  const sliceMd = slices ? `\n\n## Per slice (accuracy [95% CI])\n\n\`\`\`\n${sliceLines(slices, groups.map((g) => g.label)).join('\n')}\n\`\`\`` : '';
  put('compare.md', `# ${data.name}\n\n${markdownTable(groups, ctx)}${sliceMd}\n`);
  put('compare.csv', csvTable(groups, ctx));
  put('compare.json', `${JSON.stringify(jsonGroups(groups, ctx), null, 1)}\n`);
  if (slices) put('slices.json', `${JSON.stringify(slices, null, 1)}\n`);
  const plots = [];
  for (const p of comparisonPlots(groups, data.metric, slices)) {
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
      ...(slices ? { slices } : {}),
      generated: new Date().toISOString(),
      ...(data.baseSpec === undefined ? { note: 'No sweep manifest: spec diffs are not available for these runs.' } : {}),
    }),
  );
  return files;
}
