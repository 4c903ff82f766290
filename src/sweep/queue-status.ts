// `ablate sweep status|cancel <sweep>` for queued sweeps: read from Redis alone, so they work from
// any machine that reaches it, with or without the controller.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RunEvent } from '../pipeline/events.js';
import { fmtDuration, fmtMetric } from './progress.js';
import { CANCEL_KEY, redisConnection, shownUrl, sweepJobs, type TrialProgress } from './queue.js';

export interface TrialStatus {
  name: string;
  state: string;
  attempts: number;
  worker?: string;
  stage?: string;
  metric?: number;
  seconds?: number;
  error?: string;
}

async function withQueue<T>(url: string, name: string, f: (q: Queue, conn: Redis) => Promise<T>): Promise<T> {
  const conn = redisConnection(url, (m) => process.stderr.write(`ablate: ${m}\n`));
  const q = new Queue(name, { connection: conn });
  q.on('error', () => {});
  try {
    return await f(q, conn);
  } finally {
    await q.close();
    conn.disconnect();
  }
}

export async function queueStatus(url: string, queueName: string, sweepId: string): Promise<TrialStatus[]> {
  return withQueue(url, queueName, async (q) =>
    (await sweepJobs(q, sweepId)).map(({ job, state }) => {
      const p = (typeof job.progress === 'object' ? job.progress : undefined) as Partial<TrialProgress> | undefined;
      const events = (p?.events ?? []).map((x) => x.e);
      const stage = events.filter((e): e is Extract<RunEvent, { type: 'stage' }> => e.type === 'stage').at(-1);
      const metric = events.filter((e): e is Extract<RunEvent, { type: 'metric' }> => e.type === 'metric' && e.key === job.data.metric).at(-1);
      const end = job.finishedOn ?? Date.now();
      return {
        name: job.data.name,
        state,
        attempts: job.attemptsMade,
        ...(p?.worker ? { worker: p.worker } : {}),
        ...(stage ? { stage: stage.kind } : {}),
        ...(metric ? { metric: metric.value } : {}),
        ...(job.processedOn ? { seconds: (end - job.processedOn) / 1000 } : {}),
        ...(job.failedReason ? { error: job.failedReason } : {}),
      };
    }),
  );
}

export function formatStatus(sweepId: string, url: string, rows: TrialStatus[], metric = 'metric'): string {
  if (rows.length === 0) return `no trials of sweep ${sweepId} on the queue at ${shownUrl(url)}`;
  const count = (s: string) => rows.filter((r) => r.state === s).length;
  const w = Math.max(5, ...rows.map((r) => r.name.length));
  const head = `sweep ${sweepId}: ${rows.length} trials · ${count('completed')} finished · ${count('active')} running · ${count('waiting') + count('delayed') + count('prioritized')} waiting · ${count('failed')} failed`;
  return [
    head,
    `  ${'trial'.padEnd(w)}  ${'state'.padEnd(9)}  ${'tries'.padEnd(5)}  ${metric.padEnd(12)}  ${'time'.padEnd(7)}  worker / stage / error`,
    ...rows.map(
      (r) =>
        `  ${r.name.padEnd(w)}  ${r.state.padEnd(9)}  ${String(r.attempts).padEnd(5)}  ${fmtMetric(r.metric).padEnd(12)}  ${(r.seconds !== undefined ? fmtDuration(r.seconds) : '–').padEnd(7)}  ${[r.worker, r.state === 'active' ? r.stage : undefined, r.error?.split('\n')[0]].filter(Boolean).join(' · ')}`,
    ),
  ].join('\n');
}

/**
 * Waiting trials leave the queue; running ones are stopped by their workers (which watch the
 * sweep's cancel key), end their runs KILLED and are not retried. Returns how many of each.
 */
export async function cancelSweep(url: string, queueName: string, sweepId: string): Promise<{ removed: number; stopping: number }> {
  return withQueue(url, queueName, async (q, conn) => {
    await conn.set(CANCEL_KEY(sweepId), String(Date.now()), 'EX', 7 * 24 * 3600);
    let removed = 0;
    let stopping = 0;
    for (const { job, state } of await sweepJobs(q, sweepId)) {
      if (state === 'active') stopping++;
      else if (state !== 'completed' && state !== 'failed') {
        await job.remove();
        removed++;
      }
    }
    return { removed, stopping };
  });
}
