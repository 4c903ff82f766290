// The setup block at the top of report.html: what was compared, on what, for how long, so a
// reader can judge a table without opening a spec. Read from the trials' resolved specs and run
// tags, and from the ingest manifest in the stage cache for the real image counts.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ExperimentSpec } from '../spec/schema.js';
import { TAG } from '../track/tags.js';
import { esc } from './html.js';
import type { SweepData } from './load.js';

export type SetupRow = [label: string, value: string];

const uniq = (xs: (string | undefined)[]) => [...new Set(xs.filter((x): x is string => x !== undefined && x !== ''))];

/** Splits of the first trial's ingest, when its cache entry is still there. */
function ingestCounts(spec: ExperimentSpec, tags: Record<string, string> | undefined): { train: number; val: number; bad: number } | undefined {
  const key = tags?.[`${TAG.stage}ingest`];
  if (!key) return undefined;
  const file = join(resolve(spec.cache.dir), 'ingest', key, 'manifest.json');
  if (!existsSync(file)) return undefined;
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as { splits: { train: unknown[]; val: unknown[] }; bad?: unknown[] };
    return { train: m.splits.train.length, val: m.splits.val.length, bad: m.bad?.length ?? 0 };
  } catch {
    return undefined;
  }
}

function datasetText(spec: ExperimentSpec, counts: ReturnType<typeof ingestCounts>): string {
  const d = spec.dataset;
  const where = d.source === 'folder' ? `folder ${d.path ?? '?'}` : d.source === 'shapes' ? 'shapes (generated, docs/datasets.md)' : d.source;
  const n = counts ? counts.train + counts.val : d.source === 'shapes' ? d.count : undefined;
  const split = counts ? `${counts.train} train / ${counts.val} validation` : `validation fraction ${d.valFraction}`;
  return `${where}: ${n !== undefined ? `${n} images, ` : ''}${split}${counts?.bad ? `, ${counts.bad} unusable files skipped` : ''}; data seed ${d.seed}`;
}

function modelText(spec: ExperimentSpec): string {
  if (spec.task === 'gan') return `${spec.gan.kind}, latent ${spec.gan.latent}`;
  if (spec.task === 'super-resolution') return `super-resolution ×${spec.preprocess.downscale}, ${spec.model.superres.blocks} blocks`;
  const b = spec.model.base as Record<string, unknown>;
  const base = b.path ? `TF.js model ${String(b.path)}` : `${String(b.arch)}${b.width !== undefined ? ` width ${String(b.width)}` : ''}${b.depth !== undefined ? ` depth ${String(b.depth)}` : ''}`;
  const p = spec.preprocess;
  const size = Array.isArray(p.size) ? p.size.join('/') : String(p.size);
  const cut = spec.model.cut !== undefined ? `, cut at ${String(spec.model.cut)}` : '';
  const loss = spec.loss.terms.map((t) => (t.weight === 1 ? t.kind : `${t.weight}·${t.kind}`)).join(' + ');
  return `${base}${cut}; input ${size}×${size}×${p.channels}, normalize ${p.normalize}; loss ${loss}`;
}

function budgetText(spec: ExperimentSpec): string {
  const t = spec.train as ExperimentSpec['train'] & { stop?: Record<string, unknown>; budget?: { seconds?: number; samples?: number } };
  const length = t.steps !== undefined ? `${t.steps} step${t.steps === 1 ? '' : 's'}` : `${t.epochs} epoch${t.epochs === 1 ? '' : 's'}`;
  const parts = [`${length} × batch ${t.batchSize}, ${t.optimizer} lr ${t.lr}`];
  if (t.stop) parts.push(`early stop on ${String(t.stop.metric)} (${String(t.stop.mode)}, patience ${String(t.stop.patience)}${t.stop.maxEpochs !== undefined ? `, at most ${String(t.stop.maxEpochs)} epochs` : ''})`);
  if (t.budget) parts.push(`budget ${[t.budget.samples !== undefined ? `${t.budget.samples} samples` : '', t.budget.seconds !== undefined ? `${t.budget.seconds} s` : ''].filter(Boolean).join(' or ')}`);
  return parts.join('; ');
}

/** The rows of the setup block, in reading order. */
export function setupRows(data: SweepData): SetupRow[] {
  const specs = data.trials.map((t) => t.spec as ExperimentSpec | undefined).filter((s): s is ExperimentSpec => s !== undefined && typeof s === 'object');
  const first = specs[0];
  const rows: SetupRow[] = [];
  if (first) {
    rows.push(['dataset', datasetText(first, ingestCounts(first, data.trials[0]?.tags))]);
    rows.push(['model', modelText(first)]);
    rows.push(['budget', budgetText(first)]);
  }
  const seeds = data.replicate ? uniq(data.trials.map((t) => t.values[data.replicate!])) : [];
  const perArm = data.trials.length && data.axes.length ? Math.round(data.trials.length / Math.max(1, new Set(data.trials.map((t) => data.axes.map((a) => t.values[a]).join('\u0000'))).size)) : undefined;
  rows.push(['seeds', seeds.length ? `${seeds.join(', ')}${perArm ? ` (${perArm} trial${perArm === 1 ? '' : 's'} per arm)` : ''}` : 'one run per arm (no replicate axis)']);
  const backends = uniq(data.trials.map((t) => t.tags?.[TAG.backend]));
  rows.push(['backend', backends.length ? backends.join(', ') : 'not recorded']);
  const versions = uniq(data.trials.map((t) => t.tags?.[TAG.version]));
  rows.push(['ablate version', versions.length ? versions.join(', ') : 'not recorded']);
  const varied = data.axes.map((a) => `${a}: ${uniq(data.trials.map((t) => t.values[a])).join(', ')}`);
  rows.push(['what varied', varied.length ? `${varied.join('; ')} (everything else as above)` : 'nothing: the runs share one spec']);
  rows.push(['compared', `${data.metric} (${data.goal === 'max' ? 'higher' : 'lower'} is better), ${data.trials.length} trials, sweep ${data.id}`]);
  return rows;
}

export function setupHtml(rows: SetupRow[]): string {
  return `<section id="setup"><h2>Setup</h2><table class="setup">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table></section>`;
}
