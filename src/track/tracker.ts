// The one entry point the executor and sweeps use: `openTracker(...).startRun(...)` gives a run
// that logs to the local file store and, with an http(s) URI, also to an MLflow server. The local
// store is written first and always (it is the mirror `ablate sync` uploads from), so a server
// that is down or slow never stops or loses a run.
import { randomUUID } from 'node:crypto';
import { cp, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StageRun } from '../pipeline/types.js';
import { currentProcess, FileStore, type RunFolder } from './file-store.js';
import { LineAppender, writeFileAtomic } from './fs-util.js';
import { LIMITS, safeKey } from './keys.js';
import { formatLine } from './metric-line.js';
import { type RecoveredRun, recoverDeadRuns } from './recovery.js';
import { isRestUri, MlflowClient, RemoteUnavailableError } from './rest-client.js';
import { loadSyncState, remoteRunIdResolver, saveSyncState, syncRun } from './sync.js';
import { systemTags, TAG } from './tags.js';
import { type EndStatus, type Log, RUN_STATUS, type RetryOptions, type RunStatusName, statusName } from './types.js';

export interface TrackerOptions {
  /** `spec.track.uri`; else MLFLOW_TRACKING_URI; else `runs`. A folder, file:// URI or http(s) server. */
  uri?: string;
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** The local store, and the mirror of a server run (default `<cwd>/runs`). */
  localRoot?: string;
  /** Metrics are buffered in memory and appended at least this often (default 2000 ms). */
  flushIntervalMs?: number;
  /** A live run uploads to the server at most this often (default 5000 ms). */
  syncIntervalMs?: number;
  retry?: Partial<RetryOptions>;
  /** Warnings (server unreachable, keys renamed, values dropped). Default: stderr. */
  log?: Log;
  /** Close runs left RUNNING by dead processes on this host (default true). */
  recover?: boolean;
}

export interface StartRunOptions {
  experiment: string;
  runName?: string;
  tags?: Record<string, string>;
  params?: Record<string, string>;
  parentRunId?: string;
  /** `mlflow.source.name`, e.g. the spec file (default: the script). */
  source?: string;
}

export interface TrackedRun extends StageRun {
  readonly id: string;
  readonly experimentId: string;
  /** The run folder in the local store. */
  readonly runDir: string;
  /** `<runDir>/artifacts`: whatever is written here is an artifact of the run. */
  readonly localDir: string;
  readonly status: RunStatusName;
  logMetric(key: string, value: number, step?: number): void;
  logMetrics(values: Record<string, number>, step?: number): void;
  /** Returns the keys left out because their value is over MLflow's 6000 characters. */
  logParams(params: Record<string, string>): string[];
  setTag(key: string, value: string): void;
  setTags(tags: Record<string, string>): void;
  logArtifact(localPath: string, artifactPath?: string): Promise<void>;
  /** Writes `text` as the artifact file `artifactPath` (e.g. `spec.yaml`). */
  logText(text: string, artifactPath: string): Promise<void>;
  /** Appends buffered metrics now. */
  flush(): void;
  /** Ends the run locally at once, then finishes the upload (bounded retries). Idempotent. */
  end(status?: EndStatus, error?: unknown): Promise<void>;
  /** The local half of end(), synchronous, for exit handlers; `ablate sync` uploads the rest. */
  endSync(status?: EndStatus, error?: unknown): void;
}

export interface Tracker {
  readonly kind: 'local' | 'rest';
  readonly localRoot: string;
  /** The store for messages: a folder, or the server URI without credentials. */
  readonly displayUri: string;
  /** Runs of dead processes that opening this tracker marked FAILED. */
  readonly recovered: RecoveredRun[];
  startRun(opts: StartRunOptions): Promise<TrackedRun>;
}

const stderrLog: Log = (m) => process.stderr.write(`ablate: ${m}\n`);

export function resolveTrackingUri(specUri: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return specUri ?? (env.MLFLOW_TRACKING_URI || undefined) ?? 'runs';
}

/**
 * The local folder where a tracking URI's runs can be read: the folder itself, or for an MLflow
 * server the local mirror (`<cwd>/runs`) that every run writes first. ls, compare and sweep
 * resume read this, so they work the same with or without a server.
 */
export function localStoreRoot(specUri: string | undefined, cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  const uri = resolveTrackingUri(specUri, env);
  if (isRestUri(uri)) return mirrorRoot(cwd, env);
  if (/^file:/i.test(uri)) return fileURLToPath(uri);
  return resolve(cwd, uri);
}

/**
 * Where runs tracked to a server are mirrored: ABLATE_MIRROR, else `<cwd>/runs`. A machine that
 * shares the project folder but should keep its mirror apart (a queue worker whose runs the
 * others read from the server) sets it.
 */
export function mirrorRoot(cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(cwd, env.ABLATE_MIRROR || 'runs');
}

/**
 * The server a tracking URI names (credentials from the URI or env), or undefined for a local
 * store. Whoever writes to `localStoreRoot` outside a tracker (a sweep's parent run) uploads with it.
 */
export function remoteClient(specUri: string | undefined, env: NodeJS.ProcessEnv = process.env, opts: { retry?: Partial<RetryOptions>; log?: Log } = {}): MlflowClient | undefined {
  const uri = resolveTrackingUri(specUri, env);
  return isRestUri(uri) ? new MlflowClient({ uri, env, retry: opts.retry, log: opts.log }) : undefined;
}

export function openTracker(opts: TrackerOptions): Tracker {
  const env = opts.env ?? process.env;
  const log = opts.log ?? stderrLog;
  const uri = resolveTrackingUri(opts.uri, env);
  let localRoot: string;
  const client = remoteClient(opts.uri, env, { retry: opts.retry, log });
  if (client) {
    localRoot = opts.localRoot ? resolve(opts.cwd, opts.localRoot) : mirrorRoot(opts.cwd, env);
  } else if (/^file:/i.test(uri)) {
    localRoot = fileURLToPath(uri);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new Error(`tracking URI ${uri}: use a folder, file:// or an http(s):// MLflow server`);
  } else {
    localRoot = resolve(opts.cwd, uri);
  }
  const store = new FileStore(localRoot);
  store.init();
  const recovered = opts.recover === false ? [] : recoverDeadRuns(localRoot);
  for (const r of recovered) log(`run ${r.runId} (pid ${r.pid}) had died while RUNNING; marked FAILED`);
  return {
    kind: client ? 'rest' : 'local',
    localRoot,
    displayUri: client ? client.displayUri : localRoot,
    recovered,
    startRun: (o) => startRun(store, client, o, { ...opts, log }),
  };
}

const RUN_ID = /^[a-zA-Z0-9][\w-]{0,255}$/;

async function startRun(store: FileStore, client: MlflowClient | undefined, o: StartRunOptions, opts: TrackerOptions & { log: Log }): Promise<TrackedRun> {
  const experiment = store.ensureExperiment(o.experiment);
  const runName = o.runName ?? o.experiment;
  const sys = systemTags({ runName, cwd: opts.cwd, source: o.source, parentRunId: o.parentRunId, env: opts.env });
  const startTime = Date.now();
  let remote: { experimentId: string; runId: string; artifactUri?: string } | undefined;
  // On a server, who writes the run (the local store has process.json for that).
  const writer: Record<string, string> = client ? { [TAG.process]: JSON.stringify(currentProcess()) } : {};
  if (client) {
    try {
      const c = client.withRetry({ attempts: Math.min(3, opts.retry?.attempts ?? 3) });
      const experimentId = await c.ensureExperiment(o.experiment);
      // The run's identity tags (sweep id, spec hash, trial) and its writer from the first
      // moment, not only from its first upload: a worker on another machine deciding this trial
      // must find it while it runs. mlflow.parentRunId waits for the upload, which names the
      // parent by its server id.
      const early = Object.entries({ ...sys, ...(o.tags ?? {}), ...writer })
        .filter(([k, v]) => k !== TAG.parentRunId && safeKey(k) === k && v.length <= LIMITS.tagValue)
        .map(([key, value]) => ({ key, value }));
      const info = await c.createRun({ experimentId, runName, startTime, userId: sys[TAG.user]!, tags: early });
      remote = { experimentId, runId: info.run_id, artifactUri: info.artifact_uri };
    } catch (e) {
      opts.log(`mlflow: ${describe(e)}; recording in ${store.root} only, \`ablate sync\` uploads it later`);
    }
  }
  const folder = store.createRun({
    experimentId: experiment.experiment_id,
    runName,
    userId: sys[TAG.user]!,
    startTime,
    // One id for both stores when the server answered, so `ablate ls` and the MLflow UI agree.
    runId: remote && RUN_ID.test(remote.runId) ? remote.runId : randomUUID().replaceAll('-', ''),
  });
  if (client && remote) saveSyncState(folder.dir, client.displayUri, { ...loadSyncState(folder.dir, client.displayUri), ...remote });
  const run = new LiveRun(folder, client, opts, store.root);
  run.setTags({ ...sys, ...(o.tags ?? {}), ...writer });
  if (o.params) run.logParams(o.params);
  return run;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

class LiveRun implements TrackedRun {
  readonly id: string;
  readonly experimentId: string;
  readonly runDir: string;
  readonly localDir: string;
  private pending = new Map<string, string[]>();
  private pendingCount = 0;
  private appenders = new Map<string, LineAppender>();
  private renamed = new Set<string>();
  private flushTimer: NodeJS.Timeout;
  private syncing: Promise<void> | undefined;
  private nextSyncAt = 0;
  private syncFailures = 0;
  private ended = false;
  private readonly log: Log;
  private readonly resolveRunId: ((localRunId: string) => string | undefined) | undefined;

  constructor(
    private readonly folder: RunFolder,
    private readonly client: MlflowClient | undefined,
    private readonly opts: TrackerOptions & { log: Log },
    storeRoot: string,
  ) {
    this.id = folder.meta.run_id;
    this.experimentId = folder.meta.experiment_id;
    this.runDir = folder.dir;
    this.localDir = folder.artifactsDir;
    this.log = opts.log;
    // A sweep uploads its parent run before its trials start; a trial names it by its server id.
    this.resolveRunId = client && remoteRunIdResolver(storeRoot, client.displayUri);
    this.flushTimer = setInterval(() => this.tick(), opts.flushIntervalMs ?? 2000);
    this.flushTimer.unref();
  }

  get status(): RunStatusName {
    return statusName(this.folder.meta.status);
  }

  logMetric(key: string, value: number, step = 0): void {
    if (typeof value !== 'number') throw new TypeError(`metric ${key}: value must be a number, got ${typeof value}`);
    if (!Number.isSafeInteger(step)) throw new RangeError(`metric ${key}: step must be an integer, got ${step}`);
    if (this.ended) return;
    const k = this.key(key);
    let lines = this.pending.get(k);
    if (!lines) {
      lines = [];
      this.pending.set(k, lines);
    }
    lines.push(formatLine(Date.now(), value, step));
    // Bounded memory when a loop logs faster than the timer flushes.
    if (++this.pendingCount >= 10_000) this.flush();
  }

  logMetrics(values: Record<string, number>, step = 0): void {
    for (const [k, v] of Object.entries(values)) this.logMetric(k, v, step);
  }

  logParams(params: Record<string, string>): string[] {
    const omitted: string[] = [];
    for (const [key, value] of Object.entries(params)) {
      const k = this.key(key);
      if (value.length > LIMITS.paramValue) {
        omitted.push(k);
        continue;
      }
      this.folder.logParam(k, value);
    }
    if (omitted.length) this.log(`params over ${LIMITS.paramValue} characters not logged as params: ${omitted.join(', ')}`);
    return omitted;
  }

  setTag(key: string, value: string): void {
    const k = this.key(key);
    const v = String(value);
    if (v.length > LIMITS.tagValue) this.log(`tag ${k}: value cut to ${LIMITS.tagValue} characters`);
    this.folder.setTag(k, v.slice(0, LIMITS.tagValue));
  }

  setTags(tags: Record<string, string>): void {
    for (const [k, v] of Object.entries(tags)) this.setTag(k, v);
  }

  async logArtifact(localPath: string, artifactPath = ''): Promise<void> {
    const src = resolve(localPath);
    const dest = join(this.artifactDir(artifactPath), basename(src));
    if (src === dest) return;
    const st = await stat(src);
    await cp(src, dest, { recursive: st.isDirectory(), force: true });
  }

  async logText(text: string, artifactPath: string): Promise<void> {
    writeFileAtomic(this.artifactDir(artifactPath), text, this.runDir);
  }

  flush(): void {
    if (this.pendingCount === 0) return;
    for (const [key, lines] of this.pending) {
      let a = this.appenders.get(key);
      if (!a) {
        a = new LineAppender(this.folder.metricPath(key), this.runDir);
        this.appenders.set(key, a);
      }
      a.append(lines);
    }
    this.pending.clear();
    this.pendingCount = 0;
  }

  endSync(status: EndStatus = 'FINISHED', error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.flushTimer);
    try {
      this.flush();
    } catch (e) {
      this.log(`could not write metrics of run ${this.id}: ${describe(e)}`);
    }
    for (const a of this.appenders.values()) a.close();
    if (error !== undefined) {
      const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
      const first = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.folder.setTag(TAG.error, first.slice(0, LIMITS.tagValue));
      writeFileAtomic(join(this.localDir, 'error.txt'), `${text}\n`, this.runDir);
    }
    this.folder.meta = { ...this.folder.meta, status: RUN_STATUS[status], end_time: Date.now() };
    this.folder.writeMeta();
  }

  async end(status: EndStatus = 'FINISHED', error?: unknown): Promise<void> {
    const first = !this.ended;
    this.endSync(status, error);
    if (!first || !this.client) return;
    await this.syncing;
    // A server that failed during the run gets one more try, not a retry budget: each sweep trial
    // would otherwise wait seconds on a server known to be down (`ablate sync` uploads later).
    const attempts = this.syncFailures > 0 ? 1 : Math.min(3, this.opts.retry?.attempts ?? 3);
    try {
      await syncRun(this.runDir, this.client.withRetry({ attempts }), { artifacts: true, log: this.log, resolveRunId: this.resolveRunId });
    } catch (e) {
      this.log(`mlflow: ${describe(e)}; run ${this.id} is complete in ${this.runDir}, \`ablate sync\` uploads the rest`);
    }
  }

  private tick(): void {
    try {
      this.flush();
    } catch (e) {
      this.log(`could not write metrics of run ${this.id}: ${describe(e)}`);
    }
    if (!this.client || this.syncing || Date.now() < this.nextSyncAt) return;
    const interval = this.opts.syncIntervalMs ?? 5000;
    // One attempt per tick: the ticks' own backoff (below) is the retry, and end() must not wait
    // behind a retry budget spent in the background.
    this.syncing = syncRun(this.runDir, this.client.withRetry({ attempts: 1 }), { log: this.log, resolveRunId: this.resolveRunId })
      .then(() => {
        if (this.syncFailures > 0) this.log(`mlflow: ${this.client!.displayUri} reachable again`);
        this.syncFailures = 0;
        this.nextSyncAt = Date.now() + interval;
      })
      .catch((e) => {
        // Said once per outage; the run goes on and the next tries back off up to a minute.
        if (this.syncFailures === 0 || !(e instanceof RemoteUnavailableError)) this.log(`mlflow: ${describe(e)}; still recording locally`);
        this.syncFailures++;
        this.nextSyncAt = Date.now() + Math.min(60_000, interval * 2 ** this.syncFailures);
      })
      .finally(() => {
        this.syncing = undefined;
      });
  }

  private key(key: string): string {
    const k = safeKey(key);
    if (k !== key && !this.renamed.has(key)) {
      this.renamed.add(key);
      this.log(`key '${key}' is not a valid MLflow name; logged as '${k}'`);
    }
    return k;
  }

  private artifactDir(artifactPath: string): string {
    const p = resolve(this.localDir, artifactPath);
    const rel = relative(this.localDir, p);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`artifact path ${artifactPath} leaves the run's artifact folder`);
    return p;
  }
}
