// The MLflow file-store layout, written so that MLflow (with MLFLOW_ALLOW_FILE_STORE=true),
// `mlflow migrate-filestore` and our own reader all accept it:
//   <root>/0/meta.yaml                         the Default experiment
//   <root>/<experiment_id>/meta.yaml
//   <root>/<experiment_id>/<run_id>/{meta.yaml,params/,metrics/,tags/,artifacts/}
//   <root>/.trash/
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { writeFileAtomic } from './fs-util.js';
import { RUN_STATUS } from './types.js';

export const DEFAULT_EXPERIMENT_ID = '0';
export const TRASH = '.trash';
/** Our own bookkeeping inside a run folder; MLflow only reads meta.yaml and the four subfolders. */
export const PROCESS_FILE = '.ablate-run.json';
export const SYNC_FILE = '.ablate-sync.json';
const EXPERIMENT_ID = /^[a-zA-Z0-9][\w-]{0,63}$/;
const RESERVED_IN_EXPERIMENT = new Set(['tags', 'datasets', 'traces']);

export interface ExperimentMeta {
  artifact_location: string;
  creation_time: number;
  experiment_id: string;
  last_update_time: number;
  lifecycle_stage: 'active' | 'deleted';
  name: string;
}

export interface RunMeta {
  artifact_uri: string;
  end_time: number | null;
  entry_point_name: string;
  experiment_id: string;
  lifecycle_stage: 'active' | 'deleted';
  run_id: string;
  run_name: string;
  run_uuid: string;
  source_name: string;
  source_type: number;
  source_version: string;
  start_time: number;
  status: number;
  tags: unknown[];
  user_id: string;
  deleted_time?: number | null;
}

/** Who writes a run: lets the next start tell a crashed run (dead pid on this host) from a live one. */
export interface ProcessInfo {
  pid: number;
  host: string;
  /** Kernel start time of the process (Linux), so a reused pid is not taken for the writer. */
  procStart?: string;
}

export function readYaml<T>(path: string): T | undefined {
  try {
    return YAML.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function writeYaml(path: string, data: unknown, tmpDir?: string): void {
  writeFileAtomic(path, YAML.stringify(data), tmpDir);
}

export function fileUri(path: string): string {
  return pathToFileURL(resolve(path)).href;
}

export function isExperimentId(name: string): boolean {
  return EXPERIMENT_ID.test(name);
}

export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is the state (field 3 of stat); a zombie has exited already.
    if (fields[0] === 'Z') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export function currentProcess(): ProcessInfo {
  const procStart = processStart(process.pid);
  return { pid: process.pid, host: hostname(), ...(procStart ? { procStart } : {}) };
}

/** Whether the process that wrote `info` still runs. Only meaningful on the same host. */
export function isAlive(info: ProcessInfo): boolean {
  if (existsSync('/proc/self/stat')) {
    const start = processStart(info.pid);
    if (start === undefined) return false;
    return info.procStart === undefined || info.procStart === start;
  }
  try {
    process.kill(info.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Creates the root, the Default experiment and .trash if missing (safe to race). */
  init(): void {
    mkdirSync(join(this.root, TRASH), { recursive: true });
    if (!existsSync(join(this.root, DEFAULT_EXPERIMENT_ID, 'meta.yaml'))) this.writeExperiment(DEFAULT_EXPERIMENT_ID, 'Default');
  }

  experimentIds(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== TRASH && isExperimentId(e.name) && existsSync(join(this.root, e.name, 'meta.yaml')))
      .map((e) => e.name);
  }

  experiment(id: string): ExperimentMeta | undefined {
    const meta = readYaml<ExperimentMeta>(join(this.root, id, 'meta.yaml'));
    return meta && String(meta.experiment_id) === id ? { ...meta, experiment_id: id } : undefined;
  }

  experimentByName(name: string): ExperimentMeta | undefined {
    for (const id of this.experimentIds()) {
      const e = this.experiment(id);
      if (e && e.name === name && e.lifecycle_stage !== 'deleted') return e;
    }
    return undefined;
  }

  /**
   * The id is derived from the name, so two processes of one sweep that create the same experiment
   * at once write the same folder instead of two experiments with one name (no lock needed).
   */
  ensureExperiment(name: string): ExperimentMeta {
    this.init();
    const found = this.experimentByName(name);
    if (found) return found;
    for (let i = 0; ; i++) {
      const digest = createHash('sha256').update(i === 0 ? name : `${name}#${i}`).digest('hex');
      const id = (BigInt(`0x${digest.slice(0, 15)}`) + 1n).toString();
      const existing = this.experiment(id);
      if (existing && existing.name !== name) continue;
      if (!existing) this.writeExperiment(id, name);
      return this.experiment(id)!;
    }
  }

  private writeExperiment(id: string, name: string): void {
    const dir = join(this.root, id);
    mkdirSync(dir, { recursive: true });
    const now = Date.now();
    const meta: ExperimentMeta = {
      artifact_location: fileUri(dir),
      creation_time: now,
      experiment_id: id,
      last_update_time: now,
      lifecycle_stage: 'active',
      name,
    };
    writeYaml(join(dir, 'meta.yaml'), meta);
  }

  runDirs(experimentId: string): string[] {
    const dir = join(this.root, experimentId);
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !RESERVED_IN_EXPERIMENT.has(e.name) && existsSync(join(dir, e.name, 'meta.yaml')))
      .map((e) => join(dir, e.name));
  }

  findRun(runId: string): string | undefined {
    for (const id of this.experimentIds()) {
      const dir = join(this.root, id, runId);
      if (existsSync(join(dir, 'meta.yaml'))) return dir;
    }
    return undefined;
  }

  createRun(opts: { experimentId: string; runName: string; userId: string; startTime: number; runId?: string }): RunFolder {
    const runId = opts.runId ?? randomUUID().replaceAll('-', '');
    const dir = join(this.root, opts.experimentId, runId);
    for (const sub of ['metrics', 'params', 'tags', 'artifacts']) mkdirSync(join(dir, sub), { recursive: true });
    const meta: RunMeta = {
      artifact_uri: fileUri(join(dir, 'artifacts')),
      end_time: null,
      entry_point_name: '',
      experiment_id: opts.experimentId,
      lifecycle_stage: 'active',
      run_id: runId,
      run_name: opts.runName,
      run_uuid: runId,
      source_name: '',
      source_type: 4,
      source_version: '',
      start_time: opts.startTime,
      status: RUN_STATUS.RUNNING,
      tags: [],
      user_id: opts.userId,
      deleted_time: null,
    };
    const run = new RunFolder(dir, meta);
    writeFileAtomic(join(dir, PROCESS_FILE), JSON.stringify(currentProcess()), dir);
    run.writeMeta();
    return run;
  }
}

/** One run's folder: the small files that are rewritten whole (meta, params, tags). */
export class RunFolder {
  constructor(
    readonly dir: string,
    public meta: RunMeta,
  ) {}

  static open(dir: string): RunFolder | undefined {
    const meta = readYaml<RunMeta>(join(dir, 'meta.yaml'));
    if (!meta || typeof meta !== 'object') return undefined;
    return new RunFolder(dir, { ...meta, experiment_id: String(meta.experiment_id) });
  }

  get artifactsDir(): string {
    return join(this.dir, 'artifacts');
  }

  metricPath(key: string): string {
    return join(this.dir, 'metrics', key);
  }

  writeMeta(): void {
    writeYaml(join(this.dir, 'meta.yaml'), this.meta, this.dir);
  }

  setTag(key: string, value: string): void {
    writeFileAtomic(join(this.dir, 'tags', key), value, this.dir);
  }

  /** Params are immutable in MLflow: the same value again is a no-op, a new one is an error. */
  logParam(key: string, value: string): void {
    const path = join(this.dir, 'params', key);
    if (existsSync(path)) {
      const current = readFileSync(path, 'utf8');
      if (current === value) return;
      throw new Error(`param '${key}' was already logged as '${current}'; MLflow does not allow changing it to '${value}'`);
    }
    writeFileAtomic(path, value, this.dir);
  }

  processInfo(): ProcessInfo | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, PROCESS_FILE), 'utf8')) as ProcessInfo;
    } catch {
      return undefined;
    }
  }
}
