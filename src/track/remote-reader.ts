// Reads runs back from an MLflow server as the same RunRecords the file-store reader gives
// (reader.ts), for readers that must see what other machines tracked there: a queue worker or a
// sweep controller that shares only the tracking server with the machines that ran the trials.
// Latest metric values only (runs/search returns those); no history, no artifacts.
import type { MlflowClient, RemoteRun } from './rest-client.js';
import { type RunRecord, statusName, RUN_STATUS } from './types.js';

/** A filter term of MLflow's search syntax: tags.`key` = 'value' (quotes in the value escaped). */
export function tagEquals(key: string, value: string): string {
  return `tags.\`${key}\` = '${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The active runs of these experiments (by name; one the server does not have has no runs) whose
 * tags equal `tags`, every page.
 */
export async function searchRemoteRuns(client: MlflowClient, experiments: readonly string[], tags: Record<string, string>): Promise<RunRecord[]> {
  const ids: string[] = [];
  for (const name of new Set(experiments)) {
    const e = await client.getExperimentByName(name);
    if (e) ids.push(String(e.experiment_id));
  }
  if (ids.length === 0) return [];
  const filter = Object.entries(tags).map(([k, v]) => tagEquals(k, v)).join(' AND ');
  const out: RunRecord[] = [];
  let pageToken: string | undefined;
  do {
    const page = await client.searchRuns({ experimentIds: ids, filter, ...(pageToken ? { pageToken } : {}) });
    for (const r of page.runs) {
      const rec = remoteRecord(r, client.displayUri);
      if (rec.info.lifecycleStage === 'active') out.push(rec);
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

/** One run by its server id, or undefined when the server has no such run. */
export async function readRemoteRun(client: MlflowClient, runId: string): Promise<RunRecord | undefined> {
  const r = await client.getRun(runId);
  return r ? remoteRecord(r, client.displayUri) : undefined;
}

export function remoteRecord(r: RemoteRun, uri: string): RunRecord {
  const i = r.info;
  const tags = Object.fromEntries((r.data?.tags ?? []).map((t) => [t.key, t.value]));
  const params = Object.fromEntries((r.data?.params ?? []).map((p) => [p.key, p.value]));
  const metrics: Record<string, number> = {};
  for (const m of r.data?.metrics ?? []) metrics[m.key] = number(m.value);
  const status = i.status && i.status in RUN_STATUS ? statusName(RUN_STATUS[i.status as keyof typeof RUN_STATUS]) : 'RUNNING';
  return {
    info: {
      runId: i.run_id ?? (i as unknown as { run_uuid: string }).run_uuid,
      experimentId: String(i.experiment_id),
      runName: i.run_name ?? tags['mlflow.runName'] ?? '',
      status,
      startTime: Number(i.start_time ?? 0),
      endTime: i.end_time === undefined || i.end_time === null ? null : Number(i.end_time),
      artifactUri: i.artifact_uri ?? '',
      lifecycleStage: i.lifecycle_stage ?? 'active',
      userId: i.user_id ?? tags['mlflow.user'] ?? '',
    },
    params,
    tags,
    metrics,
    history: {},
    dir: '',
    remote: uri,
  };
}

/** MLflow's protobuf JSON writes non-finite doubles as strings. */
function number(v: number | string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return Number(v);
}
