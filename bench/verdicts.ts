// bench:verdicts — does the shipped crop-ablation sweep find the planted loser? For each planted
// dataset of bench/planted.ts (generated here, in a temp folder), runs
// configs/crop-ablation.sweep.yaml with only `dataset.*` overridden (plus where runs and the cache
// go), then `compare`, and checks that the crop the dataset was built against gets the verdict
// `worse` against both other crops. Prints the comparison of each and, last, one JSON line;
// exits 1 when a planted loser is not found.
//   npm run bench:verdicts                      # both sets, 1,200 images each
//   BENCH_VERDICTS_COUNT=600 BENCH_VERDICTS_SETS=stretch npm run bench:verdicts
//   BENCH_VERDICTS_KEEP=1 npm run bench:verdicts  # keep the runs (ablate compare <dir>/runs-<set>)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare } from '../src/report/compare.js';
import { sliceLines } from '../src/report/slices.js';
import { terminalTable } from '../src/report/tables.js';
import { buildSweep } from '../src/sweep/build.js';
import { runSweep } from '../src/sweep/run.js';
import { PLANTED_LOSER, type Planted, writePlanted } from './planted.js';

const SWEEP = fileURLToPath(new URL('../../configs/crop-ablation.sweep.yaml', import.meta.url));
const COUNT = Number(process.env.BENCH_VERDICTS_COUNT ?? 1200);
const SETS = (process.env.BENCH_VERDICTS_SETS ?? 'corner-mark,stretch').split(',') as Planted[];
const dir = mkdtempSync(join(tmpdir(), 'ablate-bench-verdicts-'));
const log = (s: string) => process.stderr.write(`${s}\n`);

const results: Record<string, unknown> = {};
let ok = true;
try {
  for (const kind of SETS) {
    const data = join(dir, kind);
    const t0 = performance.now();
    await writePlanted(kind, data, COUNT);
    const args = ['dataset.source=folder', `dataset.path=${data}`, `track.uri=${join(dir, `runs-${kind}`)}`, `cache.dir=${join(dir, 'cache')}`];
    log(`\n== ${kind} (${COUNT} images, expected loser ${PLANTED_LOSER[kind]}): ablate sweep configs/crop-ablation.sweep.yaml ${args.join(' ')}`);
    const r = await runSweep(buildSweep(SWEEP, args), { tty: false, out: { write: (s: string) => process.stderr.write(s) } });
    if (r.status !== 'FINISHED') throw new Error(`${kind}: sweep ${r.status}`);
    const c = await compare(join(dir, `runs-${kind}`), undefined, { png: false });
    console.log(`\n${kind}: expected loser ${PLANTED_LOSER[kind]}\n${terminalTable(c.groups, c.ctx)}`);
    if (c.slices) console.log(sliceLines(c.slices, c.groups.map((g) => g.label)).map((l) => `  ${l}`).join('\n'));
    const loser = c.groups.find((g) => g.label === PLANTED_LOSER[kind])!;
    const verdicts = Object.fromEntries(Object.entries(loser.pairs).map(([other, p]) => [other, { diff: p.mean, ci95: p.ci95, verdict: p.verdict }]));
    const found = Object.values(loser.pairs).length === 2 && Object.values(loser.pairs).every((p) => p.verdict === 'worse');
    ok &&= found;
    results[kind] = { loser: PLANTED_LOSER[kind], found, verdicts, means: Object.fromEntries(c.groups.map((g) => [g.label, g.estimate.mean])), converged: Object.fromEntries(c.groups.map((g) => [g.label, g.converged])), minutes: (performance.now() - t0) / 60_000 };
  }
} finally {
  if (process.env.BENCH_VERDICTS_KEEP) log(`runs kept in ${dir} (ablate compare ${dir}/runs-<set>)`);
  else rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({ count: COUNT, sets: results, ok }));
process.exit(ok ? 0 : 1);
