// The comparison as text: a terminal table, Markdown, CSV and JSON, all from the same groups.
import type { Group } from './aggregate.js';

export interface TableContext {
  id: string;
  metric: string;
  goal: 'max' | 'min';
  axes: string[];
  replicate?: string;
}

const num = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const dur = (s: number) => {
  if (!Number.isFinite(s)) return '–';
  if (s < 10) return `${s.toFixed(1)}s`;
  const t = Math.round(s);
  return t >= 60 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
};
const pm = (mean: number, std: number, d = 4) => (Number.isFinite(std) ? `${num(mean, d)} ± ${num(std, d)}` : num(mean, d));

/** How a group stands against the best one, in words a reader can act on. */
export function verdict(g: Group): string {
  if (g.best) return 'best';
  if (g.stats.n === 0) return 'no finished run';
  const d = `${g.delta >= 0 ? '+' : ''}${num(g.delta)}`;
  return g.withinStd ? `${d} (within 1 std: not distinguishable)` : d;
}

function rows(groups: readonly Group[], ctx: TableContext): string[][] {
  return groups.map((g) => [
    ...ctx.axes.map((a) => g.group[a] ?? ''),
    pm(g.stats.mean, g.stats.std),
    String(g.stats.n),
    num(g.stats.min),
    num(g.stats.max),
    verdict(g),
    Number.isFinite(g.wall.std) ? `${dur(g.wall.mean)} ± ${dur(g.wall.std)}` : dur(g.wall.mean),
    g.failed.length ? String(g.failed.length) : '',
  ]);
}

function header(ctx: TableContext): string[] {
  return [...ctx.axes.map((a) => a.split('.').at(-1)!), `${ctx.metric} (mean ± std)`, 'n', 'min', 'max', 'vs best', 'wall time', 'failed'];
}

function caption(ctx: TableContext): string {
  const over = ctx.replicate ? `over ${ctx.replicate}s` : 'over runs';
  return `${ctx.id} · ${ctx.metric} (${ctx.goal === 'max' ? 'higher' : 'lower'} is better) · mean ± sample std ${over}`;
}

export function terminalTable(groups: readonly Group[], ctx: TableContext): string {
  const head = header(ctx);
  const body = rows(groups, ctx);
  const keep = head.map((_, i) => i !== head.length - 1 || body.some((r) => r[i] !== ''));
  const h = head.filter((_, i) => keep[i]);
  const b = body.map((r) => r.filter((_, i) => keep[i]));
  const w = h.map((c, i) => Math.max(c.length, ...b.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [caption(ctx), `  ${fmt(h)}`, ...b.map((r, i) => `${groups[i]!.best ? '★' : ' '} ${fmt(r)}`)].join('\n');
}

export function markdownTable(groups: readonly Group[], ctx: TableContext): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const head = header(ctx);
  const body = rows(groups, ctx).map((r, i) => (groups[i]!.best ? r.map((c, j) => (j === ctx.axes.length || j === 0 ? `**${c}**` : c)) : r));
  return [
    `*${esc(caption(ctx))}*`,
    '',
    `| ${head.map(esc).join(' | ')} |`,
    `|${head.map((_, i) => (i < ctx.axes.length ? ' --- ' : ' ---: ')).join('|')}|`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function csvTable(groups: readonly Group[], ctx: TableContext): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const head = [...ctx.axes, 'metric', 'mean', 'std', 'n', 'min', 'max', 'best', 'delta_vs_best', 'within_1std_of_best', 'wall_mean_s', 'wall_std_s', 'failed'];
  const raw = (x: number) => (Number.isFinite(x) ? String(x) : '');
  const body = groups.map((g) => [
    ...ctx.axes.map((a) => g.group[a] ?? ''),
    ctx.metric,
    raw(g.stats.mean),
    raw(g.stats.std),
    String(g.stats.n),
    raw(g.stats.min),
    raw(g.stats.max),
    String(g.best),
    raw(g.delta),
    String(g.withinStd),
    raw(g.wall.mean),
    raw(g.wall.std),
    String(g.failed.length),
  ]);
  return `${[head, ...body].map((r) => r.map(q).join(',')).join('\n')}\n`;
}

/** For scripts: `[{"group": {axis: value}, "metric", "mean", "std", "n", "runs"}]`, plus extras. */
export function jsonGroups(groups: readonly Group[], ctx: TableContext): unknown[] {
  const f = (x: number) => (Number.isFinite(x) ? x : null);
  return groups.map((g) => ({
    group: g.group,
    metric: ctx.metric,
    mean: f(g.stats.mean),
    std: f(g.stats.std),
    n: g.stats.n,
    runs: g.runs.map((r) => ({ runId: r.runIds.at(-1), name: r.name, value: r.value, ...(r.seed !== undefined ? { seed: r.seed } : {}), wallSeconds: r.wallSeconds })),
    min: f(g.stats.min),
    max: f(g.stats.max),
    best: g.best,
    deltaVsBest: f(g.delta),
    withinStdOfBest: g.withinStd,
    wallSeconds: { mean: f(g.wall.mean), std: f(g.wall.std) },
    failed: g.failed,
  }));
}
