// The one place the pipeline meets the tracking layer: open the store named by the spec (or
// MLFLOW_TRACKING_URI), start a run with the resolved spec as params and the keys as tags, keep
// a run log, and make sure the run ends FINISHED, FAILED or KILLED whatever happens.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { LoadedSpec } from '../spec/load.js';
import { ablateTags, flattenSpec, installLifecycle, openTracker } from '../track/index.js';
import { summariseParts } from './keys.js';
import type { PlannedStage, StageRun } from './types.js';

export interface RunOptionsTracking {
  sweepId?: string;
  /** The trial's values on the sweep axes (tagged `ablate.axis.<path>`). */
  axes?: Record<string, unknown>;
  parentRunId?: string;
  /** Extra tags. */
  tags?: Record<string, string>;
  runName?: string;
  cwd?: string;
  /** Called on SIGINT/SIGTERM, before the run is marked KILLED (aborts the stages). */
  onSignal?: (signal: NodeJS.Signals) => void;
}

export interface ActiveRun extends StageRun {
  readonly id: string;
  readonly experimentId: string;
  appendLog(line: string): void;
  /** Ends the run; resolves to the status the store holds (a signal may have ended it first). */
  end(status: 'FINISHED' | 'FAILED' | 'KILLED', error?: Error): Promise<'FINISHED' | 'FAILED' | 'KILLED'>;
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
  const { spec } = loaded;
  const cwd = opts.cwd ?? process.cwd();
  const tracker = openTracker({ uri: spec.track.uri, cwd });
  const tags: Record<string, string> = {
    ...spec.track.tags,
    ...opts.tags,
    ...ablateTags({
      specHash: loaded.hash,
      version: ablateVersion(),
      stages: Object.fromEntries(plan.map((s) => [s.kind, s.key])),
      keyParts: Object.fromEntries(plan.map((s) => [s.kind, summariseParts(s.parts)])),
      ...(opts.sweepId ? { sweep: { id: opts.sweepId, axes: opts.axes ?? {} } } : {}),
    }),
  };
  if (loaded.overrides.length > 0) tags['ablate.overrides'] = loaded.overrides.map((o) => o.text).join(' ');
  const run = await tracker.startRun({
    experiment: spec.track.experiment ?? spec.name,
    runName: opts.runName ?? spec.track.runName ?? defaultRunName(loaded),
    tags,
    params: flattenSpec(spec),
    source: loaded.file,
    ...(opts.parentRunId ? { parentRunId: opts.parentRunId } : {}),
  });
  // The whole resolved spec travels with the run (params cut values over 6000 characters).
  await run.logText(stringify(spec), 'spec.yaml');
  const lifecycle = installLifecycle(run, { exitOnSignal: false, ...(opts.onSignal ? { onSignal: opts.onSignal } : {}) });
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
      lifecycle.ending(status);
      await run.logText(`${logLines.join('\n')}\n`, 'run.log');
      await run.end(status, error);
      lifecycle.dispose();
      return run.status === 'RUNNING' || run.status === 'SCHEDULED' ? status : run.status;
    },
  };
}
