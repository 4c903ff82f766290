// Aggregation over seeds, as tables of trials against the groups they must give.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aggregate, meanCurve, stats } from '../src/report/aggregate.js';
import type { TrialData } from '../src/report/load.js';
import { csvTable, jsonGroups, markdownTable, terminalTable } from '../src/report/tables.js';

let n = 0;
function trial(crop: string, seed: number, value: number | undefined, status: TrialData['status'] = 'FINISHED', wall = 10): TrialData {
  n++;
  return {
    key: `h${n}`,
    name: `crop=${crop},seed=${seed}`,
    runIds: [`r${n}`],
    status,
    values: { 'preprocess.crop': crop, seed: String(seed) },
    metrics: value === undefined ? {} : { val_accuracy: value },
    history: value === undefined ? {} : { val_accuracy: [0, 1, 2].map((s) => ({ step: s, value: (value * (s + 1)) / 3, timestamp: s })) },
    wallSeconds: wall,
  };
}

describe('stats', () => {
  const cases: [number[], { n: number; mean: number; std: number; min: number; max: number }][] = [
    [[1, 2, 3], { n: 3, mean: 2, std: 1, min: 1, max: 3 }],
    [[0.5], { n: 1, mean: 0.5, std: Number.NaN, min: 0.5, max: 0.5 }],
    [[2, 4, 4, 4, 5, 5, 7, 9], { n: 8, mean: 5, std: Math.sqrt(32 / 7), min: 2, max: 9 }],
    [[Number.NaN, 1, 3], { n: 2, mean: 2, std: Math.SQRT2, min: 1, max: 3 }],
  ];
  for (const [xs, want] of cases) {
    test(JSON.stringify(xs), () => {
      const s = stats(xs);
      for (const k of Object.keys(want) as (keyof typeof want)[]) {
        if (Number.isNaN(want[k])) assert.ok(Number.isNaN(s[k]), k);
        else assert.ok(Math.abs(s[k] - want[k]) < 1e-12, `${k}: ${s[k]} vs ${want[k]}`);
      }
    });
  }
  test('empty', () => assert.equal(stats([]).n, 0));
});

describe('aggregate', () => {
  test('groups by axis, aggregates over seeds, marks the best, and a small paired difference is inconclusive', () => {
    const trials = [
      trial('border', 0, 0.9),
      trial('border', 1, 0.92),
      trial('border', 2, 0.94),
      trial('center', 0, 0.89),
      trial('center', 1, 0.91),
      trial('center', 2, 0.93), // 0.01 below border on every seed: paired, that is a clear difference
      trial('squish', 0, 0.7),
      trial('squish', 1, 0.71),
      trial('squish', 2, undefined, 'FAILED'),
    ];
    const g = aggregate(trials, ['preprocess.crop'], 'val_accuracy', 'max', 'seed');
    assert.deepEqual(g.map((x) => x.label), ['border', 'center', 'squish']);
    assert.equal(g[0]!.best, true);
    assert.ok(Math.abs(g[0]!.stats.mean - 0.92) < 1e-12);
    assert.ok(Math.abs(g[0]!.stats.std - 0.02) < 1e-12);
    assert.ok(Math.abs(g[1]!.delta + 0.01) < 1e-12);
    // Every seed has center exactly 0.01 below border: the paired difference has no spread.
    assert.equal(g[1]!.pairs.border!.verdict, 'worse');
    assert.equal(g[0]!.pairs.center!.verdict, 'better');
    assert.ok(Math.abs(g[1]!.pairs.border!.mean + 0.01) < 1e-12);
    assert.equal(g[1]!.pairs.border!.pImprove, 0);
    assert.equal(g[2]!.pairs.border!.verdict, 'worse');
    assert.deepEqual(g[2]!.pairs.border!.seeds, ['0', '1']);
    // The group mean's interval holds the mean.
    assert.ok(g[0]!.estimate.ci95[0] < 0.92 && 0.92 < g[0]!.estimate.ci95[1]);
    assert.equal(g[2]!.stats.n, 2);
    assert.equal(g[2]!.failed.length, 1);
    assert.deepEqual(g[0]!.runs.map((r) => r.seed), ['0', '1', '2']);
    // The learning curve is the mean per step over the seeds.
    assert.equal(g[0]!.curve.length, 3);
    assert.ok(Math.abs(g[0]!.curve[2]!.mean - 0.92) < 1e-12);
  });

  test('an accuracy interval stays in [0, 1]; other metrics are not cut', () => {
    // 3 seeds at 1, 1, 0.99: the t interval is 0.997 ± 0.014, past 1.
    const acc = [trial('a', 0, 1), trial('a', 1, 1), trial('a', 2, 0.99)];
    const [g] = aggregate(acc, ['preprocess.crop'], 'val_accuracy', 'max', 'seed');
    assert.equal(g!.estimate.ci95[1], 1);
    assert.ok(g!.estimate.ci95[0] < 0.99);
    const loss = acc.map((t) => ({ ...t, metrics: { val_loss: t.metrics.val_accuracy! } }));
    const [l] = aggregate(loss, ['preprocess.crop'], 'val_loss', 'min', 'seed');
    assert.ok(l!.estimate.ci95[1] > 1, `${l!.estimate.ci95}`);
  });

  test('goal min ranks the smallest first', () => {
    const g = aggregate([trial('a', 0, 3), trial('b', 0, 1), trial('c', 0, 2)], ['preprocess.crop'], 'val_accuracy', 'min');
    assert.deepEqual(g.map((x) => [x.label, x.best]), [['b', true], ['c', false], ['a', false]]);
    // One seed each: no interval, so no verdict either way.
    assert.ok(g.every((x) => Object.values(x.pairs).every((p) => p.verdict === 'inconclusive')));
  });

  test('groups with no finished run come last and are never best', () => {
    const g = aggregate([trial('a', 0, undefined, 'FAILED'), trial('b', 0, 0.5)], ['preprocess.crop'], 'val_accuracy', 'max');
    assert.deepEqual(g.map((x) => [x.label, x.best, x.stats.n]), [['b', true, 1], ['a', false, 0]]);
  });

  test('several axes make one group per combination', () => {
    const t = (crop: string, lr: string, seed: number, v: number) => ({ ...trial(crop, seed, v), values: { 'preprocess.crop': crop, 'train.lr': lr, seed: String(seed) } });
    const g = aggregate([t('a', '0.1', 0, 1), t('a', '0.1', 1, 2), t('a', '0.01', 0, 3), t('b', '0.1', 0, 4)], ['preprocess.crop', 'train.lr'], 'val_accuracy', 'max');
    assert.deepEqual(g.map((x) => [x.label, x.stats.n]), [['crop=b, lr=0.1', 1], ['crop=a, lr=0.01', 1], ['crop=a, lr=0.1', 2]]);
  });

  test('meanCurve averages what each step has and takes a run\'s last point per step', () => {
    const c = meanCurve([
      [{ step: 0, value: 1, timestamp: 0 }, { step: 1, value: 2, timestamp: 1 }, { step: 1, value: 4, timestamp: 2 }],
      [{ step: 0, value: 3, timestamp: 0 }],
    ]);
    assert.deepEqual(c.map((p) => [p.step, p.mean, p.n]), [[0, 2, 2], [1, 4, 1]]);
  });
});

describe('tables', () => {
  const trials = [trial('border', 0, 0.9), trial('border', 1, 0.92), trial('center', 0, 0.8), trial('center', 1, 0.84), trial('squish', 0, undefined, 'FAILED')];
  const ctx = { id: 's-1', metric: 'val_accuracy', goal: 'max' as const, axes: ['preprocess.crop'], replicate: 'seed' };
  const groups = aggregate(trials, ctx.axes, ctx.metric, ctx.goal, ctx.replicate);

  test('terminal: a star on the best, mean with its interval, verdict lines, failures counted', () => {
    const t = terminalTable(groups, ctx);
    assert.match(t, /★ border +0\.9100 \[0\.\d{4}, 1\.\d{4}\] +2/);
    assert.match(t, /could not tell whether border and center converged/);
    assert.match(t, /squish .*no finished run .*1$/m);
    // 2 seeds, diffs 0.1 and 0.08: t(1) = 12.7 makes the interval [−0.037, 0.217]
    assert.match(t, /border vs center: \+0\.0900 \[-0\.0371, 0\.2171\], P\(border better\) 1\.00 over 2 seeds → inconclusive: ~\d+ seeds would settle a 0\.090 difference/);
  });

  test('csv has one row per group with raw numbers', () => {
    const rows = csvTable(groups, ctx).trim().split('\n');
    assert.equal(rows.length, 4);
    assert.match(rows[0]!, /^preprocess\.crop,metric,mean,ci95_lo,ci95_hi,std,n,iqm,min,max,best,/);
    assert.match(rows[1]!, /^border,val_accuracy,0\.91,[0-9.]+,[0-9.]+,0\.01414\d*,2,,0\.9,0\.92,true,/);
    assert.match(rows[0]!, /vs_center_diff,vs_center_ci95_lo,vs_center_ci95_hi,vs_center_p_improve,vs_center_verdict/);
  });

  test('markdown renders a table', () => {
    const md = markdownTable(groups, ctx);
    assert.match(md, /\| crop \| val_accuracy \[95% CI\] \| n \|/);
    assert.match(md, /\*\*Verdicts\*\*/);
    assert.match(md, /\| \*\*border\*\* \|/);
  });

  test('json has the documented shape', () => {
    const j = jsonGroups(groups, ctx) as { group: Record<string, string>; metric: string; mean: number; std: number | null; n: number; runs: unknown[] }[];
    assert.deepEqual(j[0]!.group, { 'preprocess.crop': 'border' });
    assert.equal(j[0]!.metric, 'val_accuracy');
    assert.equal(j[0]!.n, 2);
    assert.equal(j[0]!.runs.length, 2);
    assert.equal(j[2]!.mean, null);
    const border = j[0] as unknown as { ci95: [number, number]; converged: boolean; pairs: Record<string, { diff: number; ci95: [number, number]; pImprove: number; verdict: string }> };
    assert.equal(border.ci95.length, 2);
    assert.equal(typeof border.converged, 'boolean');
    assert.ok(Math.abs(border.pairs.center!.diff - 0.09) < 1e-12);
    assert.equal(border.pairs.center!.verdict, 'inconclusive');
    assert.equal(border.pairs.center!.pImprove, 1);
  });
});
