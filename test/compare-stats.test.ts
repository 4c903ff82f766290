// The statistics of a verdict against cases with known answers: quantiles from tables, and the
// coverage of the 95% intervals over many simulated sweeps drawn from known distributions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bootstrapMean,
  comparePaired,
  estimateMean,
  type ExampleScores,
  exampleVariance,
  incompleteBeta,
  iqm,
  probabilityOfImprovement,
  seedsNeeded,
  studentTQuantile,
} from '../src/report/stats.js';
import { rng } from '../src/util/rng.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

function normal(r: () => number): () => number {
  return () => {
    const u = 1 - r();
    const v = r();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('distributions', () => {
  test('Student t quantiles match the printed tables', () => {
    const table: [number, number][] = [
      [1, 12.7062],
      [2, 4.3027],
      [4, 2.7764],
      [10, 2.2281],
      [30, 2.0423],
      [1e6, 1.96],
    ];
    for (const [df, q] of table) close(studentTQuantile(0.975, df), q, 1e-3, `t(0.975, ${df})`);
    close(studentTQuantile(0.025, 4), -2.7764, 1e-3, 't(0.025, 4)');
    close(studentTQuantile(0.95, 3), 2.3534, 1e-3, 't(0.95, 3)');
  });
  test('incomplete beta', () => {
    close(incompleteBeta(0.5, 2, 3), 0.6875, 1e-12, 'I_0.5(2,3)');
    close(incompleteBeta(0.2, 1, 1), 0.2, 1e-12, 'I_0.2(1,1)');
  });
  test('IQM trims a quarter from each side', () => {
    close(iqm([1, 2, 3, 4, 5, 6, 7, 8]), 4.5, 1e-12, 'iqm 1..8');
    close(iqm([1, 2, 3, 100, 4, 5, 6, 7]), 4.5, 1e-12, 'an outlier is trimmed');
    // n = 10: 2.5 values trimmed each side, the 3rd and 8th count half.
    close(iqm([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), (0.5 * 3 + 4 + 5 + 6 + 7 + 0.5 * 8) / 5, 1e-12, 'iqm 1..10');
  });
  test('bootstrap is seeded and collapses on constant data', () => {
    assert.deepEqual(bootstrapMean([1, 2, 3, 4], { seed: 3 }), bootstrapMean([1, 2, 3, 4], { seed: 3 }));
    assert.deepEqual(bootstrapMean([2, 2, 2]), [2, 2]);
  });
  test('probability of improvement counts paired wins, ties half', () => {
    assert.equal(probabilityOfImprovement([1, 2, 3, 4], [0, 3, 3, 1], 'max'), 2.5 / 4);
    assert.equal(probabilityOfImprovement([1, 2, 3, 4], [0, 3, 3, 1], 'min'), 1.5 / 4);
  });
  test('seeds needed: the smallest n whose t interval excludes zero', () => {
    // sd 0.05, diff 0.03, no example part: t(n-1)·0.05/√n < 0.03 first at n = 13 (t(12) = 2.179: 0.0302 > 0.03; n = 14: 2.160·0.01336 = 0.0289).
    assert.equal(seedsNeeded(0.03, 0.05, 0), 14);
    assert.equal(seedsNeeded(0.03, 0.05, 0.0004), Number.POSITIVE_INFINITY); // 1.96·0.02 = 0.039 ≥ 0.03: only more examples help
    assert.ok(Number.isNaN(seedsNeeded(0, 0.05, 0)));
  });
});

describe('verdicts', () => {
  test('a clear difference is better / worse; noise is inconclusive with a seed estimate', () => {
    const a = [0.8, 0.82, 0.81, 0.79, 0.8];
    const b = [0.7, 0.71, 0.69, 0.72, 0.7];
    assert.equal(comparePaired(a, b, 'max').verdict, 'better');
    assert.equal(comparePaired(b, a, 'max').verdict, 'worse');
    assert.equal(comparePaired(a, b, 'min').verdict, 'worse');
    const c = [0.525, 0.48, 0.57];
    const d = [0.464, 0.42, 0.51];
    const noisy = comparePaired([0.52, 0.46, 0.6], [0.47, 0.5, 0.42], 'max');
    assert.equal(noisy.verdict, 'inconclusive');
    assert.ok(noisy.seedsNeeded > 3 && Number.isFinite(noisy.seedsNeeded), `seeds needed ${noisy.seedsNeeded}`);
    // paired: a constant shift over seeds is a clear result even when the seeds spread widely
    assert.equal(comparePaired(c, d, 'max').verdict, 'better');
  });
  test('one seed gives no interval and never a verdict', () => {
    const r = comparePaired([0.9], [0.1], 'max');
    assert.equal(r.verdict, 'inconclusive');
    assert.ok(Number.isNaN(r.ci95[0]));
  });
  test('example variance is zero when every example moves with its seed, and found when examples differ', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const same = [0, 1].map((s) => new Map(ids.map((id) => [id, s])) as ExampleScores);
    close(exampleVariance(same)!.v, 0, 1e-15, 'no example effect');
    const differ = [0, 1, 2].map(() => new Map(ids.map((id, i) => [id, i % 2])) as ExampleScores);
    // columns 0,1,0,1 in every seed: Var_x = 1/3, no residual: v = (1/3)/4
    close(exampleVariance(differ)!.v, 1 / 12, 1e-15, 'example effect');
    assert.equal(exampleVariance([new Map([['a', 1]]), new Map([['b', 1]])]), undefined);
  });
});

describe('coverage over simulated sweeps', () => {
  const sims = 2000;
  const resamples = 1000; // the interval's quantiles settle well before the shipped 10,000

  for (const n of [3, 5, 10]) {
    test(`seed-level paired difference, ${n} seeds: the 95% interval holds the true difference in 93–97% of sweeps`, () => {
      const r = rng(n, 'coverage');
      const z = normal(r);
      const truth = 0.03;
      let hit = 0;
      let bootHit = 0;
      for (let s = 0; s < sims; s++) {
        // Per seed: a shared seed effect (split, init) and each arm's own noise.
        const shared = Array.from({ length: n }, () => 0.05 * z());
        const a = shared.map((x) => 0.8 + truth + x + 0.02 * z());
        const b = shared.map((x) => 0.8 + x + 0.02 * z());
        const est = comparePaired(a, b, 'max', { resamples, seed: s });
        if (est.ci95[0] <= truth && truth <= est.ci95[1]) hit++;
        const boot = bootstrapMean(
          a.map((x, i) => x - b[i]!),
          { resamples, seed: s },
        );
        if (boot[0] <= truth && truth <= boot[1]) bootHit++;
      }
      const coverage = hit / sims;
      console.log(`# ${n} seeds: coverage ${coverage.toFixed(3)} (percentile bootstrap alone ${(bootHit / sims).toFixed(3)})`);
      assert.ok(coverage >= 0.93 && coverage <= 0.97, `coverage ${coverage}`);
      // The reason the t interval is there: the percentile bootstrap alone covers too little with few seeds.
      if (n <= 5) assert.ok(bootHit / sims < 0.92, `bootstrap alone ${bootHit / sims}`);
    });
  }

  /** Sweeps of two arms over n seeds that share one validation set of m examples drawn from a population. */
  function perExampleSweeps(seedSd: number, spread: number, sims: number): { coverage: number; seedOnly: number; truth: number } {
    const r = rng(Math.round(seedSd * 1000 + spread), 'coverage-examples');
    const z = normal(r);
    const m = 120;
    const n = 3;
    // Population: each example has a difficulty; arm B is worse on average and differs per example.
    // A wide spread of difficulties makes most predictions the same on every seed (as trained
    // networks do: hard examples stay hard), so the seeds agree while the examples still vary.
    const draw = () => {
      const d = spread * z();
      return { a: 1.2 + d, b: 0.9 + d + (spread / 2.5) * z() };
    };
    let truth = 0;
    const big = 200_000;
    for (let i = 0; i < big; i++) {
      const e = draw();
      // the estimand averages over seeds too: E over the seed shift of each arm's probability
      truth += sigmoid(e.a + seedSd * z()) - sigmoid(e.b + seedSd * z());
    }
    truth /= big;
    let hit = 0;
    let seedOnlyHit = 0;
    for (let s = 0; s < sims; s++) {
      const val = Array.from({ length: m }, draw);
      const aVals: number[] = [];
      const bVals: number[] = [];
      const exA: ExampleScores[] = [];
      const exB: ExampleScores[] = [];
      for (let k = 0; k < n; k++) {
        const ta = seedSd * z();
        const tb = seedSd * z();
        const ca = new Map(val.map((e, i) => [String(i), r() < sigmoid(e.a + ta) ? 1 : 0]));
        const cb = new Map(val.map((e, i) => [String(i), r() < sigmoid(e.b + tb) ? 1 : 0]));
        exA.push(ca);
        exB.push(cb);
        aVals.push([...ca.values()].reduce((x, y) => x + y, 0) / m);
        bVals.push([...cb.values()].reduce((x, y) => x + y, 0) / m);
      }
      const est = comparePaired(aVals, bVals, 'max', { examplesA: exA, examplesB: exB, resamples, seed: s });
      if (est.ci95[0] <= truth && truth <= est.ci95[1]) hit++;
      const seedOnly = comparePaired(aVals, bVals, 'max', { resamples, seed: s });
      if (seedOnly.ci95[0] <= truth && truth <= seedOnly.ci95[1]) seedOnlyHit++;
    }
    return { coverage: hit / sims, seedOnly: seedOnlyHit / sims, truth };
  }

  for (const [seedSd, spread] of [
    [0.25, 1.5],
    [0.1, 6],
  ] as const) {
    test(`per-example, seed shift sd ${seedSd}, difficulty sd ${spread}: seeds sharing one validation set, the interval covers the population difference in 93–97% of sweeps`, () => {
      const { coverage, seedOnly, truth } = perExampleSweeps(seedSd, spread, Number(process.env.ABLATE_COVERAGE_SIMS ?? 6000));
      console.log(`# per-example, seed sd ${seedSd}, difficulty sd ${spread}, 3 seeds × 120 examples: coverage ${coverage.toFixed(3)} (seed spread alone ${seedOnly.toFixed(3)}), true difference ${truth.toFixed(4)}`);
      assert.ok(coverage >= 0.93 && coverage <= 0.97, `coverage ${coverage}`);
      // When the seeds agree on most examples, only the examples are noise: an interval from the
      // seed spread alone then misses the truth far too often.
      if (spread > 3) assert.ok(seedOnly < coverage - 0.02, `seed-only coverage ${seedOnly} vs ${coverage}`);
    });
  }

  test('a group mean with per-example scores covers its population mean', () => {
    const r = rng(11, 'coverage-mean');
    const z = normal(r);
    const m = 100;
    const n = 4;
    let truth = 0;
    const big = 200_000;
    for (let i = 0; i < big; i++) truth += sigmoid(0.8 + 1.2 * z() + 0.3 * z());
    truth /= big;
    let hit = 0;
    const simsEx = Number(process.env.ABLATE_COVERAGE_SIMS ?? 6000);
    for (let s = 0; s < simsEx; s++) {
      const val = Array.from({ length: m }, () => 0.8 + 1.2 * z());
      const vals: number[] = [];
      const ex: ExampleScores[] = [];
      for (let k = 0; k < n; k++) {
        const t = 0.3 * z();
        const c = new Map(val.map((d, i) => [String(i), r() < sigmoid(d + t) ? 1 : 0]));
        ex.push(c);
        vals.push([...c.values()].reduce((x, y) => x + y, 0) / m);
      }
      const est = estimateMean(vals, { examples: ex, resamples, seed: s });
      if (est.ci95[0] <= truth && truth <= est.ci95[1]) hit++;
    }
    const coverage = hit / simsEx;
    console.log(`# group mean, ${n} seeds × ${m} examples: coverage ${coverage.toFixed(3)}`);
    assert.ok(coverage >= 0.93 && coverage <= 0.97, `coverage ${coverage}`);
  });
});
