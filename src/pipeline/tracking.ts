// The one place the pipeline meets the tracking layer: open the store named by the spec (or
// MLFLOW_TRACKING_URI), start a run with the resolved spec as params and the keys as tags, keep
// a run log, and make sure the run ends FINISHED, FAILED or KILLED whatever happens.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { LoadedSpec } from '../spec/load.js';
import type { PlannedStage, StageRun } from './types.js';

export interface RunOptionsTracking {
  sweepId?: string;
  parentRunId?: string;
  /** Extra tags, e.g. the sweep's axis values. */
  tags?: Record<string, string>;
  runName?: string;
  cwd?: string;
}

export interface ActiveRun extends StageRun {
  readonly id: string;
  readonly experimentId: string;
  appendLog(line: string): void;
  end(status: 'FINISHED' | 'FAILED' | 'KILLED', error?: Error): Promise<void>;
}

interface TrackedRunLike {
  id: string;
  experimentId: string;
  localDir: string;
  logMetric(k: string, v: number, step?: number): void;
  setTag(k: string, v: string): void;
  logArtifact(p: string, a?: string): Promise<void>;
  logText(text: string, artifactPath: string): Promise<void>;
  end(status: 'FINISHED' | 'FAILED' | 'KILLED', error?: Error): Promise<void>;
}
interface TrackModule {
  openTracker(o: { uri?: string | undefined; cwd: string }): {
    startRun(o: { experiment: string; runName: string; tags: Record<string, string>; params: Record<string, string>; parentRunId?: string }): Promise<TrackedRunLike>;
  };
  flattenSpec(spec: unknown): Record<string, string>;
  installLifecycle(run: TrackedRunLike): { dispose(): void };
}

export function ablateVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function defaultRunName(loaded: LoadedSpec): string {
  const o = loaded.overrides.map((x) => x.text).join(' ');
  return o ? `${loaded.spec.name} ${o}` : loaded.spec.name;
}

export async function startTrackedRun(loaded: LoadedSpec, plan: PlannedStage[], opts: RunOptionsTracking): Promise<ActiveRun> {
  // Resolved at run time until src/track exposes its barrel (in progress in parallel).
  const track = (await import(new URL('../track/index.js', import.meta.url).href)) as TrackModule;
  const { spec } = loaded;
  const tracker = track.openTracker({ uri: spec.track.uri, cwd: opts.cwd ?? process.cwd() });
  const tags: Record<string, string> = {
    ...spec.track.tags,
    ...opts.tags,
    'ablate.spec_hash': loaded.hash,
    'ablate.version': ablateVersion(),
    'ablate.spec_file': loaded.file,
    ...Object.fromEntries(plan.map((s) => [`ablate.stage.${s.kind}`, s.key])),
  };
  if (loaded.overrides.length > 0) tags['ablate.overrides'] = loaded.overrides.map((o) => o.text).join(' ');
  if (opts.sweepId) tags['ablate.sweep_id'] = opts.sweepId;
  const run = await tracker.startRun({
    experiment: spec.track.experiment ?? spec.name,
    runName: opts.runName ?? spec.track.runName ?? defaultRunName(loaded),
    tags,
    params: track.flattenSpec(spec),
    ...(opts.parentRunId ? { parentRunId: opts.parentRunId } : {}),
  });
  await run.logText(stringify(spec), 'spec.yaml');
  const lifecycle = track.installLifecycle(run);
  const logLines: string[] = [];
  return {
    id: run.id,
    experimentId: run.experimentId,
    localDir: run.localDir,
    logMetric: (k, v, step) => run.logMetric(k, v, step),
    setTag: (k, v) => run.setTag(k, v),
    logArtifact: (p, a) => run.logArtifact(p, a),
    appendLog: (line) => {
      logLines.push(line);
    },
    async end(status, error) {
      await run.logText(`${logLines.join('\n')}\n`, 'run.log');
      lifecycle.dispose();
      await run.end(status, error);
    },
  };
}
