// report.html: one self-contained file (no network, no scripts needed) with the table, the plots
// inlined as SVG, the failures and each run's spec diff against the base, to open from a terminal
// or attach to a message.
import type { Group } from './aggregate.js';
import type { SpecChange } from './diff.js';
import type { SliceReport } from './slices.js';
import type { TableContext } from './tables.js';
import { noteLines, verdict, verdictLines } from './tables.js';

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
  slices?: SliceReport;
}

const ci = (c: [number, number], d = 3) => (Number.isFinite(c[0]) ? ` [${c[0].toFixed(d)}, ${c[1].toFixed(d)}]` : '');

/** Per-slice accuracy per arm, and a confusion matrix per arm (rows: true class, columns: predicted). */
function slicesHtml(r: SliceReport, arms: string[]): string {
  const shown = arms.filter((a) => r.rows.some((row) => row.arms[a]));
  const body = r.rows
    .map((row) => `<tr><td>${esc(row.kind)}</td><td>${esc(row.slice)}</td><td>${Object.values(row.arms)[0]?.examples ?? ''}</td>${shown.map((a) => { const c = row.arms[a]; return `<td>${c ? `${c.mean.toFixed(3)}<small>${ci(c.ci95, 2)}</small>` : ''}</td>`; }).join('')}</tr>`)
    .join('\n');
  const confusion = Object.entries(r.confusion)
    .map(([arm, m]) => {
      const max = Math.max(1, ...m.counts.flat());
      const head = `<tr><th>true \\ predicted</th>${m.classes.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
      const rows = m.counts
        .map((row, i) => `<tr><th>${esc(m.classes[i]!)}</th>${row.map((v, j) => `<td style="background:rgba(${i === j ? '47,125,50' : '198,40,40'},${(v / max).toFixed(2)})">${v}</td>`).join('')}</tr>`)
        .join('');
      return `<figure class="confusion"><figcaption>${esc(arm)} (summed over seeds)</figcaption><table>${head}${rows}</table></figure>`;
    })
    .join('\n');
  return `<h2>Per slice</h2>
<p class="note">Accuracy on each slice of the validation set, by the source image's aspect ratio (width / height: portrait &lt; ${r.bins.aspect[0]}, landscape &gt; ${r.bins.aspect[1]}), its short side and its class, with 95% intervals. Where a crop loses, it loses on a slice.</p>
<table id="slices"><thead><tr><th>kind</th><th>slice</th><th>examples</th>${shown.map((a) => `<th>${esc(a)}</th>`).join('')}</tr></thead><tbody>
${body}
</tbody></table>
<h2>Confusion matrices</h2>
<div class="confusions" id="confusion">
${confusion}
</div>`;
}

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const num = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : '–');

// vega's SVG may carry an external xlink to nothing; strip anything that could make a request.
function inlineSvg(svg: string): string {
  return svg.replace(/<\?xml[^>]*>/, '').replace(/(href|xlink:href)="https?:[^"]*"/g, '');
}

export function reportHtml(r: HtmlInput): string {
  const { ctx } = r;
  const head = [...ctx.axes.map((a) => a), `${ctx.metric} [95% CI]`, 'n', 'min', 'max', ctx.baseline ? `vs ${ctx.baseline} (baseline)` : 'vs best', 'converged', 'CPU / trial (s)', 'wall / trial (s)', 'runs'];
  const rows = r.groups
    .map((g) => {
      const cls = g.best ? 'best' : '';
      const cells = [
        ...ctx.axes.map((a) => esc(g.group[a] ?? '')),
        `${num(g.estimate.mean)}<small>${ci(g.estimate.ci95, 4)}</small>`,
        String(g.stats.n),
        num(g.stats.min),
        num(g.stats.max),
        esc(verdict(g, r.groups, ctx)),
        g.stats.n === 0 ? '' : g.learned === false ? 'did not learn' : g.converged ? 'yes' : '<b>no</b>',
        g.cost.cpu.n ? `${num(g.cost.cpu.mean, 1)}${Number.isFinite(g.cost.cpu.std) ? ` ± ${num(g.cost.cpu.std, 1)}` : ''}` : '–',
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
.warn{background:#fff4e5;border-left:4px solid #f0a030;padding:.4em .8em}.confusions{display:flex;flex-wrap:wrap;gap:1.5em}
.confusion table td{text-align:right;min-width:2em}.confusion th{font-weight:normal;font-size:.85em}
</style></head><body>
<h1>${esc(r.title)}</h1>
<p class="note">${esc(ctx.metric)} (${ctx.goal === 'max' ? 'higher' : 'lower'} is better): mean and 95% interval over ${esc(ctx.replicate ? `${ctx.replicate}s` : 'runs')}. ★ marks the best mean. Differences between arms are paired by ${esc(ctx.replicate ?? 'run')}; a verdict is <i>better</i> or <i>worse</i> only when its 95% interval excludes zero, else <i>inconclusive</i>. Generated ${esc(r.generated)}.</p>
${r.note ? `<p class="note">${esc(r.note)}</p>` : ''}
${r.setup ?? ''}
<h2>Results</h2>
<table id="results"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${rows}
</tbody></table>
${(() => {
  const v = verdictLines(r.groups);
  const n = noteLines(r.groups);
  return `${v.length ? `<h2>Verdicts</h2><ul id="verdicts">${v.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>` : ''}${n.length ? `<div id="warnings">${n.map((l) => `<p class="warn">${esc(l)}</p>`).join('')}</div>` : ''}`;
})()}
${failures.length ? `<h2>Failures</h2><ul id="failures">${failures.map((f) => `<li><b>${esc(f.name)}</b> (${esc(f.status)}, run ${esc(f.runIds.at(-1) ?? '?')}): ${esc((f.error ?? '').split('\n')[0] ?? '')}</li>`).join('')}</ul>` : ''}
${r.strips ?? ''}
<h2>Plots</h2>
<div class="plots">
${plots}
</div>
${r.slices ? slicesHtml(r.slices, r.groups.map((g) => g.label)) : ''}
<h2>Runs: spec against the base</h2>
<div id="diffs">
${diffs}
</div>
</body></html>
`;
}
