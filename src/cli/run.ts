import { loadSpec } from '../spec/load.js';
import { fdSink } from '../pipeline/events.js';
import { checkSpec } from '../pipeline/check.js';
import { cacheStatus, planPipeline } from '../pipeline/plan.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';
import { summarize } from './summary.js';

const HELP = `Usage: ablate run <spec.yaml> [field.path=value ...] [options]

Compiles the spec into cached stages (ingest → preprocess → [pretrain] → [features] → train →
evaluate), runs what is not cached and records the run in the tracking store (runs/ or
MLFLOW_TRACKING_URI). Overrides apply last and are typed by the schema:
  ablate run configs/crop-ablation.yaml preprocess.crop=squish train.epochs=2

Options:
  --dry-run           print the compiled pipeline (stages, keys, cache hit/miss) and stop
  --tag key=value     extra run tag (repeatable)
  --sweep-id id       tag the run as a trial of a sweep (set by \`ablate sweep\`)
  --parent-run id     MLflow parent run (set by \`ablate sweep\`)
  --run-name name     MLflow run name
  --events            write JSON events to file descriptor 3 (for \`ablate sweep\`)
Exit codes: 0 finished, 1 failed or interrupted, 2 invalid spec or usage.`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, {
    'dry-run': { type: 'boolean' },
    tag: { type: 'string', multiple: true },
    'sweep-id': { type: 'string' },
    'parent-run': { type: 'string' },
    'run-name': { type: 'string' },
    events: { type: 'boolean' },
  });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.positionals.length !== 1) throw new UsageError(`expected one spec file\n\n${HELP}`);
  const loaded = loadSpec(args.positionals[0]!, args.overrides);
  const { spec } = loaded;
  // What the spec alone shows a run would fail on is reported now, not after minutes of training.
  await checkSpec(loaded);

  if (args.values['dry-run']) {
    const plan = await planPipeline(spec);
    console.log(summarize(spec));
    console.log(`spec hash ${loaded.hash.slice(0, 12)}   cache ${spec.cache.enabled ? spec.cache.dir : 'disabled'}\n`);
    const rows = plan.map((s) => [s.kind, s.key, cacheStatus(s, spec), s.inputs.join(',') || '-']);
    const w = [0, 1, 2, 3].map((i) => Math.max(['stage', 'key', 'cache', 'inputs'][i]!.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
    console.log(fmt(['stage', 'key', 'cache', 'inputs']));
    for (const r of rows) console.log(fmt(r));
    return EXIT.ok;
  }

  const tags: Record<string, string> = {};
  for (const t of args.values.tag ?? []) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new UsageError(`--tag expects key=value, got "${t}"`);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  const controller = new AbortController();
  // Ctrl-C: the tracker marks the run KILLED at once (local store first) and the stages are
  // aborted so checkpoints stay whole; if a stage does not stop within 15 s the process exits.
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping (Ctrl-C again to exit now)\n`);
    controller.abort();
    setTimeout(() => process.exit(130), 15_000).unref();
  };
  watchParent(onSignal);
  console.error(summarize(spec));
  const { executePipeline } = await import('../pipeline/execute.js');
  const result = await executePipeline(loaded, {
    signal: controller.signal,
    onSignal,
    ...(args.values.events ? { events: fdSink(3) } : {}),
    ...(args.values['sweep-id'] ? { sweepId: args.values['sweep-id'] } : {}),
    ...(args.values['parent-run'] ? { parentRunId: args.values['parent-run'] } : {}),
    ...(args.values['run-name'] ? { runName: args.values['run-name'] } : {}),
    tags,
  });
  if (result.status === 'FINISHED') {
    console.error(`run ${result.runId} finished`);
    return EXIT.ok;
  }
  console.error(`run ${result.runId ?? ''} ${result.status.toLowerCase()}${result.error && result.status === 'FAILED' ? `: ${result.error.message}` : ''}`);
  if (result.error && result.status === 'FAILED' && process.env.ABLATE_DEBUG) console.error(result.error.stack);
  return EXIT.failed;
}

/**
 * A trial launched by `ablate worker` (ABLATE_PARENT_PID) stops as on SIGTERM when that worker
 * dies (kill -9, out of memory): it checkpoints and ends its run instead of training on, unseen,
 * beside the worker that takes the trial over. Node has no parent-death signal; a poll does.
 */
function watchParent(onSignal: (sig: NodeJS.Signals) => void): void {
  const pid = Number(process.env.ABLATE_PARENT_PID);
  if (!Number.isInteger(pid) || pid <= 1) return;
  const t = setInterval(() => {
    try {
      process.kill(pid, 0);
    } catch {
      clearInterval(t);
      process.stderr.write(`\nablate run: its worker (pid ${pid}) is gone; stopping\n`);
      onSignal('SIGTERM');
    }
  }, 1000);
  t.unref();
}
