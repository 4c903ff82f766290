// What stands between a table and a verdict: convergence of each run's learning curve, arms that
// did not learn, and the per-slice breakdown of per-example results, on constructed cases.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aggregate } from '../src/report/aggregate.js';
import { convergence, learned, stillImproving } from '../src/report/convergence.js';
import type { TrialData } from '../src/report/load.js';
import { aspectSlice, DEFAULT_BINS, sizeSlice, sliceReport } from '../src/report/slices.js';
import { noteLines, terminalTable } from '../src/report/tables.js';
import type { ExampleRow } from '../src/train/examples.js';

const curve = (values: number[]) => values.map((value, i) => ({ step: i + 1, value, timestamp: i }));

describe('convergence', () => {
  test('a curve still climbing over its last 20% is not converged; a plateau with noise is', () => {
    const climbing = [0.3, 0.4, 0.48, 0.55, 0.6, 0.64, 0.68, 0.71, 0.74, 0.77];
    assert.equal(stillImproving(curve(climbing), 'max')!.improving, true);
    const plateau = [0.3, 0.6, 0.75, 0.8, 0.81, 0.8, 0.82, 0.81, 0.8, 0.81];
    assert.equal(stillImproving(curve(plateau), 'max')!.improving, false);
    // the same for a loss going down
    assert.equal(stillImproving(curve(climbing.map((v) => 1 - v)), 'min')!.improving, true);
    assert.equal(stillImproving(curve([0.3, 0.4, 0.5]), 'max'), undefined);
  });
  test('eval_accuracy is judged by the val_accuracy curve; an early stop on a plateau counts as converged', () => {
    const history = { val_accuracy: curve([0.3, 0.4, 0.48, 0.55, 0.6, 0.64, 0.68, 0.71, 0.74, 0.77]) };
    const c = convergence({ metric: 'eval_accuracy', goal: 'max', history });
    assert.equal(c.converged, false);
    assert.match(c.why, /^val_accuracy \+0\.\d+ over the last 20% of training/);
    assert.equal(convergence({ metric: 'eval_accuracy', goal: 'max', history, tags: { 'ablate.train.stop_reason': 'patience' } }).converged, true);
  });
  test('learned: train accuracy must get half-way from chance to 1', () => {
    assert.equal(learned(0.7, 2)!.learned, false); // the two-class border arm of the issue
    assert.equal(learned(0.9, 2)!.learned, true);
    assert.equal(learned(0.6, 8)!.learned, true); // 8 classes: the bar is 0.5625
    assert.equal(learned(0.5, 8)!.learned, false);
    assert.equal(learned(undefined, 8), undefined);
  });
});

/** 40 examples, 20 of class a then 20 of class b; `correct(i)` and `aspect(i)` by index. */
function examples(correct: (i: number) => boolean, aspect: (i: number) => number): ExampleRow[] {
  return Array.from({ length: 40 }, (_, i) => {
    const cls = i < 20 ? 'a' : 'b';
    const c = correct(i);
    const w = Math.round(300 * aspect(i));
    return { id: `${cls}/${i}`, label: i < 20 ? 0 : 1, trueClass: cls, pred: c ? (i < 20 ? 0 : 1) : 2, predClass: c ? cls : 'other', correct: c ? 1 : 0, confidence: 0.9, width: w, height: 300, aspect: w / 300 };
  });
}

function trial(arm: string, seed: number, rows: ExampleRow[], trainAccuracy: number, history: TrialData['history'] = {}): TrialData {
  const acc = rows.reduce((s, r) => s + r.correct, 0) / rows.length;
  return {
    key: `${arm}-${seed}`,
    name: `crop=${arm},seed=${seed}`,
    runIds: [`${arm}${seed}`],
    status: 'FINISHED',
    values: { 'preprocess.crop': arm, seed: String(seed) },
    metrics: { eval_accuracy: acc, train_accuracy: trainAccuracy },
    history,
    wallSeconds: 10,
    tags: { 'ablate.train.stop_reason': 'patience' },
    examples: rows,
  };
}

describe('slices and verdicts with per-example results', () => {
  // Every 4th example square, the rest elongated (portrait and landscape in turn). "squish" is
  // right on every square one and on few elongated ones; "center" misses a few everywhere.
  const aspect = (i: number) => (i % 4 === 0 ? 1 : i % 2 ? 1.78 : 0.56);
  const squishRows = (seed: number) => examples((i) => i % 4 === 0 || (i + seed) % 5 === 0, aspect);
  const centerRows = (seed: number) => examples((i) => (i + seed) % 7 !== 0, aspect);
  const trials = [0, 1, 2].flatMap((s) => [trial('squish', s, squishRows(s), 0.95), trial('center', s, centerRows(s), 0.95)]);

  test('bins', () => {
    assert.equal(aspectSlice(0.5, DEFAULT_BINS), 'portrait (< 0.8)');
    assert.equal(aspectSlice(1, DEFAULT_BINS), 'near-square (0.8–1.25)');
    assert.equal(aspectSlice(1.78, DEFAULT_BINS), 'landscape (> 1.25)');
    assert.equal(sizeSlice(640, 480, DEFAULT_BINS), 'medium (256–511)');
    assert.equal(sizeSlice(800, 600, DEFAULT_BINS), 'large (≥ 512)');
  });

  test('per-slice accuracy shows where an arm loses, with intervals', () => {
    const arms = new Map([
      ['center', trials.filter((t) => t.values['preprocess.crop'] === 'center')],
      ['squish', trials.filter((t) => t.values['preprocess.crop'] === 'squish')],
    ]);
    const r = sliceReport(arms, DEFAULT_BINS, { resamples: 500 })!;
    const row = (kind: string, slice: string) => r.rows.find((x) => x.kind === kind && x.slice.startsWith(slice))!;
    assert.equal(row('aspect', 'near-square').arms.squish!.mean, 1);
    assert.ok(row('aspect', 'landscape').arms.squish!.mean < 0.3);
    assert.ok(row('aspect', 'landscape').arms.center!.mean > 0.8);
    assert.equal(row('aspect', 'portrait').arms.squish!.examples, 10);
    assert.equal(row('aspect', 'near-square').arms.squish!.examples, 10);
    const ci = row('aspect', 'landscape').arms.squish!.ci95;
    assert.ok(ci[0] <= row('aspect', 'landscape').arms.squish!.mean && row('aspect', 'landscape').arms.squish!.mean <= ci[1]);
    // The confusion matrix sums the seeds: every row adds up to 3 × 20.
    const m = r.confusion.squish!;
    const b = m.counts[m.classes.indexOf('b')]!;
    assert.equal(b.reduce((x, y) => x + y, 0), 60);
    const right = [0, 1, 2].reduce((s, seed) => s + squishRows(seed).filter((x) => x.trueClass === 'b' && x.correct).length, 0);
    assert.equal(b[m.classes.indexOf('b')], right);
  });

  test('a slice interval never leaves [0, 1]', () => {
    // Right on everything with seed 0, wrong on everything with 1 and 2: the t interval over 3
    // seeds is 0.33 ± 1.43, bounds no accuracy can have.
    const all = [0, 1, 2].map((s) => trial('x', s, examples(() => s === 0, aspect), 0.95));
    const r = sliceReport(new Map([['x', all]]), DEFAULT_BINS, { resamples: 500 })!;
    for (const row of r.rows) {
      const c = row.arms.x!;
      assert.ok(c.ci95[0] >= 0 && c.ci95[1] <= 1, `${row.kind} ${row.slice}: [${c.ci95}]`);
      assert.ok(c.ci95[0] <= c.mean && c.mean <= c.ci95[1]);
    }
    assert.deepEqual(r.rows.find((x) => x.kind === 'aspect')!.arms.x!.ci95, [0, 1]);
  });

  test('a verdict uses the examples; arms that did not learn get no ranking between them', () => {
    const g = aggregate(trials, ['preprocess.crop'], 'eval_accuracy', 'max', { replicate: 'seed', resamples: 1000 });
    assert.equal(g[0]!.label, 'center');
    assert.equal(g[0]!.pairs.squish!.verdict, 'better');
    assert.ok(g[0]!.pairs.squish!.exampleVar > 0, 'the validation-set part is in the interval');
    assert.equal(g[0]!.converged, true);
    const weak = trials.map((t) => (t.values['preprocess.crop'] === 'squish' ? { ...t, metrics: { ...t.metrics, train_accuracy: 0.55 } } : t));
    const g2 = aggregate(weak, ['preprocess.crop'], 'eval_accuracy', 'max', { replicate: 'seed', resamples: 1000 });
    assert.equal(g2.find((x) => x.label === 'squish')!.learned, false);
    // One arm did not learn where the other did: its interval decides (a crop that removes the cue loses).
    assert.equal(g2[0]!.pairs.squish!.verdict, 'better');
    assert.match(noteLines(g2).join('\n'), /squish did not learn \(squish: train accuracy 0\.550 is below 0\.750.*\) where center did with the same training: its verdicts against it stand/);
    // Neither learned: no ranking, and the note says to fix the training.
    const none = trials.map((t) => ({ ...t, metrics: { ...t.metrics, train_accuracy: 0.55 } }));
    const g3 = aggregate(none, ['preprocess.crop'], 'eval_accuracy', 'max', { replicate: 'seed', resamples: 1000 });
    assert.equal(g3[0]!.pairs.squish!.verdict, 'inconclusive (did not learn)');
    assert.match(terminalTable(g3, { id: 's', metric: 'eval_accuracy', goal: 'max', axes: ['preprocess.crop'], replicate: 'seed' }), /center vs squish: .*→ inconclusive \(did not learn\)/);
    assert.match(noteLines(g3).join('\n'), /center and squish did not learn .*: no arm fit the data/);
  });

  test('arms still improving are flagged under the table', () => {
    const climbing = { val_accuracy: curve([0.3, 0.4, 0.48, 0.55, 0.6, 0.64, 0.68, 0.71, 0.74, 0.77]) };
    const t2 = trials.map((t) => ({ ...t, tags: {}, history: t.values['preprocess.crop'] === 'squish' ? climbing : { val_accuracy: curve([0.5, 0.8, 0.9, 0.9, 0.91, 0.9, 0.9, 0.91, 0.9, 0.9]) } }));
    const g = aggregate(t2, ['preprocess.crop'], 'eval_accuracy', 'max', { replicate: 'seed', resamples: 500 });
    assert.equal(g.find((x) => x.label === 'squish')!.converged, false);
    assert.equal(g.find((x) => x.label === 'center')!.converged, true);
    assert.match(noteLines(g)[0]!, /^squish was still improving: this table compares learning speed, not the arms; raise train\.epochs or set train\.stop$/);
  });

  test('an arm whose runs each look flat but whose mean curve over seeds climbs is still improving', () => {
    // val_accuracy per epoch of the demo sweep (fresh clone, 2026-12-02; 10 epochs, cosine to 0,
    // every run to its epoch limit): border and center were still climbing, squish had plateaued.
    const demo: Record<string, number[][]> = {
      border: [
        [0.235, 0.367, 0.465, 0.52, 0.627, 0.767, 0.75, 0.718, 0.792, 0.807],
        [0.18, 0.278, 0.547, 0.598, 0.625, 0.642, 0.715, 0.718, 0.748, 0.748],
        [0.22, 0.125, 0.305, 0.492, 0.65, 0.65, 0.72, 0.72, 0.743, 0.738],
      ],
      center: [
        [0.237, 0.555, 0.537, 0.56, 0.675, 0.76, 0.762, 0.775, 0.83, 0.823],
        [0.273, 0.5, 0.475, 0.608, 0.71, 0.73, 0.797, 0.807, 0.805, 0.818],
        [0.223, 0.37, 0.532, 0.667, 0.715, 0.748, 0.78, 0.792, 0.807, 0.805],
      ],
      squish: [
        [0.17, 0.635, 0.642, 0.705, 0.743, 0.74, 0.738, 0.765, 0.733, 0.733],
        [0.255, 0.343, 0.615, 0.63, 0.698, 0.723, 0.752, 0.752, 0.738, 0.733],
        [0.165, 0.302, 0.325, 0.73, 0.645, 0.76, 0.748, 0.738, 0.728, 0.725],
      ],
    };
    const runs = (tags: Record<string, string>) =>
      Object.entries(demo).flatMap(([arm, cs]) => cs.map((c, seed) => ({ ...trial(arm, seed, centerRows(seed), 0.95, { val_accuracy: curve(c) }), tags, metrics: { eval_accuracy: c.at(-1)!, train_accuracy: 0.95 } })));
    const g = aggregate(runs({ 'ablate.train.stop_reason': 'epochs' }), ['preprocess.crop'], 'eval_accuracy', 'max', { replicate: 'seed', resamples: 200 });
    const arm = (l: string) => g.find((x) => x.label === l)!;
    assert.ok(arm('border').runs.every((r) => r.converged), 'border: each run alone looks flat');
    for (const l of ['border', 'center']) {
      assert.equal(arm(l).converged, false, l);
      assert.match(arm(l).improvingWhy!, /^mean over 3 seeds: val_accuracy \+0\.0\d+ over the last 20% of training/);
    }
    assert.equal(arm('squish').converged, true);
    assert.match(noteLines(g)[0]!, /^center and border were still improving/);
    // Runs that train.stop ended on a plateau are judged by that, not by their mean curve.
    const stopped = aggregate(runs({ 'ablate.train.stop_reason': 'patience' }), ['preprocess.crop'], 'eval_accuracy', 'max', { replicate: 'seed', resamples: 200 });
    assert.ok(stopped.every((x) => x.converged));
  });

  test('a baseline arm is the reference of the vs column', () => {
    const g = aggregate(trials, ['preprocess.crop'], 'eval_accuracy', 'max', { replicate: 'seed', baseline: 'squish', resamples: 500 });
    assert.equal(g.find((x) => x.label === 'squish')!.baseline, true);
    assert.match(terminalTable(g, { id: 's', metric: 'eval_accuracy', goal: 'max', axes: ['preprocess.crop'], replicate: 'seed', baseline: 'squish' }), /vs squish \(baseline\)/);
  });
});
