// The comparison as text: a terminal table, Markdown, CSV and JSON, all from the same groups,
// and under the table the verdicts between arms and what stands in their way (arms still
// improving, arms that did not learn).
import type { Group, Pair } from './aggregate.js';

export interface TableContext {
  id: string;
  metric: string;
  goal: 'max' | 'min';
  axes: string[];
  replicate?: string;
  /** The baseline arm's label, when the sweep names one. */
  baseline?: string;
}

const num = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const signed = (x: number, d = 4) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(d)}` : '–');
const dur = (s: number) => {
  if (!Number.isFinite(s)) return '–';
  if (s < 10) return `${s.toFixed(1)}s`;
  const t = Math.round(s);
  return t >= 60 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
};
const interval = (ci: [number, number], d = 4) => (Number.isFinite(ci[0]) ? `[${num(ci[0], d)}, ${num(ci[1], d)}]` : '');
const withCi = (m: number, ci: [number, number]) => `${num(m)}${Number.isFinite(ci[0]) ? ` ${interval(ci)}` : ''}`;

/** How a pair's verdict reads, with the seeds that would settle an inconclusive one. */
export function pairVerdict(p: Pair): string {
  if (p.verdict !== 'inconclusive') return p.verdict;
  if (p.n < 2) return `inconclusive: ${p.n} paired seed${p.n === 1 ? '' : 's'}, no interval`;
  if (p.seedsNeeded === Number.POSITIVE_INFINITY) return `inconclusive: more seeds cannot settle a ${num(Math.abs(p.mean), 3)} difference; a larger validation set can`;
  if (Number.isFinite(p.seedsNeeded)) return `inconclusive: ~${p.seedsNeeded} seeds would settle a ${num(Math.abs(p.mean), 3)} difference`;
  return 'inconclusive: no difference seen';
}

/** A group against the best one (or the baseline), in words a reader can act on. */
export function verdict(g: Group, groups: readonly Group[] = [], ctx?: TableContext): string {
  if (g.stats.n === 0) return 'no finished run';
  const ref = referenceGroup(groups, ctx) ?? groups.find((x) => x.best);
  if (!ref || ref === g) return g.best ? 'best' : 'reference';
  const p = g.pairs[ref.label];
  if (!p) return signed(g.delta);
  return `${signed(p.mean)} ${interval(p.ci95)} ${p.verdict}`;
}

/** The forest plot's and the "vs" column's reference: the baseline arm, else the best. */
export function referenceGroup(groups: readonly Group[], ctx?: TableContext): Group | undefined {
  return groups.find((g) => g.baseline) ?? (ctx?.baseline ? groups.find((g) => g.label === ctx.baseline) : undefined) ?? groups.find((g) => g.best);
}

function costCells(g: Group): string[] {
  const c = g.cost;
  return [
    Number.isFinite(c.wall.std) ? `${dur(c.wall.mean)} ± ${dur(c.wall.std)}` : dur(c.wall.mean),
    c.cpu.n ? dur(c.cpu.mean) : '–',
    c.trainMsPerStep.n ? num(c.trainMsPerStep.mean, 0) : '–',
    c.preprocessImagesPerS.n ? num(c.preprocessImagesPerS.mean, 0) : '–',
  ];
}

function rows(groups: readonly Group[], ctx: TableContext): string[][] {
  const showIqm = groups.some((g) => g.iqm !== undefined);
  return groups.map((g) => [
    ...ctx.axes.map((a) => g.group[a] ?? ''),
    withCi(g.estimate.mean, g.estimate.ci95),
    String(g.stats.n),
    ...(showIqm ? [g.iqm !== undefined ? num(g.iqm) : ''] : []),
    verdict(g, groups, ctx),
    g.stats.n === 0 ? '' : g.learned === false ? 'did not learn' : g.converged ? 'yes' : 'no',
    ...costCells(g),
    g.failed.length ? String(g.failed.length) : '',
  ]);
}

function header(groups: readonly Group[], ctx: TableContext): string[] {
  const ref = referenceGroup(groups, ctx);
  const vs = ref && (ref.baseline || ctx.baseline) ? `vs ${ref.label} (baseline)` : 'vs best';
  return [
    ...ctx.axes.map((a) => a.split('.').at(-1)!),
    `${ctx.metric} [95% CI]`,
    'n',
    ...(groups.some((g) => g.iqm !== undefined) ? ['IQM'] : []),
    vs,
    'converged',
    'wall/trial',
    'CPU/trial',
    'ms/step',
    'preprocess img/s',
    'failed',
  ];
}

function caption(ctx: TableContext): string {
  const over = ctx.replicate ? `over ${ctx.replicate}s` : 'over runs';
  return `${ctx.id} · ${ctx.metric} (${ctx.goal === 'max' ? 'higher' : 'lower'} is better) · mean and 95% interval ${over}; differences paired by ${ctx.replicate ?? 'run'}`;
}

/** One line per pair of arms (each pair once, the better-ranked first). */
export function verdictLines(groups: readonly Group[]): string[] {
  const ranked = groups.filter((g) => g.stats.n > 0);
  const out: string[] = [];
  for (let i = 0; i < ranked.length; i++) {
    for (let j = i + 1; j < ranked.length; j++) {
      const a = ranked[i]!;
      const b = ranked[j]!;
      const p = a.pairs[b.label];
      if (!p) continue;
      out.push(`${a.label} vs ${b.label}: ${signed(p.mean)} ${interval(p.ci95)}, P(${a.label} better) ${num(p.pImprove, 2)} over ${p.n} seeds → ${pairVerdict(p)}`);
    }
  }
  return out;
}

/** What stands in the way of a verdict: arms that were still improving, or did not learn. */
export function noteLines(groups: readonly Group[]): string[] {
  const out: string[] = [];
  const names = (gs: Group[]) => (gs.length <= 1 ? gs.map((g) => g.label).join('') : `${gs.slice(0, -1).map((g) => g.label).join(', ')} and ${gs.at(-1)!.label}`);
  const climbing = groups.filter((g) => g.stats.n > 0 && (g.runs.some((r) => r.improving) || g.improvingWhy) && g.learned !== false);
  if (climbing.length) {
    out.push(`${names(climbing)} ${climbing.length === 1 ? 'was' : 'were'} still improving: this table compares learning speed, not the arms; raise train.epochs or set train.stop`);
    for (const g of climbing) {
      if (g.improvingWhy) out.push(`  ${g.label}: ${g.improvingWhy}`);
      for (const r of g.runs.filter((x) => x.improving)) out.push(`  ${r.name}: ${r.convergedWhy}`);
    }
  }
  const unknown = groups.filter((g) => g.stats.n > 0 && !g.converged && !climbing.includes(g) && g.learned !== false);
  if (unknown.length) out.push(`could not tell whether ${names(unknown)} converged (${unknown[0]!.runs.find((r) => !r.converged)?.convergedWhy}); set train.stop to train each arm to a plateau`);
  const neverFit = groups.filter((g) => g.learned === false);
  if (neverFit.length) {
    const why = neverFit.map((g) => `${g.label}: ${g.learnedWhy}`).join('; ');
    const fit = groups.filter((g) => g.stats.n > 0 && g.learned !== false);
    const one = neverFit.length === 1;
    out.push(
      fit.length
        ? `${names(neverFit)} did not learn (${why}) where ${names(fit)} did with the same training: ${one ? 'its' : 'their'} verdicts against ${fit.length === 1 ? 'it' : 'them'} stand (a crop that removes the cue cannot be learned), but look at ${one ? 'its' : 'their'} learning curve before blaming the arm${one ? '' : 's'}${one ? '' : '; between them the verdict is inconclusive'}`
        : `${names(neverFit)} did not learn (${why}): no arm fit the data, so no verdict ranks them; fix the training (train.epochs, train.lr, the model) first`,
    );
  }
  return out;
}

function textTable(head: string[], body: string[][], marks: string[]): string[] {
  const keep = head.map((_, i) => i !== head.length - 1 || body.some((r) => r[i] !== ''));
  const h = head.filter((_, i) => keep[i]);
  const b = body.map((r) => r.filter((_, i) => keep[i]));
  const w = h.map((c, i) => Math.max(c.length, ...b.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [`  ${fmt(h)}`, ...b.map((r, i) => `${marks[i]} ${fmt(r)}`)];
}

export function terminalTable(groups: readonly Group[], ctx: TableContext): string {
  const marks = groups.map((g) => (g.best ? '★' : ' '));
  const verdicts = verdictLines(groups);
  const notes = noteLines(groups);
  return [
    caption(ctx),
    ...textTable(header(groups, ctx), rows(groups, ctx), marks),
    ...(verdicts.length ? ['', 'verdicts (paired by seed, 95% interval):', ...verdicts.map((l) => `  ${l}`)] : []),
    ...(notes.length ? ['', ...notes.map((l) => `! ${l}`)] : []),
  ].join('\n');
}

export function markdownTable(groups: readonly Group[], ctx: TableContext): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const head = header(groups, ctx);
  const body = rows(groups, ctx).map((r, i) => (groups[i]!.best ? r.map((c, j) => (j === ctx.axes.length || j === 0 ? `**${c}**` : c)) : r));
  const verdicts = verdictLines(groups);
  const notes = noteLines(groups);
  return [
    `*${esc(caption(ctx))}* (★ / bold: best mean)`,
    '',
    `| ${head.map(esc).join(' | ')} |`,
    `|${head.map((_, i) => (i < ctx.axes.length ? ' --- ' : ' ---: ')).join('|')}|`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
    ...(verdicts.length ? ['', '**Verdicts** (paired by seed, 95% interval):', '', ...verdicts.map((l) => `- ${esc(l)}`)] : []),
    ...(notes.length ? ['', ...notes.map((l) => (l.startsWith('  ') ? `  - ${esc(l.trim())}` : `> ${esc(l)}`))] : []),
  ].join('\n');
}

export function csvTable(groups: readonly Group[], ctx: TableContext): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const labels = groups.filter((g) => g.stats.n > 0).map((g) => g.label);
  const head = [
    ...ctx.axes,
    'metric',
    'mean',
    'ci95_lo',
    'ci95_hi',
    'std',
    'n',
    'iqm',
    'min',
    'max',
    'best',
    'delta_vs_best',
    'converged',
    'learned',
    'wall_mean_s',
    'wall_std_s',
    'cpu_mean_s',
    'train_ms_per_step',
    'preprocess_images_per_s',
    'failed',
    ...labels.flatMap((l) => [`vs_${l}_diff`, `vs_${l}_ci95_lo`, `vs_${l}_ci95_hi`, `vs_${l}_p_improve`, `vs_${l}_verdict`]),
  ];
  const raw = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? String(x) : '');
  const body = groups.map((g) => [
    ...ctx.axes.map((a) => g.group[a] ?? ''),
    ctx.metric,
    raw(g.estimate.mean),
    raw(g.estimate.ci95[0]),
    raw(g.estimate.ci95[1]),
    raw(g.stats.std),
    String(g.stats.n),
    raw(g.iqm),
    raw(g.stats.min),
    raw(g.stats.max),
    String(g.best),
    raw(g.delta),
    String(g.converged),
    g.learned === undefined ? '' : String(g.learned),
    raw(g.cost.wall.mean),
    raw(g.cost.wall.std),
    raw(g.cost.cpu.mean),
    raw(g.cost.trainMsPerStep.mean),
    raw(g.cost.preprocessImagesPerS.mean),
    String(g.failed.length),
    ...labels.flatMap((l) => {
      const p = g.pairs[l];
      return p ? [raw(p.mean), raw(p.ci95[0]), raw(p.ci95[1]), raw(p.pImprove), p.verdict] : ['', '', '', '', ''];
    }),
  ]);
  return `${[head, ...body].map((r) => r.map(q).join(',')).join('\n')}\n`;
}

/** For scripts: `[{"group", "metric", "mean", "std", "n", "runs", "ci95", "converged", "pairs"}]`, plus extras. */
export function jsonGroups(groups: readonly Group[], ctx: TableContext): unknown[] {
  const f = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  return groups.map((g) => ({
    group: g.group,
    label: g.label,
    metric: ctx.metric,
    mean: f(g.stats.mean),
    std: f(g.stats.std),
    n: g.stats.n,
    ci95: [f(g.estimate.ci95[0]), f(g.estimate.ci95[1])],
    ...(g.iqm !== undefined ? { iqm: g.iqm } : {}),
    converged: g.converged,
    ...(g.learned !== undefined ? { learned: g.learned } : {}),
    pairs: Object.fromEntries(
      Object.entries(g.pairs).map(([label, p]) => [
        label,
        { diff: f(p.mean), ci95: [f(p.ci95[0]), f(p.ci95[1])], pImprove: f(p.pImprove), verdict: p.verdict, n: p.n, ...(Number.isFinite(p.seedsNeeded) || p.seedsNeeded === Number.POSITIVE_INFINITY ? { seedsNeeded: Number.isFinite(p.seedsNeeded) ? p.seedsNeeded : null } : {}) },
      ]),
    ),
    runs: g.runs.map((r) => ({ runId: r.runIds.at(-1), name: r.name, value: r.value, ...(r.seed !== undefined ? { seed: r.seed } : {}), wallSeconds: r.wallSeconds, ...(r.cpuSeconds !== undefined ? { cpuSeconds: r.cpuSeconds } : {}), converged: r.converged })),
    min: f(g.stats.min),
    max: f(g.stats.max),
    best: g.best,
    baseline: g.baseline,
    deltaVsBest: f(g.delta),
    wallSeconds: { mean: f(g.wall.mean), std: f(g.wall.std) },
    cost: { cpuSeconds: f(g.cost.cpu.mean), trainMsPerStep: f(g.cost.trainMsPerStep.mean), preprocessImagesPerS: f(g.cost.preprocessImagesPerS.mean) },
    failed: g.failed,
  }));
}
