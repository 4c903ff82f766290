// What the tracking store knows about a sweep: its parent run, the runs of its trials, and the
// records the sweep itself writes when a trial could not (a child that died before or without
// ending its run). Everything else about a run is written by the child, as for any `ablate run`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FileStore, PROCESS_FILE, type ProcessInfo, RunFolder, currentProcess, isAlive } from '../track/file-store.js';
import { writeFileAtomic } from '../track/fs-util.js';
import { LIMITS, safeKey } from '../track/keys.js';
import { formatLine } from '../track/metric-line.js';
import { readRun } from '../track/reader.js';
import { localStoreRoot, remoteClient } from '../track/tracker.js';
import { closeDeadRun, recoverDeadRuns } from '../track/recovery.js';
import type { MlflowClient } from '../track/rest-client.js';
import { readRemoteRun, searchRemoteRuns } from '../track/remote-reader.js';
import { loadSyncState, remoteRunIdResolver, syncRun } from '../track/sync.js';
import { TAG, currentUser, systemTags } from '../track/tags.js';
import { type Log, RUN_STATUS, type RunRecord } from '../track/types.js';
import type { EndStatus } from './pool.js';

/** Tags the sweep adds beside the tracking layer's `ablate.sweep_id` and `ablate.axis.*`. */
export const SWEEP_TAG = {
  role: 'ablate.sweep.role',
  trial: 'ablate.sweep.trial',
  name: 'ablate.sweep.name',
  /** Queue launcher: the worker (host:pid) that ran this run, and which delivery of the trial it was. */
  worker: 'ablate.sweep.worker',
  attempt: 'ablate.sweep.attempt',
  /** Queue launcher: why the worker stopped this run (SIGTERM, a lapsed lease, cancel), when it did. */
  stopped: 'ablate.sweep.stopped',
} as const;

export interface SweepRecordInput {
  id: string;
  name: string;
  experiment: string;
  file: string;
  axes: string[];
  trials: number;
  metric: string;
  goal: string;
}

/** A sweep that cannot start (the same sweep is already running): a message, not a bug. */
export class SweepError extends Error {}

/** The local store a sweep reads and resumes from (for an MLflow server: its local mirror). */
export function storeRoot(uri: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return localStoreRoot(uri, process.cwd(), env);
}

/**
 * The server whose local mirror `storeRoot(uri)` is, or undefined. Short retries, as a run's start
 * and end use, and none of them printed: a server that is down costs the sweep one line, which
 * would otherwise break into its progress board.
 */
export function sweepRemote(uri: string | undefined, env: NodeJS.ProcessEnv = process.env): MlflowClient | undefined {
  return remoteClient(uri, env, { retry: { attempts: 3 } });
}

/** Which runs of a sweep to read, and from where. */
export interface SweepRunsQuery {
  /** The experiments the sweep's trials track into (a server is searched by experiment). */
  experiments: readonly string[];
  /** Only the runs of this trial (its resolved-spec hash). */
  hash?: string;
  /** Where a server that cannot be read is said. */
  log?: Log;
}

/**
 * Every run (parent included) of a sweep in the tracking store its trials write to: the local
 * store, and with an MLflow server also the server's runs that this store has no copy of (runs of
 * other machines, which share only the server). Resume decisions, the controller's and each
 * worker's, read this. A server that cannot be read is said, and the local store alone decides:
 * at worst a trial runs again (its stages come from the cache), it is never taken as done on a
 * guess. Reads only, so --dry-run may use it.
 */
export async function trackedSweepRuns(root: string, remote: MlflowClient | undefined, sweepId: string, q: SweepRunsQuery): Promise<RunRecord[]> {
  const local = readSweepRuns(root, sweepId).filter((r) => q.hash === undefined || r.tags[TAG.specHash] === q.hash);
  if (!remote) return local;
  let far: RunRecord[];
  try {
    far = await searchRemoteRuns(remote, q.experiments, { [TAG.sweepId]: sweepId, ...(q.hash !== undefined ? { [TAG.specHash]: q.hash } : {}) });
  } catch (e) {
    q.log?.(`mlflow: ${e instanceof Error ? e.message : String(e)}; deciding from the runs in ${root} only`);
    return local;
  }
  // A run of this store is on the server under its own id, or under the id its upload got when
  // the server was down at its start.
  const known = new Set(local.flatMap((r) => [r.info.runId, loadSyncState(r.dir, remote.displayUri).runId ?? '']));
  return [...local, ...far.filter((r) => !known.has(r.info.runId))].sort((a, b) => a.info.startTime - b.info.startTime);
}

/** The process that writes (or wrote) a run: its process.json, or for a server's run its tag. */
export function runWriter(r: RunRecord): ProcessInfo | undefined {
  if (!r.remote) return RunFolder.open(r.dir)?.processInfo();
  try {
    const p = JSON.parse(r.tags[TAG.process] ?? '') as ProcessInfo;
    return typeof p.pid === 'number' && typeof p.host === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}

export class SweepRecords {
  readonly store: FileStore;
  readonly experimentId: string;
  private uploadFailed = false;

  constructor(
    readonly root: string,
    private readonly experimentName: string,
    private readonly remote?: MlflowClient,
  ) {
    this.store = new FileStore(root);
    this.store.init();
    this.experimentId = this.store.ensureExperiment(experimentName).experiment_id;
  }

  /**
   * Uploads a run the sweep itself writes, best effort: the parent, before the trials start (so
   * that their live uploads find its server id for `mlflow.parentRunId`) and after it ends; and a
   * trial's run the sweep had to record or close because its child could not (died, never
   * started), which nobody else would upload. The local mirror stays complete either way, and a
   * failure is said once per sweep.
   */
  async upload(run: RunFolder, log: Log, what = 'run'): Promise<void> {
    if (!this.remote) return;
    try {
      await syncRun(run.dir, this.remote, { artifacts: true, log, resolveRunId: remoteRunIdResolver(this.root, this.remote.displayUri) });
    } catch (e) {
      if (this.uploadFailed) return;
      this.uploadFailed = true;
      log(`mlflow: ${e instanceof Error ? e.message : String(e)}; ${what} ${run.meta.run_id} is recorded in ${run.dir}, \`ablate sync\` uploads the rest`);
    }
  }

  /**
   * The trial runs of a sweep (parent excluded) in the store its trials write to (see
   * trackedSweepRuns), after closing this host's dead ones in the local store.
   */
  async trialRuns(sweepId: string, q: Partial<SweepRunsQuery> = {}): Promise<RunRecord[]> {
    recoverDeadRuns(this.root);
    const runs = await trackedSweepRuns(this.root, this.remote, sweepId, { ...q, experiments: q.experiments ?? [this.experimentName] });
    return runs.filter((r) => r.tags[SWEEP_TAG.role] !== 'parent');
  }

  sweepRuns(sweepId: string): RunRecord[] {
    return readSweepRuns(this.root, sweepId);
  }

  /**
   * Whether a RUNNING run is written by a live process of this host (an earlier sweep's orphan, a
   * trial another worker here runs). A writer on another host cannot be asked: false.
   */
  isLive(r: RunRecord): boolean {
    const p = runWriter(r);
    return r.info.status === 'RUNNING' && p !== undefined && p.host === hostname() && isAlive(p);
  }

  /**
   * Closes a RUNNING run whose process is dead or gone, FAILED with `reason`, where it is recorded:
   * in the local store (and uploaded), or on the server for a server's run of another machine.
   */
  async closeDead(r: RunRecord, reason: string, log: Log): Promise<void> {
    if (!r.remote) {
      const folder = RunFolder.open(r.dir);
      if (!folder) return;
      closeDeadRun(folder, reason);
      await this.upload(folder, log);
      return;
    }
    if (!this.remote) return;
    try {
      await this.remote.setTag(r.info.runId, TAG.error, reason.slice(0, LIMITS.tagValue));
      await this.remote.updateRun(r.info.runId, 'FAILED', Date.now());
    } catch (e) {
      log(`mlflow: ${e instanceof Error ? e.message : String(e)}; run ${r.info.runId} stays RUNNING on ${this.remote.displayUri}`);
    }
  }

  /** The sweep's parent run: reopened when the sweep resumes, created otherwise. */
  openParent(input: SweepRecordInput, cwd = process.cwd()): RunFolder {
    const existing = this.sweepRuns(input.id).find((r) => r.tags[SWEEP_TAG.role] === 'parent');
    let run: RunFolder;
    if (existing) {
      run = RunFolder.open(existing.dir)!;
      run.meta = { ...run.meta, status: RUN_STATUS.RUNNING, end_time: null };
      writeFileAtomic(join(run.dir, PROCESS_FILE), JSON.stringify(currentProcess()), run.dir);
      run.writeMeta();
    } else {
      run = this.store.createRun({ experimentId: this.experimentId, runName: `sweep ${input.id}`, userId: currentUser(), startTime: Date.now() });
      const tags = {
        ...systemTags({ runName: `sweep ${input.id}`, cwd, source: input.file }),
        [TAG.sweepId]: input.id,
        [SWEEP_TAG.role]: 'parent',
        [SWEEP_TAG.name]: input.name,
      };
      for (const [k, v] of Object.entries(tags)) run.setTag(k, v);
      const params: Record<string, string> = {
        'sweep.file': input.file,
        'sweep.axes': input.axes.join(','),
        'sweep.trials': String(input.trials),
        'sweep.metric': input.metric,
        'sweep.goal': input.goal,
      };
      for (const [k, v] of Object.entries(params)) run.logParam(k, v);
    }
    return run;
  }

  /** A run's id on the server, once it has been uploaded there. */
  remoteRunId(run: RunFolder): string | undefined {
    return this.remote ? loadSyncState(run.dir, this.remote.displayUri).runId : undefined;
  }

  runFolder(runId: string): RunFolder | undefined {
    const dir = this.store.findRun(runId);
    return dir ? RunFolder.open(dir) : undefined;
  }

  /** The run's last value of `metric`: from the local store, else from the server (another machine's run). */
  async finalMetric(runId: string, metric: string): Promise<number | undefined> {
    const dir = this.store.findRun(runId);
    if (dir) return readRun(dir, { history: false })?.metrics[metric];
    if (!this.remote) return undefined;
    try {
      return (await readRemoteRun(this.remote, runId))?.metrics[metric];
    } catch {
      return undefined; // the events' last value stands
    }
  }

  writeArtifact(run: RunFolder, name: string, content: string): void {
    mkdirSync(run.artifactsDir, { recursive: true });
    writeFileSync(join(run.artifactsDir, name), content);
  }

  endParent(run: RunFolder, status: EndStatus, metrics: Record<string, number>): void {
    const now = Date.now();
    for (const [k, v] of Object.entries(metrics)) appendMetric(run, k, v, now);
    run.meta = { ...run.meta, status: RUN_STATUS[status], end_time: now };
    run.writeMeta();
  }

  /**
   * A child ended without ending its run (crash, kill -9, out of memory): close the run it opened
   * with the error; when it died before opening one, write a FAILED run for the trial so that the
   * failure is in the store like any other result.
   */
  recordUnreported(opts: {
    runId?: string;
    status: EndStatus;
    error: string;
    sweepId: string;
    parentRunId: string;
    trialName: string;
    trialIndex: number;
    tags: Record<string, string>;
    startTime: number;
  }): string {
    if (opts.runId) {
      const dir = this.store.findRun(opts.runId);
      const run = dir ? RunFolder.open(dir) : undefined;
      if (run && run.meta.status === RUN_STATUS.RUNNING) {
        closeDeadRun(run, opts.error);
        if (opts.status === 'KILLED') {
          run.meta = { ...run.meta, status: RUN_STATUS.KILLED };
          run.writeMeta();
        }
      }
      return opts.runId;
    }
    const run = this.store.createRun({ experimentId: this.experimentId, runName: opts.trialName, userId: currentUser(), startTime: opts.startTime });
    const tags: Record<string, string> = {
      [TAG.runName]: opts.trialName,
      [TAG.user]: currentUser(),
      [TAG.parentRunId]: opts.parentRunId,
      [TAG.sweepId]: opts.sweepId,
      [SWEEP_TAG.trial]: String(opts.trialIndex),
      [TAG.error]: opts.error.slice(0, 4000),
      ...opts.tags,
    };
    for (const [k, v] of Object.entries(tags)) run.setTag(safeKey(k), v);
    run.meta = { ...run.meta, status: RUN_STATUS[opts.status], end_time: Date.now() };
    run.writeMeta();
    return run.meta.run_id;
  }
}

function appendMetric(run: RunFolder, key: string, value: number, ts: number): void {
  const path = run.metricPath(key);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `${formatLine(ts, value, 0)}\n`, { flag: 'a' });
}

export function sweepIdOf(tags: Record<string, string>): string | undefined {
  return tags[TAG.sweepId];
}

/** Every run (parent included) of a sweep, oldest first; reads only, so --dry-run may use it. */
export function readSweepRuns(root: string, sweepId: string, history = false): RunRecord[] {
  const store = new FileStore(root);
  const out: RunRecord[] = [];
  // Every experiment: an axis may set track.experiment, so trials need not share one.
  for (const exp of store.experimentIds()) {
    for (const dir of store.runDirs(exp)) {
      const r = readRun(dir, { history });
      if (r && sweepIdOf(r.tags) === sweepId && r.info.lifecycleStage === 'active') out.push(r);
    }
  }
  return out.sort((a, b) => a.info.startTime - b.info.startTime);
}
