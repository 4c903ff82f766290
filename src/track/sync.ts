// Uploads a local run folder to an MLflow server, incrementally. The local store is always written
// first; this is the only path to the server, used every few seconds by a live run and later by
// `ablate sync` for whatever a run could not send (server down, process killed). What has been sent
// is kept per server in the run's `.ablate-sync.json`, so a retry resends at most one batch
// (MLflow stores a repeated metric point once, and params/tags with the same value are no-ops).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Batch, splitBatches } from './batch.js';
import { type ExperimentMeta, FileStore, isAlive, readYaml, RunFolder, SYNC_FILE } from './file-store.js';
import { writeFileAtomic } from './fs-util.js';
import { LIMITS } from './keys.js';
import { parseLine } from './metric-line.js';
import { files } from './reader.js';
import { recoverDeadRuns } from './recovery.js';
import { type BatchMetric, type KeyValue, type MlflowClient, MlflowError, RemoteUnavailableError } from './rest-client.js';
import { TAG } from './tags.js';
import { type Log, RUN_STATUS, statusName } from './types.js';

export interface SyncState {
  experimentId?: string;
  runId?: string;
  artifactUri?: string;
  params: string[];
  /** Tag key → value as sent (a parent run's server id, not the local one). */
  tags: Record<string, string>;
  /** Metric key → bytes of its file already sent. */
  metrics: Record<string, number>;
  /** Artifact path → "size:mtime" last uploaded. */
  artifacts: Record<string, string>;
  status?: string;
  /** Items the server refused for good (reported once, not retried forever). */
  rejected: string[];
}

export interface SyncOptions {
  artifacts?: boolean;
  log?: Log;
  /** Local run id → remote run id, for `mlflow.parentRunId` of a sweep trial. */
  resolveRunId?: (localRunId: string) => string | undefined;
}

export interface SyncResult {
  localRunId: string;
  remoteRunId: string;
  sent: { metrics: number; params: number; tags: number; artifacts: number };
  /** Finished run, everything sent including its final status. */
  complete: boolean;
}

export function loadSyncState(dir: string, uri: string): SyncState {
  const all = readSyncFile(dir);
  return { params: [], tags: {}, metrics: {}, artifacts: {}, rejected: [], ...all[uri] };
}

export function readSyncFile(dir: string): Record<string, Partial<SyncState>> {
  try {
    return JSON.parse(readFileSync(join(dir, SYNC_FILE), 'utf8')) as Record<string, Partial<SyncState>>;
  } catch {
    return {};
  }
}

export function saveSyncState(dir: string, uri: string, state: SyncState): void {
  const all = readSyncFile(dir);
  all[uri] = state;
  writeFileAtomic(join(dir, SYNC_FILE), JSON.stringify(all), dir);
}

interface PendingMetric extends BatchMetric {
  end: number;
}

export async function syncRun(dir: string, client: MlflowClient, opts: SyncOptions = {}): Promise<SyncResult> {
  const log = opts.log ?? (() => {});
  const uri = client.displayUri;
  const run = RunFolder.open(dir);
  if (!run) throw new Error(`${dir} is not a run folder (no readable meta.yaml)`);
  const state = loadSyncState(dir, uri);
  const save = () => saveSyncState(dir, uri, state);
  const sent = { metrics: 0, params: 0, tags: 0, artifacts: 0 };

  if (!state.runId) {
    const exp = readYaml<ExperimentMeta>(join(dirname(dir), 'meta.yaml'));
    const experimentId = await client.ensureExperiment(exp?.name ?? 'Default');
    const info = await client.createRun({
      experimentId,
      runName: run.meta.run_name,
      startTime: run.meta.start_time,
      userId: run.meta.user_id,
    });
    Object.assign(state, { experimentId, runId: info.run_id, artifactUri: info.artifact_uri });
    save();
  }
  const remoteRunId = state.runId!;

  const params: KeyValue[] = [];
  const done = new Set(state.params);
  for (const [key, path] of files(join(dir, 'params'))) {
    if (done.has(key) || state.rejected.includes(`param:${key}`)) continue;
    const value = readFileSync(path, 'utf8');
    if (value.length > LIMITS.paramValue) reject(state, `param:${key}`, `value of ${value.length} characters`, log);
    else params.push({ key, value });
  }
  const tags: KeyValue[] = [];
  for (const [key, path] of files(join(dir, 'tags'))) {
    const value = remoteTag(key, readFileSync(path, 'utf8'), opts.resolveRunId);
    if (state.tags[key] !== value) tags.push({ key, value });
  }
  const metrics: PendingMetric[] = [];
  for (const [key, path] of files(join(dir, 'metrics'))) {
    const from = state.metrics[key] ?? 0;
    const buf = readFileSync(path);
    const end = buf.lastIndexOf(0x0a) + 1;
    if (end <= from) continue;
    let at = from;
    let parsed = 0;
    for (const line of buf.subarray(from, end).toString('utf8').split('\n')) {
      at += Buffer.byteLength(line) + 1;
      const p = parseLine(line);
      if (p) {
        metrics.push({ key, ...p, end: Math.min(at, end) });
        parsed++;
      }
    }
    // Only unparseable lines (not ours): move on rather than read them on every sync.
    if (parsed === 0) state.metrics[key] = end;
  }

  const apply = (b: Batch<PendingMetric>) => {
    for (const p of b.params) state.params.push(p.key);
    // What the server has, so a parent id resolved only later (parent uploaded after the trial) is resent.
    for (const t of b.tags) state.tags[t.key] = t.value;
    for (const m of b.metrics) state.metrics[m.key] = Math.max(state.metrics[m.key] ?? 0, m.end);
    sent.params += b.params.length;
    sent.tags += b.tags.length;
    sent.metrics += b.metrics.length;
  };
  for (const b of splitBatches<PendingMetric>({ metrics, params, tags })) {
    try {
      await client.logBatch(remoteRunId, { metrics: b.metrics.map(strip), params: b.params, tags: b.tags });
    } catch (e) {
      if (!(e instanceof MlflowError && e.httpStatus === 400)) throw e;
      // One bad item fails the whole call: send one by one so only that item is dropped.
      await sendOneByOne(client, remoteRunId, b, state, log);
    }
    apply(b);
    save();
  }

  if (opts.artifacts) {
    for (const [rel, path] of files(run.artifactsDir)) {
      const st = statSync(path);
      const sig = `${st.size}:${Math.floor(st.mtimeMs)}`;
      if (state.artifacts[rel] === sig) continue;
      if (!state.artifactUri || !(await client.uploadArtifact(state.artifactUri, rel, readFileSync(path)))) {
        reject(state, 'artifacts', `the run's artifact store (${state.artifactUri ?? 'unknown'}) is not the server's mlflow-artifacts proxy; artifacts stay in ${run.artifactsDir}`, log);
        break;
      }
      state.artifacts[rel] = sig;
      sent.artifacts++;
      save();
    }
  }

  const status = statusName(run.meta.status);
  // RUNNING is sent only to a run ended before: a resumed sweep reopens its parent run.
  if (state.status !== status && (run.meta.status !== RUN_STATUS.RUNNING || state.status !== undefined)) {
    await client.updateRun(remoteRunId, status, run.meta.end_time);
    state.status = status;
    save();
  }
  const complete = run.meta.status !== RUN_STATUS.RUNNING && state.status === status;
  return { localRunId: run.meta.run_id, remoteRunId, sent, complete };
}

async function sendOneByOne(client: MlflowClient, runId: string, b: Batch<PendingMetric>, state: SyncState, log: Log): Promise<void> {
  const one = async (what: string, batch: Partial<Batch>) => {
    try {
      await client.logBatch(runId, batch);
    } catch (e) {
      if (!(e instanceof MlflowError && e.httpStatus === 400)) throw e;
      reject(state, what, e.message, log);
    }
  };
  for (const p of b.params) await one(`param:${p.key}`, { params: [p] });
  for (const t of b.tags) await one(`tag:${t.key}`, { tags: [t] });
  for (const m of b.metrics) await one(`metric:${m.key}@${m.step}`, { metrics: [strip(m)] });
}

/** A tag's value as sent to the server: a parent run named by its server id once that is known. */
function remoteTag(key: string, value: string, resolveRunId: SyncOptions['resolveRunId']): string {
  const remote = key === TAG.parentRunId ? (resolveRunId?.(value) ?? value) : value;
  return remote.slice(0, LIMITS.tagValue);
}

/**
 * Local run id → its server id, read from the sync state of its folder in the local store; for a
 * trial's `mlflow.parentRunId`, whose parent (the sweep's run) is uploaded separately.
 */
export function remoteRunIdResolver(root: string, uri: string): (localRunId: string) => string | undefined {
  const store = new FileStore(root);
  return (localId) => {
    const dir = store.findRun(localId);
    return dir ? loadSyncState(dir, uri).runId : undefined;
  };
}

function reject(state: SyncState, what: string, why: string, log: Log): void {
  if (state.rejected.includes(what)) return;
  state.rejected.push(what);
  log(`mlflow: not uploaded: ${what}: ${why}`);
}

function strip(m: PendingMetric): BatchMetric {
  return { key: m.key, value: m.value, timestamp: m.timestamp, step: m.step };
}

export interface StoreSyncOptions {
  /** Only runs of this experiment (name or local id). */
  experiment?: string;
  /** Only these local run ids. */
  runIds?: string[];
  log?: Log;
  /** Called after each run, e.g. for a progress line. */
  onRun?: (result: SyncResult | { localRunId: string; error: string } | { localRunId: string; skipped: string }) => void;
}

export interface StoreSyncSummary {
  synced: SyncResult[];
  failed: { localRunId: string; error: string }[];
  skipped: { localRunId: string; skipped: string }[];
}

/**
 * Uploads every run of a local store that the server does not fully have yet. Runs still written
 * by a live process are left alone; runs of dead processes are closed as FAILED first.
 */
export async function syncStore(root: string, client: MlflowClient, opts: StoreSyncOptions = {}): Promise<StoreSyncSummary> {
  recoverDeadRuns(root);
  const store = new FileStore(root);
  const summary: StoreSyncSummary = { synced: [], failed: [], skipped: [] };
  const dirs: RunFolder[] = [];
  for (const id of store.experimentIds()) {
    const name = store.experiment(id)?.name;
    if (opts.experiment && opts.experiment !== id && opts.experiment !== name) continue;
    for (const dir of store.runDirs(id)) {
      const run = RunFolder.open(dir);
      if (run && (!opts.runIds || opts.runIds.includes(run.meta.run_id))) dirs.push(run);
    }
  }
  // Parents (sweeps) first, so a trial's mlflow.parentRunId can name the parent's server id.
  const hasParent = (r: RunFolder) => existsSync(join(r.dir, 'tags', TAG.parentRunId));
  dirs.sort((a, b) => Number(hasParent(a)) - Number(hasParent(b)) || a.meta.start_time - b.meta.start_time);
  const resolveRunId = remoteRunIdResolver(root, client.displayUri);
  for (const run of dirs) {
    const localRunId = run.meta.run_id;
    const proc = run.processInfo();
    if (run.meta.status === RUN_STATUS.RUNNING && proc && isAlive(proc)) {
      const s = { localRunId, skipped: `still running (pid ${proc.pid}); it uploads itself` };
      summary.skipped.push(s);
      opts.onRun?.(s);
      continue;
    }
    const state = loadSyncState(run.dir, client.displayUri);
    if (state.status && state.status === statusName(run.meta.status) && !hasUnsent(run.dir, state, resolveRunId)) {
      const s = { localRunId, skipped: 'already uploaded' };
      summary.skipped.push(s);
      opts.onRun?.(s);
      continue;
    }
    try {
      const r = await syncRun(run.dir, client, { artifacts: true, log: opts.log, resolveRunId });
      summary.synced.push(r);
      opts.onRun?.(r);
    } catch (e) {
      const f = { localRunId, error: e instanceof Error ? e.message : String(e) };
      summary.failed.push(f);
      opts.onRun?.(f);
      // A server that is down for one run is down for the rest: stop instead of waiting on each.
      if (e instanceof RemoteUnavailableError) break;
    }
  }
  return summary;
}

/** Cheap check for files changed after the last upload (e.g. a recovered run's new tag). */
function hasUnsent(dir: string, state: SyncState, resolveRunId: SyncOptions['resolveRunId']): boolean {
  for (const [key, path] of files(join(dir, 'metrics'))) if (statSync(path).size > (state.metrics[key] ?? 0)) return true;
  for (const [key] of files(join(dir, 'params'))) if (!state.params.includes(key) && !state.rejected.includes(`param:${key}`)) return true;
  for (const [key, path] of files(join(dir, 'tags'))) if (state.tags[key] !== remoteTag(key, readFileSync(path, 'utf8'), resolveRunId)) return true;
  if (!state.rejected.includes('artifacts')) {
    for (const [rel, path] of files(join(dir, 'artifacts'))) {
      const st = statSync(path);
      if (state.artifacts[rel] !== `${st.size}:${Math.floor(st.mtimeMs)}`) return true;
    }
  }
  return false;
}
