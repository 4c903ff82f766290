// `ablate worker`: take the trials of queued sweeps from a BullMQ queue in Redis and run each as a
// child `ablate run`, on any number of machines. Checks first that Redis, the cache folder and the
// tracking store are reachable from here, and says which one is not.
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_QUEUE, pingRedis, shownUrl } from '../sweep/queue.js';
import { QueueWorker, writableDir } from '../sweep/queue-worker.js';
import { storeRoot } from '../sweep/records.js';
import { type MlflowClient, MlflowError, RemoteUnavailableError } from '../track/rest-client.js';
import { remoteClient } from '../track/tracker.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';

const HELP = `Usage: ablate worker --queue redis://host:6379/0 [options]

Runs the trials of sweeps started with \`ablate sweep … --queue URL\` (or \`launcher: {kind: queue}\`),
each as a child \`ablate run\`, on this machine. Start one per machine (or more); they share the
stage cache through a folder every machine mounts and track into one store. docs/distributed.md.

Options:
  --queue URL          Redis URL (default: ABLATE_QUEUE)
  --queue-name NAME    queue name (default ${DEFAULT_QUEUE}; the sweep's launcher.queue)
  --concurrency N      trials at once on this worker (default 1)
  --cache DIR          cache folder to check at start (default .cache/ablate, the spec default)
  --store URI          tracking store to check at start (default MLFLOW_TRACKING_URI or runs/);
                       for a server: that it answers with this machine's credentials, and
                       that its local mirror (ABLATE_MIRROR, else runs/) is writable
  --lease-seconds S    a job's lease, renewed every S/2 while its trial runs; a dead worker's
                       trials move to another worker after about 2×S (default 30)
SIGTERM (or Ctrl-C): running trials checkpoint, end their runs and go back to the queue; again: kill.
Exit codes: 0 stopped, 1 a start-up check failed, 2 usage.`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, {
    queue: { type: 'string' },
    'queue-name': { type: 'string' },
    concurrency: { type: 'string' },
    cache: { type: 'string' },
    store: { type: 'string' },
    'lease-seconds': { type: 'string' },
  });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.positionals.length > 0 || args.overrides.length > 0) throw new UsageError(`unexpected argument "${[...args.positionals, ...args.overrides][0]}"\n\n${HELP}`);
  const url = args.values.queue ?? process.env.ABLATE_QUEUE;
  if (!url) throw new UsageError('--queue redis://host:port/db is required (or ABLATE_QUEUE)');
  if (!/^rediss?:\/\//.test(url)) throw new UsageError(`--queue expects a redis:// URL, got "${url}"`);
  const concurrency = positiveInt(args.values.concurrency, '--concurrency', 1);
  const leaseMs = positiveInt(args.values['lease-seconds'], '--lease-seconds', 30) * 1000;

  const problems = await startupProblems(url, args.values.cache ?? '.cache/ablate', args.values.store ?? process.env.MLFLOW_TRACKING_URI);
  if (problems.length > 0) {
    for (const p of problems) console.error(`ablate worker: ${p}`);
    return EXIT.failed;
  }

  const worker = new QueueWorker({ url, queue: args.values['queue-name'] ?? DEFAULT_QUEUE, concurrency, leaseMs, out: process.stderr });
  const closed = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.stderr.write(`\nablate worker: ${sig}: running trials checkpoint and go back to the queue (again to kill them now)\n`);
      void worker.handBack().then(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await closed;
  // BullMQ may leave a timer or two behind; the worker's job is done.
  await sleep(100);
  process.exit(EXIT.ok);
}

function positiveInt(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} expects a positive integer, got "${v}"`);
  return n;
}

/**
 * Each thing this worker needs and cannot reach, as a line naming it: Redis, the cache folder, the
 * tracking store (a folder that must be writable, or an MLflow server that must answer its API with
 * this machine's credentials, and the local folder that mirrors it).
 */
export async function startupProblems(url: string, cacheDir: string, storeUri: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const problems: string[] = [];
  const redis = await pingRedis(url);
  if (redis) problems.push(`redis ${shownUrl(url)} unreachable: ${redis}`);
  const cache = writableDir(cacheDir);
  if (cache) problems.push(`cache folder ${cacheDir} not writable: ${cache}`);
  const server = remoteClient(storeUri, env, { retry: { attempts: 1 } });
  if (server) {
    const p = await serverProblem(server);
    if (p) problems.push(`tracking server ${server.displayUri} ${p}`);
  }
  const root = storeRoot(storeUri, env);
  const store = writableDir(root);
  if (store) problems.push(`${server ? 'local mirror of the tracking server' : 'tracking store'} ${root} not writable: ${store}`);
  return problems;
}

/** Why the server cannot be used from here, or undefined: one API call a worker's reads make. */
async function serverProblem(client: MlflowClient): Promise<string | undefined> {
  try {
    await client.withTimeout(3000).getExperimentByName('Default');
    return undefined;
  } catch (e) {
    if (e instanceof MlflowError) {
      if (e.httpStatus === 401 || e.httpStatus === 403) return `refuses this worker's credentials (${e.httpStatus} ${e.errorCode}; MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD)`;
      return `does not answer as an MLflow server: ${e.message}`;
    }
    return `unreachable: ${e instanceof RemoteUnavailableError ? (/\(([^()]*)\)$/.exec(e.message)?.[1] ?? e.message) : String(e)}`;
  }
}
