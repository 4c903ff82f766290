// The queue launcher: each trial is a BullMQ job in Redis whose id is the trial's identity (sweep
// id + axis values), so enqueueing twice or from two controllers finds the same job. `ablate
// worker` (src/sweep/queue-worker.ts) runs the jobs; the controller only follows them, from the
// job's state and the progress the worker writes into it, so a controller that dies and starts
// again reattaches to the same jobs. BullMQ does the scheduling: leases (job locks renewed while a
// worker's child lives), stalled-job recovery, retries with backoff.
import { setTimeout as sleep } from 'node:timers/promises';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { RunEvent } from '../pipeline/events.js';
import { DEFAULT_QUEUE, type LaunchHooks, type LaunchItem, type Launcher } from './launcher.js';

export { DEFAULT_QUEUE };
import type { TrialOutcome } from './pool.js';

/** What a worker needs to run one trial as `ablate run`, and where to record it. */
export interface TrialJobData {
  sweepId: string;
  index: number;
  name: string;
  /** Resolved-spec hash: how the worker finds this trial's earlier runs in the store. */
  hash: string;
  metric: string;
  file: string;
  overrides: string[];
  /** The folder the sweep was started in: relative paths of the spec resolve from it. */
  cwd: string;
  parentRunId: string;
  /** The parent's server id (see LaunchContext.parentRemoteId). */
  parentRemoteId?: string;
  runName: string;
  tags: Record<string, string>;
  store: { root: string; uri?: string; experiment: string };
  cacheDir: string;
  logFile: string;
}

/** Written by the worker into the job (job.progress): the trial's recent run events. */
export interface TrialProgress {
  /** One per attempt (worker + start time): event numbers restart with each. */
  attempt: string;
  worker: string;
  startedAt: number;
  seq: number;
  events: { seq: number; e: RunEvent }[];
}

/** The job's return value when the trial finished. */
export interface TrialReturn {
  status: 'FINISHED';
  runId?: string;
  seconds: number;
  /** When the child `ablate run` started and ended (ms): the queue overhead is measured from them. */
  childStart: number;
  childEnd: number;
  /** The trial had finished already (a duplicate delivery): nothing ran. */
  already?: boolean;
}

export const CANCEL_KEY = (sweepId: string) => `ablate:cancel:${sweepId}`;
const ACTIVE_STATES = ['waiting', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const;

/** Job ids may not hold `:` (BullMQ's key separator); everything else of the trial name stays readable. */
export function trialJobId(sweepId: string, trialName: string): string {
  return `${sweepId}/${trialName.replace(/:/g, '_')}`;
}

/** The URL without its password, for messages. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * A Redis connection that waits out an outage: commands queue (maxRetriesPerRequest null, as
 * BullMQ requires for workers) and reconnects back off up to 5 s, and the outage is said once
 * when it starts and once when it ends.
 */
export function redisConnection(url: string, log: (m: string) => void): Redis {
  const r = new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
  });
  let down = false;
  r.on('error', (e: Error) => {
    if (down) return;
    down = true;
    log(`redis ${shownUrl(url)} unreachable (${e.message}); waiting and reconnecting with backoff`);
  });
  r.on('ready', () => {
    if (!down) return;
    down = false;
    log(`redis ${shownUrl(url)} reachable again`);
  });
  return r;
}

/** Whether Redis answers now (no waiting): for start-up checks. */
export async function pingRedis(url: string, timeoutMs = 3000): Promise<string | undefined> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let first: string | undefined;
  r.on('error', (e: Error) => {
    first ??= e.message;
  });
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (e) {
    return first ?? (e instanceof Error ? e.message || e.name : String(e));
  } finally {
    r.disconnect();
  }
}

export interface QueueLauncherOptions {
  url: string;
  queue?: string;
  retries?: number;
  out: { write(s: string): boolean };
  /** How often the controller reads the jobs' states (ms). */
  pollMs?: number;
}

export class QueueLauncher implements Launcher {
  readonly kind = 'queue';
  readonly waitsForOrphans = false;
  private stopping = false;
  private constructor(
    private readonly opts: QueueLauncherOptions,
    private readonly conn: Redis,
    private readonly queue: Queue,
    readonly slots: number,
    private readonly workers: number,
  ) {}

  static async open(opts: QueueLauncherOptions): Promise<QueueLauncher> {
    const conn = redisConnection(opts.url, (m) => opts.out.write(`ablate: ${m}\n`));
    const queue = new Queue(opts.queue ?? DEFAULT_QUEUE, { connection: conn });
    queue.on('error', () => {}); // said once by the connection
    const workers = (await queue.getWorkers()).length;
    return new QueueLauncher(opts, conn, queue, Math.max(1, workers), workers);
  }

  get where(): string {
    return `queue ${this.queue.name} at ${shownUrl(this.opts.url)} (${this.workers} worker${this.workers === 1 ? '' : 's'} connected now)`;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  stop(): void {
    this.stopping = true;
  }

  stopMessage(sig: NodeJS.Signals): string {
    return `\n${sig}: no longer following; the trials go on on the workers. Rerun the same command to follow them again, \`ablate sweep cancel\` to stop them.\n`;
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.conn.disconnect();
  }

  /** Enqueue every trial (an existing job of the same trial is kept, or replaced once it ended). */
  async enqueue(items: readonly LaunchItem[]): Promise<Map<number, string>> {
    const ids = new Map<number, string>();
    const retries = this.opts.retries ?? 1;
    if (items[0]) await this.conn.del(CANCEL_KEY(items[0].ctx.sweep.id));
    for (const it of items) {
      const id = trialJobId(it.ctx.sweep.id, it.trial.name);
      ids.set(it.trial.index, id);
      const existing = await Job.fromId(this.queue, id);
      // The store said this trial must run, so an ended job (failed, or completed but its run is
      // gone from the store) is replaced; a waiting or running one is simply followed.
      if (existing) {
        const state = await existing.getState();
        if (state === 'completed' || state === 'failed') await existing.remove();
      }
      await this.queue.add('trial', jobData(it), { jobId: id, attempts: retries + 1, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false });
    }
    return ids;
  }

  async run(items: readonly LaunchItem[], hooks: LaunchHooks, detach = false): Promise<void> {
    const ids = await this.enqueue(items);
    if (detach) return;
    const pending = new Map(ids);
    const seen = new Map<number, { attempt?: string; seq: number; active: boolean; attemptsMade: number }>();
    while (pending.size > 0 && !this.stopping) {
      for (const [index, id] of pending) {
        const job = await Job.fromId<TrialJobData, TrialReturn>(this.queue, id);
        const s = seen.get(index) ?? { seq: 0, active: false, attemptsMade: 0 };
        seen.set(index, s);
        if (!job) {
          pending.delete(index);
          await hooks.onEnd(index, { status: 'KILLED', reported: true, error: 'its job was removed from the queue (cancelled)', exitCode: null, signal: null, seconds: 0 });
          continue;
        }
        const state = await job.getState();
        const p = job.progress as Partial<TrialProgress> | number;
        if (typeof p === 'object' && p && p.attempt) {
          if (p.attempt !== s.attempt) {
            s.attempt = p.attempt;
            s.seq = 0;
          }
          for (const { seq, e } of p.events ?? []) {
            if (seq <= s.seq) continue;
            s.seq = seq;
            hooks.onEvent(index, e);
          }
        }
        if (state === 'active' && !s.active) {
          s.active = true;
          hooks.onStart(index);
        } else if (s.active && (ACTIVE_STATES as readonly string[]).includes(state)) {
          s.active = false;
          hooks.onRequeue?.(index, job.attemptsMade > s.attemptsMade ? `retry ${job.attemptsMade}` : 'requeued');
        }
        s.attemptsMade = job.attemptsMade;
        if (state === 'completed' || state === 'failed') {
          pending.delete(index);
          await hooks.onEnd(index, outcomeOf(job, state));
        }
      }
      if (pending.size > 0) await sleep(this.opts.pollMs ?? 250);
    }
  }
}

function trackingUri(specUri: string | undefined): string | undefined {
  return specUri ?? process.env.MLFLOW_TRACKING_URI;
}

function jobData(it: LaunchItem): TrialJobData {
  const spec = it.trial.spec;
  return {
    sweepId: it.ctx.sweep.id,
    index: it.trial.index,
    name: it.trial.name,
    hash: it.trial.hash,
    metric: it.ctx.sweep.sweep.metric,
    file: it.ctx.sweep.base.file,
    overrides: it.trial.overrides.map((o) => o.text),
    cwd: process.cwd(),
    parentRunId: it.ctx.parentRunId,
    ...(it.ctx.parentRemoteId ? { parentRemoteId: it.ctx.parentRemoteId } : {}),
    runName: it.ctx.runName,
    tags: it.ctx.tags,
    // The controller's tracking server goes with the job, so every worker's trial records where the
    // controller reads (a worker's own MLFLOW_TRACKING_URI would split the sweep across stores).
    store: { root: it.ctx.storeRoot, ...(trackingUri(spec.track.uri) ? { uri: trackingUri(spec.track.uri)! } : {}), experiment: spec.track.experiment ?? spec.name },
    cacheDir: spec.cache.dir,
    logFile: it.ctx.logFile,
  };
}

function outcomeOf(job: Job<TrialJobData, TrialReturn>, state: 'completed' | 'failed'): TrialOutcome {
  const runId = lastRunId(job.progress);
  const seconds = job.returnvalue?.seconds ?? (job.finishedOn && job.processedOn ? (job.finishedOn - job.processedOn) / 1000 : 0);
  const base = { exitCode: null, signal: null, reported: true, seconds, ...(runId ? { runId } : {}) };
  if (state === 'completed') return { ...base, status: 'FINISHED', ...(job.returnvalue?.runId ? { runId: job.returnvalue.runId } : {}) };
  const reason = job.failedReason ?? 'failed';
  if (reason === CANCELLED) return { ...base, status: 'KILLED', error: 'cancelled' };
  return { ...base, status: 'FAILED', error: job.attemptsMade > 1 ? `${reason} (after ${job.attemptsMade} attempts)` : reason };
}

export const CANCELLED = 'cancelled (ablate sweep cancel)';

function lastRunId(progress: unknown): string | undefined {
  const p = progress as Partial<TrialProgress> | undefined;
  const run = p?.events?.map((x) => x.e).filter((e) => e.type === 'run').at(-1);
  return run?.type === 'run' ? run.runId : undefined;
}

/** The jobs of one sweep on a queue, in trial order. */
export async function sweepJobs(queue: Queue, sweepId: string): Promise<{ job: Job<TrialJobData, TrialReturn>; state: string }[]> {
  const jobs = await queue.getJobs(['active', 'waiting', 'delayed', 'prioritized', 'paused', 'waiting-children', 'completed', 'failed'], 0, -1);
  const mine = jobs.filter((j): j is Job<TrialJobData, TrialReturn> => Boolean(j?.id?.startsWith(`${sweepId}/`)));
  const rows = await Promise.all(mine.map(async (job) => ({ job, state: await job.getState() })));
  return rows.sort((a, b) => a.job.data.index - b.job.data.index);
}
