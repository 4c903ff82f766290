// What to do with each trial when a sweep starts, given what the store already holds for its id:
// a trial FINISHED with the same resolved-spec hash is skipped, a FAILED one runs again, an
// interrupted one (KILLED, or RUNNING with its writer dead) continues from its checkpoints.

export type TrialAction = 'run' | 'skip' | 'resume' | 'rerun' | 'wait';

export interface PriorRun {
  runId: string;
  hash: string | undefined;
  status: 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
  startTime: number;
  /** RUNNING and its process is alive (a trial of an earlier sweep process that was killed -9). */
  live: boolean;
  error?: string;
  metric?: number;
}

export interface TrialDecision {
  action: TrialAction;
  /** The run that decided it (the finished one for `skip`, the latest otherwise). */
  prior?: PriorRun;
}

export function decide(hash: string, prior: readonly PriorRun[]): TrialDecision {
  const mine = prior.filter((r) => r.hash === hash).sort((a, b) => b.startTime - a.startTime);
  const finished = mine.find((r) => r.status === 'FINISHED');
  if (finished) return { action: 'skip', prior: finished };
  const live = mine.find((r) => r.live);
  if (live) return { action: 'wait', prior: live };
  const latest = mine[0];
  if (!latest) return { action: 'run' };
  return { action: latest.status === 'FAILED' && !isInterruption(latest.error) ? 'rerun' : 'resume', prior: latest };
}

// A run closed FAILED by crash recovery was interrupted, not wrong: it continues like a KILLED one.
function isInterruption(error: string | undefined): boolean {
  return error !== undefined && /died without ending the run|stopped \(|killed by SIG/.test(error);
}
