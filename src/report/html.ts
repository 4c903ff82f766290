// report.html: one self-contained file (no network, no scripts needed) with the table, the plots
// inlined as SVG, the failures and each run's spec diff against the base, to open from a terminal
// or attach to a message.
import type { Group } from './aggregate.js';
import type { SpecChange } from './diff.js';
import type { TableContext } from './tables.js';
import { verdict } from './tables.js';

export interface HtmlInput {
  ctx: TableContext;
  title: string;
  groups: Group[];
  plots: { name: string; title: string; svg: string }[];
  diffs: { name: string; runId: string; status: string; changes: SpecChange[] }[];
  generated: string;
  note?: string;
  /** The setup block (report/setup.ts) and the example inputs per arm (report/strips.ts), as HTML. */
  setup?: string;
  strips?: string;
}

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const num = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : '–');

// vega's SVG may carry an external xlink to nothing; strip anything that could make a request.
function inlineSvg(svg: string): string {
  return svg.replace(/<\?xml[^>]*>/, '').replace(/(href|xlink:href)="https?:[^"]*"/g, '');
}

export function reportHtml(r: HtmlInput): string {
  const { ctx } = r;
  const head = [...ctx.axes.map((a) => a), `${ctx.metric} mean ± std`, 'n', 'min', 'max', 'vs best', 'wall time (s)', 'runs'];
  const rows = r.groups
    .map((g) => {
      const cls = g.best ? 'best' : g.withinStd ? 'close' : '';
      const cells = [
        ...ctx.axes.map((a) => esc(g.group[a] ?? '')),
        `${num(g.stats.mean)}${Number.isFinite(g.stats.std) ? ` ± ${num(g.stats.std)}` : ''}`,
        String(g.stats.n),
        num(g.stats.min),
        num(g.stats.max),
        esc(verdict(g)),
        `${num(g.wall.mean, 1)}${Number.isFinite(g.wall.std) ? ` ± ${num(g.wall.std, 1)}` : ''}`,
        g.runs.map((x) => `<span title="${esc(x.runIds.join(', '))}">${esc(x.seed !== undefined ? `seed ${x.seed}` : x.name)}: ${num(x.value)}</span>`).join('<br>'),
      ];
      return `<tr class="${cls}">${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
    })
    .join('\n');
  const failures = r.groups.flatMap((g) => g.failed.map((f) => ({ ...f, group: g.label })));
  const plots = r.plots.map((p) => `<figure id="plot-${esc(p.name)}" class="plot">${inlineSvg(p.svg)}<figcaption>${esc(p.title)}</figcaption></figure>`).join('\n');
  const diffs = r.diffs
    .map(
      (d) =>
        `<details><summary>${esc(d.name)} <small>${esc(d.status)} · run ${esc(d.runId)}</small></summary>${
          d.changes.length === 0
            ? '<p>same as the base</p>'
            : `<table class="diff"><tr><th>field</th><th>base</th><th>this run</th></tr>${d.changes
                .map((c) => `<tr><td><code>${esc(c.path)}</code></td><td>${esc(c.base ?? '(unset)')}</td><td><b>${esc(c.value ?? '(unset)')}</b></td></tr>`)
                .join('')}</table>`
        }</details>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(r.title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:2em auto;max-width:1000px;padding:0 1em;color:#1a1a1a}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
tr.best td{background:#e8f5e9;font-weight:600}tr.best td:first-child::before{content:"★ "}
table.setup th{white-space:nowrap;color:#444;font-weight:600}.strip{margin:.6em 0}.strip img{image-rendering:pixelated;display:block;max-width:100%;height:auto}tr.close td{background:#f4faf4}
.plots{display:flex;flex-wrap:wrap;gap:1.5em}.plot{margin:0}.plot svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9em}code{font-size:.95em}small{color:#666}.note{color:#555}
details{margin:.3em 0}table.diff td{font-family:ui-monospace,monospace;font-size:.9em}
</style></head><body>
<h1>${esc(r.title)}</h1>
<p class="note">${esc(ctx.metric)} (${ctx.goal === 'max' ? 'higher' : 'lower'} is better), mean ± sample std over ${esc(ctx.replicate ? `${ctx.replicate}s` : 'runs')}. ★ best group; a difference within one std of the best is marked as not distinguishable with these seeds. Generated ${esc(r.generated)}.</p>
${r.note ? `<p class="note">${esc(r.note)}</p>` : ''}
${r.setup ?? ''}
<h2>Results</h2>
<table id="results"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${rows}
</tbody></table>
${failures.length ? `<h2>Failures</h2><ul id="failures">${failures.map((f) => `<li><b>${esc(f.name)}</b> (${esc(f.status)}, run ${esc(f.runIds.at(-1) ?? '?')}): ${esc((f.error ?? '').split('\n')[0] ?? '')}</li>`).join('')}</ul>` : ''}
${r.strips ?? ''}
<h2>Plots</h2>
<div class="plots">
${plots}
</div>
<h2>Runs: spec against the base</h2>
<div id="diffs">
${diffs}
</div>
</body></html>
`;
}
