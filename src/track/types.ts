// Public types of the tracking layer. Status names and codes are MLflow's: the file store keeps the
// integer, the REST API and this API the name.
export const RUN_STATUS = { RUNNING: 1, SCHEDULED: 2, FINISHED: 3, FAILED: 4, KILLED: 5 } as const;
export type RunStatusName = keyof typeof RUN_STATUS;
export type EndStatus = 'FINISHED' | 'FAILED' | 'KILLED';

export function statusName(code: unknown): RunStatusName {
  for (const [name, value] of Object.entries(RUN_STATUS)) if (value === code) return name as RunStatusName;
  return 'RUNNING';
}

export interface MetricPoint {
  timestamp: number;
  value: number;
  step: number;
}

export interface ExperimentInfo {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: string;
  creationTime: number | null;
  dir: string;
}

export interface RunInfo {
  runId: string;
  experimentId: string;
  runName: string;
  status: RunStatusName;
  startTime: number;
  endTime: number | null;
  artifactUri: string;
  lifecycleStage: string;
  userId: string;
}

export interface RunRecord {
  info: RunInfo;
  params: Record<string, string>;
  tags: Record<string, string>;
  /** Latest value per metric, chosen as MLflow does: largest (step, timestamp, value). */
  metrics: Record<string, number>;
  /** Every logged point per metric, in file order (empty when read without history). */
  history: Record<string, MetricPoint[]>;
  /** The run's folder in a local store; empty for a run read from a server (see `remote`). */
  dir: string;
  /** Set for a run read from an MLflow server (src/track/remote-reader.ts): that server's URI. */
  remote?: string;
}

export interface RetryOptions {
  /** Tries per request, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export type Log = (message: string) => void;
