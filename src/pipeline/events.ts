// Machine-readable events of a run, one JSON object per line on file descriptor 3, for the sweep
// parent that launched this run as a child (`ablate run --events`). Without --events they go nowhere.
import { writeSync } from 'node:fs';

export type RunEvent =
  | { type: 'stage'; kind: string; status: 'hit' | 'start' | 'done' | 'wait' | 'skip'; key?: string; seconds?: number }
  | { type: 'progress'; kind: string; done: number; total: number; unit: string }
  | { type: 'metric'; key: string; value: number; step: number }
  | { type: 'run'; runId: string; experimentId: string }
  | { type: 'end'; status: 'FINISHED' | 'FAILED' | 'KILLED'; error?: string };

export interface EventSink {
  emit(e: RunEvent): void;
}

export const nullSink: EventSink = { emit() {} };

export function fdSink(fd = 3): EventSink {
  return {
    emit(e) {
      try {
        writeSync(fd, `${JSON.stringify(e)}\n`);
      } catch {
        // The parent went away: events are a convenience, never a reason to fail a run.
      }
    },
  };
}
