// A small typed MLflow REST client on Node's fetch. Only the endpoints ablate needs, with MLflow's
// JSON conventions (protobuf JSON: NaN and infinities as strings, enums as names) and retries on
// the failures that go away by themselves (429, 5xx, network). Credentials come from the
// environment or the URI and never appear in errors or logs: only `displayUri` is ever printed.
import type { Log, RetryOptions } from './types.js';

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseMs: 500, maxMs: 8000 };

export class MlflowError extends Error {
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly errorCode: string,
  ) {
    super(message);
    this.name = 'MlflowError';
  }
}

/** The server could not be reached or kept failing after every retry. */
export class RemoteUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemoteUnavailableError';
  }
}

export interface RemoteExperiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage?: string;
}

export interface RemoteRunInfo {
  run_id: string;
  experiment_id: string;
  artifact_uri?: string;
  status?: string;
}

/** A run as runs/get and runs/search return it (data.metrics: the latest value of each metric). */
export interface RemoteRun {
  info: RemoteRunInfo & { run_name?: string; start_time?: number | string; end_time?: number | string | null; lifecycle_stage?: string; user_id?: string };
  data?: { metrics?: { key: string; value: number | string; timestamp?: number | string; step?: number | string }[]; params?: KeyValue[]; tags?: KeyValue[] };
}

export interface BatchMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}
export interface KeyValue {
  key: string;
  value: string;
}

export interface ClientOptions {
  uri: string;
  env?: NodeJS.ProcessEnv;
  retry?: Partial<RetryOptions>;
  timeoutMs?: number;
  log?: Log;
}

export function isRestUri(uri: string | undefined): uri is string {
  return !!uri && /^https?:\/\//i.test(uri);
}

/** The URI with any user:password removed, safe to print and to store. */
export function redactUri(uri: string): string {
  try {
    const u = new URL(uri);
    u.username = '';
    u.password = '';
    return u.href.replace(/\/+$/, '');
  } catch {
    return uri.replace(/\/\/[^@/]*@/, '//');
  }
}

/** JSON as MLflow's protobuf parser reads it: non-finite doubles are the strings it expects. */
export function toMlflowJson(body: unknown): string {
  return JSON.stringify(body, (_k, v) => {
    if (typeof v !== 'number' || Number.isFinite(v)) return v;
    if (Number.isNaN(v)) return 'NaN';
    return v > 0 ? 'Infinity' : '-Infinity';
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class MlflowClient {
  readonly displayUri: string;
  private readonly base: string;
  private readonly auth: string | undefined;
  private readonly retry: RetryOptions;
  private readonly timeoutMs: number;
  private readonly log: Log;

  constructor(opts: ClientOptions) {
    const env = opts.env ?? process.env;
    const url = new URL(opts.uri);
    let user = decodeURIComponent(url.username);
    let pass = decodeURIComponent(url.password);
    url.username = '';
    url.password = '';
    this.base = url.href.replace(/\/+$/, '');
    this.displayUri = this.base;
    if (env.MLFLOW_TRACKING_USERNAME) {
      user = env.MLFLOW_TRACKING_USERNAME;
      pass = env.MLFLOW_TRACKING_PASSWORD ?? '';
    }
    if (env.MLFLOW_TRACKING_TOKEN) this.auth = `Bearer ${env.MLFLOW_TRACKING_TOKEN}`;
    else if (user) this.auth = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.log = opts.log ?? (() => {});
  }

  /** Same server and credentials, other retry budget (e.g. a short one while a run shuts down). */
  withRetry(retry: Partial<RetryOptions>): MlflowClient {
    const c = Object.create(MlflowClient.prototype) as MlflowClient;
    Object.assign(c, this, { retry: { ...this.retry, ...retry } });
    return c;
  }

  /** Same server and credentials, another time limit per request (start-up checks: a few seconds). */
  withTimeout(timeoutMs: number): MlflowClient {
    const c = Object.create(MlflowClient.prototype) as MlflowClient;
    Object.assign(c, this, { timeoutMs });
    return c;
  }

  async getExperimentByName(name: string): Promise<RemoteExperiment | undefined> {
    try {
      const r = await this.call<{ experiment: RemoteExperiment }>('GET', `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`);
      return r.experiment;
    } catch (e) {
      if (e instanceof MlflowError && e.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw e;
    }
  }

  async createExperiment(name: string): Promise<string> {
    const r = await this.call<{ experiment_id: string }>('POST', 'experiments/create', { name });
    return String(r.experiment_id);
  }

  /** Finds or creates; another client creating the same name in between is not an error. */
  async ensureExperiment(name: string): Promise<string> {
    const found = await this.getExperimentByName(name);
    if (found) return String(found.experiment_id);
    try {
      return await this.createExperiment(name);
    } catch (e) {
      if (!(e instanceof MlflowError && e.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw e;
      const again = await this.getExperimentByName(name);
      if (!again) throw e;
      return String(again.experiment_id);
    }
  }

  async createRun(opts: { experimentId: string; runName: string; startTime: number; userId: string; tags?: KeyValue[] }): Promise<RemoteRunInfo> {
    const r = await this.call<{ run: { info: RemoteRunInfo } }>('POST', 'runs/create', {
      experiment_id: opts.experimentId,
      run_name: opts.runName,
      start_time: opts.startTime,
      user_id: opts.userId,
      tags: opts.tags ?? [],
    });
    const info = r.run.info;
    return { ...info, run_id: info.run_id ?? (info as unknown as { run_uuid: string }).run_uuid };
  }

  /** One page of runs/search; `filter` in MLflow's search syntax (tags.\`key\` = 'value' AND …). */
  async searchRuns(opts: { experimentIds: string[]; filter?: string; maxResults?: number; pageToken?: string }): Promise<{ runs: RemoteRun[]; nextPageToken?: string }> {
    const r = await this.call<{ runs?: RemoteRun[]; next_page_token?: string }>('POST', 'runs/search', {
      experiment_ids: opts.experimentIds,
      ...(opts.filter ? { filter: opts.filter } : {}),
      max_results: opts.maxResults ?? 1000,
      ...(opts.pageToken ? { page_token: opts.pageToken } : {}),
    });
    return { runs: r.runs ?? [], ...(r.next_page_token ? { nextPageToken: r.next_page_token } : {}) };
  }

  async getRun(runId: string): Promise<RemoteRun | undefined> {
    try {
      const r = await this.call<{ run: RemoteRun }>('GET', `runs/get?run_id=${encodeURIComponent(runId)}`);
      return r.run;
    } catch (e) {
      if (e instanceof MlflowError && e.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw e;
    }
  }

  async logBatch(runId: string, batch: { metrics?: BatchMetric[]; params?: KeyValue[]; tags?: KeyValue[] }): Promise<void> {
    await this.call('POST', 'runs/log-batch', { run_id: runId, metrics: batch.metrics ?? [], params: batch.params ?? [], tags: batch.tags ?? [] });
  }

  async updateRun(runId: string, status: string, endTime?: number | null): Promise<void> {
    await this.call('POST', 'runs/update', { run_id: runId, status, ...(endTime ? { end_time: endTime } : {}) });
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'runs/set-tag', { run_id: runId, key, value });
  }

  /**
   * Uploads through the tracking server's artifact proxy (`mlflow server` serves artifacts by
   * default). Returns false when the run's artifact store is not the proxy (e.g. s3:// given to a
   * server started with --no-serve-artifacts): ablate does not talk to object stores itself.
   */
  async uploadArtifact(artifactUri: string, relPath: string, data: Buffer): Promise<boolean> {
    const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/?(.*)$/.exec(artifactUri);
    if (!m) return false;
    const path = [...m[1]!.split('/'), ...relPath.split('/')].filter((s) => s !== '').map(encodeURIComponent).join('/');
    await this.request('PUT', `${this.base}/api/2.0/mlflow-artifacts/artifacts/${path}`, data, 'application/octet-stream');
    return true;
  }

  private async call<T>(method: 'GET' | 'POST', endpoint: string, body?: unknown): Promise<T> {
    const text = await this.request(method, `${this.base}/api/2.0/mlflow/${endpoint}`, body === undefined ? undefined : toMlflowJson(body), 'application/json');
    return (text ? JSON.parse(text) : {}) as T;
  }

  private async request(method: string, url: string, body: string | Buffer | undefined, contentType: string): Promise<string> {
    const what = `${method} ${url.replace(this.base, this.displayUri).split('?')[0]}`;
    let lastProblem = '';
    for (let attempt = 1; attempt <= this.retry.attempts; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: { 'content-type': contentType, ...(this.auth ? { authorization: this.auth } : {}) },
          body: body as string | Buffer | undefined,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (e) {
        lastProblem = networkProblem(e);
        await this.backoff(attempt, what, lastProblem);
        continue;
      }
      const text = await res.text().catch(() => '');
      if (res.ok) return text;
      let code = `HTTP_${res.status}`;
      let message = text.slice(0, 500);
      try {
        const j = JSON.parse(text) as { error_code?: string; message?: string };
        code = j.error_code ?? code;
        message = j.message ?? message;
      } catch {
        /* not JSON: an HTML error page from a proxy */
      }
      if (res.status === 429 || res.status >= 500) {
        lastProblem = `${res.status} ${code}`;
        const retryAfter = Number(res.headers.get('retry-after'));
        await this.backoff(attempt, what, lastProblem, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
        continue;
      }
      throw new MlflowError(`${what}: ${res.status} ${code}: ${message}`, res.status, code);
    }
    throw new RemoteUnavailableError(`${what}: gave up after ${this.retry.attempts} tries (${lastProblem})`);
  }

  private async backoff(attempt: number, what: string, problem: string, hintMs?: number): Promise<void> {
    if (attempt >= this.retry.attempts) return;
    const exp = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (attempt - 1));
    const ms = Math.min(this.retry.maxMs, hintMs ?? exp * (0.5 + Math.random() / 2));
    this.log(`mlflow: ${what} failed (${problem}); retry ${attempt}/${this.retry.attempts - 1} in ${Math.round(ms)} ms`);
    await sleep(ms);
  }
}

function networkProblem(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return 'timeout';
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}
