// bench:sweep — what the shared stage cache and resume buy a sweep, measured side by side in one
// run: a scaled-down crop ablation (same axes as the demo: 3 crops × 3 seeds, fewer images and
// epochs) with the cache, the same sweep with caching disabled (--no-cache), then a rerun of the
// finished sweep. Counts stage executions from the trials' events and from the cache on disk.
// Last line: one JSON object.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSweep } from '../src/sweep/build.js';
import { runSweep, type SweepResult } from '../src/sweep/run.js';

const SWEEP = fileURLToPath(new URL('../../configs/crop-ablation.sweep.yaml', import.meta.url));
const SCALE = (process.env.BENCH_SWEEP_SCALE ?? 'dataset.count=160 train.epochs=1').split(' ').filter(Boolean);
const jobs = process.env.BENCH_SWEEP_JOBS ? Number(process.env.BENCH_SWEEP_JOBS) : undefined;

const dir = mkdtempSync(join(tmpdir(), 'ablate-bench-sweep-'));
const log = (s: string) => process.stderr.write(`${s}\n`);

async function sweep(label: string, store: string, extra: string[]): Promise<SweepResult> {
  const args = [...SCALE, `track.uri=${join(dir, store)}`, `cache.dir=${join(dir, 'cache')}`, ...extra];
  log(`\n== ${label}: ablate sweep configs/crop-ablation.sweep.yaml ${args.join(' ')}`);
  const built = buildSweep(SWEEP, args);
  const r = await runSweep(built, { ...(jobs ? { jobs } : {}), tty: false, out: { write: (s: string) => process.stderr.write(s) } });
  if (r.status !== 'FINISHED') throw new Error(`${label}: sweep ${r.status}: ${r.trials.filter((t) => t.error).map((t) => `${t.name}: ${t.error}`).join('; ')}`);
  return r;
}

const count = (r: SweepResult, kind: string) => r.trials.filter((t) => t.stages[kind] === 'computed').length;
const onDisk = (kind: string) => {
  const d = join(dir, 'cache', kind);
  return existsSync(d) ? readdirSync(d).filter((n) => !n.endsWith('.lock') && !n.startsWith('.')).length : 0;
};

try {
  const cached = await sweep('shared cache', 'runs-cached', []);
  const cachedOnDisk = onDisk('preprocess');
  const uncached = await sweep('caching disabled', 'runs-uncached', ['cache.enabled=false']);
  const rerun = await sweep('rerun of the finished sweep', 'runs-cached', []);
  const crops = new Set(cached.trials.map((t) => String(t.axes['preprocess.crop']))).size;
  const result = {
    trials: cached.trials.length,
    jobs: cached.jobs,
    distinct_crops: crops,
    preprocess_executions_cached: count(cached, 'preprocess'),
    preprocess_executions_uncached: count(uncached, 'preprocess'),
    preprocess_cache_entries_on_disk: cachedOnDisk,
    ingest_executions_cached: count(cached, 'ingest'),
    ingest_executions_uncached: count(uncached, 'ingest'),
    first_run_s: Number(cached.seconds.toFixed(2)),
    uncached_run_s: Number(uncached.seconds.toFixed(2)),
    rerun_s: Number(rerun.seconds.toFixed(2)),
    rerun_fraction: Number((rerun.seconds / cached.seconds).toFixed(4)),
    rerun_trainings: count(rerun, 'train'),
    rerun_skipped: rerun.trials.filter((t) => t.action === 'skip').length,
    scale: SCALE.join(' '),
    targets: {
      preprocess_once_per_crop: count(cached, 'preprocess') === crops,
      rerun_no_training: count(rerun, 'train') === 0,
      rerun_under_5pct: rerun.seconds < 0.05 * cached.seconds,
    },
  };
  log(`\n${'what'.padEnd(34)}  shared cache  --no-cache`);
  log(`${'preprocess executions'.padEnd(34)}  ${String(result.preprocess_executions_cached).padEnd(12)}  ${result.preprocess_executions_uncached}`);
  log(`${'ingest executions'.padEnd(34)}  ${String(result.ingest_executions_cached).padEnd(12)}  ${result.ingest_executions_uncached}`);
  log(`${'wall time (s)'.padEnd(34)}  ${String(result.first_run_s).padEnd(12)}  ${result.uncached_run_s}`);
  log(`rerun of the finished sweep: ${result.rerun_s}s (${(result.rerun_fraction * 100).toFixed(2)}% of the first run), ${result.rerun_trainings} trainings, ${result.rerun_skipped}/${result.trials} trials skipped`);
  console.log(JSON.stringify(result));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
