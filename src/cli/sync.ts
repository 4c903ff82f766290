// `ablate sync`: uploads what the local store has and the MLflow server does not: runs recorded
// while the server was unreachable, the tail of runs it lost mid-way, runs killed before they
// could finish uploading, or a local-only store pushed to a server for the first time.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isRestUri, MlflowClient, syncStore } from '../track/index.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';

const HELP = `Usage: ablate sync [options]

Uploads to an MLflow server every run of the local store that the server does not fully have:
params, tags, metrics (from where the last upload stopped), artifacts and the final status.
Safe to repeat; runs still being written by a live process are skipped.

Options:
  --uri url          MLflow server (default: MLFLOW_TRACKING_URI)
  --store dir        local store (default: runs/)
  --experiment name  only this experiment (name or id)
  --run id           only this run (repeatable)
  --retries n        tries per request on 429/5xx/network errors (default 5, with backoff)

Credentials: MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD.`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, {
    uri: { type: 'string' },
    store: { type: 'string' },
    experiment: { type: 'string' },
    run: { type: 'string', multiple: true },
    retries: { type: 'string' },
  });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.positionals.length > 0 || args.overrides.length > 0) throw new UsageError(`unexpected argument "${[...args.positionals, ...args.overrides][0]}"\n\n${HELP}`);
  const uri = args.values.uri ?? process.env.MLFLOW_TRACKING_URI;
  if (!isRestUri(uri)) throw new UsageError(`needs an MLflow server: --uri http(s)://… or MLFLOW_TRACKING_URI${uri ? ` (got "${uri}", not http(s))` : ''}`);
  const retries = args.values.retries;
  if (retries !== undefined && !/^[1-9]\d*$/.test(retries)) throw new UsageError(`--retries must be a positive whole number, got "${retries}"`);
  const root = resolve(args.values.store ?? 'runs');
  if (!existsSync(root)) {
    console.error(`ablate sync: no local store at ${root}`);
    return EXIT.failed;
  }
  const client = new MlflowClient({ uri, log: (m) => console.error(`  ${m}`), ...(retries ? { retry: { attempts: Number(retries) } } : {}) });
  console.log(`sync ${root} → ${client.displayUri}`);
  const summary = await syncStore(root, client, {
    experiment: args.values.experiment,
    runIds: args.values.run,
    log: (m) => console.error(`  ${m}`),
    onRun: (r) => {
      const id = r.localRunId.slice(0, 8);
      if ('error' in r) console.log(`  ${id}  failed: ${r.error}`);
      else if ('skipped' in r) console.log(`  ${id}  skipped: ${r.skipped}`);
      else console.log(`  ${id}  → ${r.remoteRunId.slice(0, 8)}  ${r.sent.params} params, ${r.sent.tags} tags, ${r.sent.metrics} metric points, ${r.sent.artifacts} artifacts${r.complete ? '' : ' (run still open)'}`);
    },
  });
  const { synced, skipped, failed } = summary;
  console.log(`${synced.length} uploaded, ${skipped.length} skipped, ${failed.length} failed`);
  if (failed.length > 0) console.error('ablate sync: some runs were not uploaded; they stay in the local store, run `ablate sync` again later');
  return failed.length > 0 ? EXIT.failed : EXIT.ok;
}
