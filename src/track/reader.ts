// Reads a file store back for `ablate ls`, `ablate compare` and sweep resume. Tolerant where the
// writer may legitimately be mid-way (a live run's last partial line is skipped) and silent about
// folders that are not experiments or runs (e.g. a stage cache under the same root).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { FileStore, RunFolder } from './file-store.js';
import { parseLine } from './metric-line.js';
import type { ExperimentInfo, MetricPoint, RunRecord } from './types.js';
import { statusName } from './types.js';

export interface ReadOptions {
  /** Also return every point of every metric (learning curves); default true. */
  history?: boolean;
  /** A run folder whose meta.yaml cannot be read; default: one warning on stderr per folder. */
  onUnreadable?: (dir: string) => void;
}

// Skipped, as MLflow skips it, but said: a run silently missing from `compare` changes its n.
const warned = new Set<string>();
function warnUnreadable(dir: string): void {
  if (warned.has(dir)) return;
  warned.add(dir);
  process.stderr.write(`ablate: skipping ${dir}: its meta.yaml cannot be read (a damaged or hand-edited run folder)\n`);
}

export function listExperiments(root: string): ExperimentInfo[] {
  const store = new FileStore(root);
  return store
    .experimentIds()
    .map((id) => {
      const m = store.experiment(id);
      if (!m) return undefined;
      return {
        experimentId: id,
        name: String(m.name),
        artifactLocation: String(m.artifact_location ?? ''),
        lifecycleStage: String(m.lifecycle_stage ?? 'active'),
        creationTime: typeof m.creation_time === 'number' ? m.creation_time : null,
        dir: join(store.root, id),
      } satisfies ExperimentInfo;
    })
    .filter((e): e is ExperimentInfo => e !== undefined && e.lifecycleStage === 'active');
}

/** Runs of one experiment, newest first. */
export function listRuns(root: string, experimentId: string, opts: ReadOptions = {}): RunRecord[] {
  const store = new FileStore(root);
  return store
    .runDirs(experimentId)
    .map((dir) => {
      const r = readRun(dir, opts);
      if (!r) (opts.onUnreadable ?? warnUnreadable)(dir);
      return r;
    })
    .filter((r): r is RunRecord => r !== undefined && r.info.lifecycleStage === 'active' && r.info.experimentId === experimentId)
    .sort((a, b) => b.info.startTime - a.info.startTime);
}

export function readStore(root: string, opts: ReadOptions = {}): { root: string; experiments: (ExperimentInfo & { runs: RunRecord[] })[] } {
  return {
    root,
    experiments: listExperiments(root).map((e) => ({ ...e, runs: listRuns(root, e.experimentId, opts) })),
  };
}

export function readRun(dir: string, opts: ReadOptions = {}): RunRecord | undefined {
  const folder = RunFolder.open(dir);
  if (!folder) return undefined;
  const m = folder.meta;
  const params = readValues(join(dir, 'params'));
  const tags = readValues(join(dir, 'tags'));
  const history: Record<string, MetricPoint[]> = {};
  const metrics: Record<string, number> = {};
  for (const [key, path] of files(join(dir, 'metrics'))) {
    const points = readMetricFile(path);
    if (points.length === 0) continue;
    let best = points[0]!;
    for (const p of points) if (later(p, best)) best = p;
    metrics[key] = best.value;
    if (opts.history !== false) history[key] = points;
  }
  return {
    info: {
      runId: String(m.run_id ?? m.run_uuid),
      experimentId: String(m.experiment_id),
      runName: String(m.run_name ?? tags['mlflow.runName'] ?? ''),
      status: statusName(m.status),
      startTime: Number(m.start_time ?? 0),
      endTime: typeof m.end_time === 'number' ? m.end_time : null,
      artifactUri: String(m.artifact_uri ?? ''),
      lifecycleStage: String(m.lifecycle_stage ?? 'active'),
      userId: String(m.user_id ?? ''),
    },
    params,
    tags,
    metrics,
    history,
    dir,
  };
}

// MLflow's "latest": max over (step, timestamp, value).
function later(a: MetricPoint, b: MetricPoint): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return a.value > b.value || (Number.isNaN(b.value) && !Number.isNaN(a.value));
}

/** Whole lines only: text after the last newline belongs to a write still in progress. */
export function readMetricFile(path: string): MetricPoint[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const end = text.lastIndexOf('\n');
  if (end < 0) return [];
  const out: MetricPoint[] = [];
  for (const line of text.slice(0, end).split('\n')) {
    const p = parseLine(line);
    if (p) out.push(p);
  }
  return out;
}

function readValues(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, path] of files(dir)) out[key] = readFileSync(path, 'utf8');
  return out;
}

/** [key, path] of every file under dir; a key with `/` is a subfolder in the store. */
export function files(dir: string): [string, string][] {
  if (!existsSync(dir)) return [];
  const out: [string, string][] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push([relative(dir, p).split(sep).join('/'), p]);
    }
  };
  walk(dir);
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}
