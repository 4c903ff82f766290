// `ablate sweep`: expand a sweep file (plus command-line axes) into trials, validate them all,
// then run them as child processes with a shared stage cache, resumable and Ctrl-C safe.
import { cpus } from 'node:os';
import { relative } from 'node:path';
import { buildSweep, checkTrials } from '../sweep/build.js';
import { CliAxisError } from '../sweep/cli-axes.js';
import { dryRun, formatDryRun } from '../sweep/dry-run.js';
import { fmtDuration, fmtMetric } from '../sweep/progress.js';
import { SweepError } from '../sweep/records.js';
import { defaultJobs, runSweep, type SweepResult } from '../sweep/run.js';
import { DEFAULT_QUEUE } from '../sweep/launcher.js';
import type { QueueLauncher } from '../sweep/queue.js';
import type { LauncherSpec } from '../spec/schema.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';

const HELP = `Usage: ablate sweep <spec.sweep.yaml> [field.path=a,b,c ...] [field.path=value ...] [options]
       ablate sweep status <sweep-id> [--queue URL]     a queued sweep's trials, from any machine
       ablate sweep cancel <sweep-id> [--queue URL]     stop a queued sweep's trials

Runs every trial of a sweep: the base spec crossed with the sweep's grid, random draws, variants
and seeds. Command-line arguments (Hydra style):
  preprocess.crop=border,center,squish   an axis; replaces the sweep's axis of that field
  seed=0,1                               replaces the sweep's \`seeds\` list
  variant=small,big                      runs only these variants
  dataset.path=/data/x                   one value: applies to every trial (fixes an axis)
Rerunning the same command resumes: finished trials are skipped, failed ones rerun, interrupted
ones continue from their checkpoints.

Options:
  --dry-run       print the trials and which stages each will compute or reuse; run nothing
  --jobs N        trials at once (default from cores and backend)
  --fail-fast     stop launching trials after the first failure
  --no-cache      recompute every stage in every trial (cache.enabled=false; benchmarks)
  --json          print the result as one JSON object on stdout at the end
  --queue URL     put the trials on a BullMQ queue in Redis for \`ablate worker\` on any machine
                  (default: the sweep's \`launcher:\`, else ABLATE_QUEUE, else child processes here)
  --queue-name N  queue name (default ablate)
  --retries N     queue: times a failed trial runs again before it is recorded FAILED (default 1)
  --detach        queue: return once the trials are queued; \`ablate sweep status\` follows them
Ctrl-C stops cleanly: running trials are marked KILLED; rerun to continue.
Exit codes: 0 all finished, 1 a trial failed, 2 invalid sweep or usage, 130 interrupted.`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, {
    'dry-run': { type: 'boolean' },
    jobs: { type: 'string', short: 'j' },
    'fail-fast': { type: 'boolean' },
    'no-cache': { type: 'boolean' },
    json: { type: 'boolean' },
    queue: { type: 'string' },
    'queue-name': { type: 'string' },
    retries: { type: 'string' },
    detach: { type: 'boolean' },
  });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  const sub = args.positionals[0];
  if ((sub === 'status' || sub === 'cancel') && args.positionals.length === 2) return queueVerb(sub, args.positionals[1]!, args.values);
  if (args.positionals.length !== 1) throw new UsageError(`expected one sweep file\n\n${HELP}`);
  let jobs: number | undefined;
  if (args.values.jobs !== undefined) {
    jobs = Number(args.values.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs expects a positive integer, got "${args.values.jobs}"`);
  }
  const cli = [...args.overrides, ...(args.values['no-cache'] ? ['cache.enabled=false'] : [])];
  let sweep: ReturnType<typeof buildSweep>;
  try {
    sweep = buildSweep(args.positionals[0]!, cli);
  } catch (e) {
    if (e instanceof CliAxisError) throw new UsageError(e.message);
    throw e;
  }
  if (sweep.trials.length === 0) throw new UsageError('the sweep has no trials');
  await checkTrials(sweep);
  const first = sweep.trials[0]!.spec;
  if (args.values['dry-run']) {
    let r: Awaited<ReturnType<typeof dryRun>>;
    try {
      r = await dryRun(sweep);
    } catch (e) {
      if (!(e instanceof SweepError)) throw e;
      console.error(`ablate sweep: ${e.message}`);
      return EXIT.failed;
    }
    console.log(formatDryRun(sweep, r, jobs ?? sweep.sweep.jobs ?? defaultJobs(first.train.backend, cpus().length, sweep.trials.length)));
    return EXIT.ok;
  }
  for (const d of sweep.duplicates) console.error(`note: trial ${d.name} resolves to the same spec as ${d.sameAs}; it runs once`);
  const queue = chooseQueue(sweep.sweep.launcher, args.values);
  if (args.values.detach && !queue) throw new UsageError('--detach needs the queue launcher (--queue URL, launcher: {kind: queue} or ABLATE_QUEUE)');
  let launcher: QueueLauncher | undefined;
  let result: SweepResult;
  try {
    if (queue) launcher = await (await import('../sweep/queue.js')).QueueLauncher.open({ ...queue, out: process.stderr });
    result = await runSweep(sweep, { ...(jobs ? { jobs } : {}), failFast: Boolean(args.values['fail-fast']), ...(launcher ? { launcher } : {}), detach: Boolean(args.values.detach) });
  } catch (e) {
    if (!(e instanceof SweepError)) throw e;
    console.error(`ablate sweep: ${e.message}`);
    return EXIT.failed;
  } finally {
    await launcher?.close();
  }
  if (result.detached) {
    console.error(`\nsweep ${result.id}: ${result.trials.filter((t) => t.action !== 'skip').length} trials queued. Follow: ablate sweep status ${result.id} · cancel: ablate sweep cancel ${result.id} · rerun this command to follow it to the end`);
    if (args.values.json) console.log(JSON.stringify(result));
    return EXIT.ok;
  }
  console.error(`\n${summary(result, sweep.sweep.metric)}`);
  if (args.values.json) console.log(JSON.stringify(result));
  return result.status === 'FINISHED' ? EXIT.ok : result.status === 'KILLED' ? 130 : EXIT.failed;
}

interface QueueFlags {
  queue?: string | undefined;
  'queue-name'?: string | undefined;
  retries?: string | undefined;
}

/** The queue to launch on: --queue, else the sweep's `launcher:`, else ABLATE_QUEUE; none: local. */
export function chooseQueue(spec: LauncherSpec | undefined, flags: QueueFlags, env: NodeJS.ProcessEnv = process.env): { url: string; queue: string; retries: number } | undefined {
  let retries: number | undefined;
  if (flags.retries !== undefined) {
    retries = Number(flags.retries);
    if (!Number.isInteger(retries) || retries < 0) throw new UsageError(`--retries expects a whole number ≥ 0, got "${flags.retries}"`);
  }
  const fromSpec = spec?.kind === 'queue' ? spec : undefined;
  const url = flags.queue ?? (spec?.kind === 'local' ? undefined : (fromSpec?.redis ?? env.ABLATE_QUEUE));
  if (!url) return undefined;
  if (!/^rediss?:\/\//.test(url)) throw new UsageError(`${flags.queue ? '--queue' : 'ABLATE_QUEUE'} expects a redis:// URL, got "${url}"`);
  return { url, queue: flags['queue-name'] ?? fromSpec?.queue ?? DEFAULT_QUEUE, retries: retries ?? fromSpec?.retries ?? 1 };
}

async function queueVerb(verb: 'status' | 'cancel', sweepId: string, flags: QueueFlags & { json?: boolean | undefined }): Promise<number> {
  const url = flags.queue ?? process.env.ABLATE_QUEUE;
  if (!url) throw new UsageError(`sweep ${verb} needs --queue redis://host:port/db (or ABLATE_QUEUE)`);
  const name = flags['queue-name'] ?? DEFAULT_QUEUE;
  const { queueStatus, formatStatus, cancelSweep } = await import('../sweep/queue-status.js');
  if (verb === 'status') {
    const rows = await queueStatus(url, name, sweepId);
    if (flags.json) console.log(JSON.stringify(rows));
    else console.log(formatStatus(sweepId, url, rows));
    return rows.length === 0 ? EXIT.failed : EXIT.ok;
  }
  const r = await cancelSweep(url, name, sweepId);
  console.error(`sweep ${sweepId}: ${r.removed} waiting trial(s) removed, ${r.stopping} running trial(s) stopping (their runs end KILLED)`);
  return EXIT.ok;
}

export function summary(r: SweepResult, metric: string): string {
  const count = (s: string) => r.trials.filter((t) => t.status === s).length;
  const skipped = r.trials.filter((t) => t.action === 'skip').length;
  const notRun = r.trials.filter((t) => t.status === undefined).length;
  const parts = [`${count('FINISHED')} finished${skipped ? ` (${skipped} earlier)` : ''}`];
  if (count('FAILED')) parts.push(`${count('FAILED')} failed`);
  if (count('KILLED')) parts.push(`${count('KILLED')} killed`);
  if (notRun) parts.push(`${notRun} not started`);
  const w = Math.max(5, ...r.trials.map((t) => t.name.length));
  const lines = [
    `sweep ${r.id} ${r.status} in ${fmtDuration(r.seconds)}: ${r.trials.length} trials, ${parts.join(', ')}`,
    `  ${'trial'.padEnd(w)}  ${'status'.padEnd(9)}  ${metric.padEnd(12)}  time`,
    ...r.trials.map(
      (t) =>
        `  ${t.name.padEnd(w)}  ${(t.action === 'skip' ? 'skipped' : (t.status ?? 'not run')).padEnd(9)}  ${fmtMetric(t.metric).padEnd(12)}  ${t.seconds !== undefined ? fmtDuration(t.seconds) : '–'}`,
    ),
  ];
  const failed = r.trials.filter((t) => t.status === 'FAILED');
  if (failed.length > 0) {
    lines.push('', 'failures:');
    for (const t of failed) {
      lines.push(`  ${t.name} (run ${t.runId ?? '?'}): ${(t.error ?? 'failed').split('\n').slice(0, 3).join(' | ')}`);
      if (t.logFile) lines.push(`    log: ${relative(process.cwd(), t.logFile)}`);
    }
  }
  if (r.status === 'KILLED') lines.push('', 'interrupted: rerun the same command to continue (finished trials are skipped).');
  else if (r.status === 'FAILED') lines.push('', 'rerun the same command to retry the failed trials (finished ones are skipped).');
  lines.push('', `compare: ablate compare ${r.id}`);
  return lines.join('\n');
}
