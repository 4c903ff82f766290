// `ablate worker`'s engine: take trial jobs from the queue and run each as a child `ablate run`
// (a separate process, so a blocked event loop in training never stops this process renewing the
// job's lease). BullMQ renews the lease while the processor runs, i.e. while the child lives; a
// worker that dies stops renewing, and another worker's stalled-job check hands the job on. A
// trial delivered twice is harmless: the store is asked first (finished → nothing runs; running in
// a live process → wait for it), and the stage cache makes a rerun compute nothing twice.
import { accessSync, constants, mkdirSync, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { RunEvent } from '../pipeline/events.js';
import { FileStore } from '../track/file-store.js';
import { localStoreRoot } from '../track/tracker.js';
import { TAG } from '../track/tags.js';
import { CORES_ENV, coresForRun, coresPerJob } from '../train/parallel/cores.js';
import type { RunRecord } from '../track/types.js';
import { ProcessPool, type TrialCommand, type TrialOutcome } from './pool.js';
import { CANCEL_KEY, CANCELLED, DEFAULT_QUEUE, redisConnection, shownUrl, type TrialJobData, type TrialProgress, type TrialReturn } from './queue.js';
import { runWriter, SWEEP_TAG, SweepRecords, sweepRemote } from './records.js';
import { decide, type TrialKeys } from './resume.js';
import { resolve as resolvePath } from 'node:path';
import { summariseParts } from '../pipeline/keys.js';
import { planPipeline } from '../pipeline/plan.js';
import { loadSpec } from '../spec/load.js';

/**
 * The stage keys the trial computes on this machine now (its data, code and libraries): a finished
 * run counts only when it recorded these. If they cannot be computed here, none: the trial runs
 * again rather than be taken as done on a guess.
 */
async function trialKeys(d: TrialJobData, log: (m: string) => void): Promise<TrialKeys> {
  try {
    const { spec } = loadSpec(resolvePath(d.cwd, d.file), d.overrides);
    const plan = await planPipeline(spec, { cwd: d.cwd });
    return { hash: d.hash, stages: Object.fromEntries(plan.map((s) => [s.kind, s.key])), keyParts: Object.fromEntries(plan.map((s) => [s.kind, summariseParts(s.parts)])) };
  } catch (e) {
    log(`trial ${d.name} of ${d.sweepId}: its stage keys cannot be computed here (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); it runs`);
    return { hash: d.hash, stages: {} };
  }
}
import { toPrior } from './run.js';

const BIN = fileURLToPath(new URL('../../../bin/ablate.js', import.meta.url));
/** Events kept in the job's progress: enough for the controller to replay between two reads. */
const EVENTS_KEPT = 40;

export interface QueueWorkerOptions {
  url: string;
  queue?: string;
  concurrency?: number;
  /** Lease of a job (ms): renewed every half of it; a dead worker's jobs move on after about twice it. */
  leaseMs?: number;
  /** How long a child has to checkpoint and end its run after SIGINT before it is killed. */
  graceMs?: number;
  out: { write(s: string): boolean };
  /** How a job's trial is launched (default: a child `ablate run`); tests put a stand-in here. */
  command?: (d: TrialJobData) => TrialCommand;
}

/**
 * The sweep's parent run as this machine's trials must name it: its id in the store they write
 * first, or, on a machine whose mirror of a tracking server has no copy of the parent, its id on
 * the server (so the MLflow UI nests the trial under it).
 */
export function jobParentRunId(d: TrialJobData): string {
  if (!d.parentRemoteId) return d.parentRunId;
  return new FileStore(jobStoreRoot(d)).findRun(d.parentRunId) ? d.parentRunId : d.parentRemoteId;
}

export function trialCommand(d: TrialJobData): TrialCommand {
  const parent = jobParentRunId(d);
  const tagArgs = Object.entries({ ...d.tags, ...(d.tags[TAG.parentRunId] ? { [TAG.parentRunId]: parent } : {}) }).flatMap(([k, v]) => ['--tag', `${k}=${v}`]);
  return {
    command: process.execPath,
    args: [BIN, 'run', d.file, ...d.overrides, '--sweep-id', d.sweepId, '--parent-run', parent, '--run-name', d.runName, ...tagArgs, '--events'],
    cwd: d.cwd,
    ...(d.store.uri ? { env: { ...process.env, MLFLOW_TRACKING_URI: d.store.uri } } : {}),
    logFile: d.logFile,
  };
}

/** What a job needs on this machine that is not here, or undefined. */
export function jobPathProblem(d: TrialJobData): string | undefined {
  if (!existsSync(d.cwd)) return `the sweep's folder ${d.cwd} does not exist on ${hostname()} (workers need the same paths as the controller)`;
  if (!existsSync(d.file)) return `the spec ${d.file} does not exist on ${hostname()}`;
  for (const [what, dir] of [[d.store.uri ? 'local mirror of the tracking server' : 'tracking store', jobStoreRoot(d)], ['cache folder', d.cacheDir]] as const) {
    const p = writableDir(dir, d.cwd);
    if (p) return `${what} ${dir}: ${p} on ${hostname()}`;
  }
  return undefined;
}

/**
 * The local store this worker's run of the job writes first: the sweep's runs/ folder (shared by
 * the machines) or, with an MLflow server, this machine's mirror of it (ABLATE_MIRROR, else runs/
 * in the sweep's folder), the one the child `ablate run` writes.
 */
export function jobStoreRoot(d: TrialJobData, env: NodeJS.ProcessEnv = process.env): string {
  return d.store.uri ? localStoreRoot(d.store.uri, d.cwd, env) : d.store.root;
}

/** Whether a folder can be created and written (relative paths from `cwd`), as a message when not. */
export function writableDir(dir: string, cwd = process.cwd()): string | undefined {
  const abs = dir.startsWith('/') ? dir : `${cwd}/${dir}`;
  try {
    mkdirSync(abs, { recursive: true });
    accessSync(abs, constants.W_OK);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

export class QueueWorker {
  private readonly worker: Worker<TrialJobData, TrialReturn>;
  private readonly pools = new Set<ProcessPool>();
  private handingBack = false;
  private readonly conn;
  readonly id = `${hostname()}:${process.pid}`;
  private get leaseMs(): number {
    return this.opts.leaseMs ?? 30_000;
  }
  private get graceMs(): number {
    return this.opts.graceMs ?? 15_000;
  }

  constructor(private readonly opts: QueueWorkerOptions) {
    const log = (m: string) => opts.out.write(`ablate worker: ${m}\n`);
    this.conn = redisConnection(opts.url, log);
    const lease = this.leaseMs;
    this.worker = new Worker<TrialJobData, TrialReturn>(opts.queue ?? DEFAULT_QUEUE, (job, token) => this.process(job, token), {
      connection: this.conn,
      concurrency: opts.concurrency ?? 1,
      lockDuration: lease,
      stalledInterval: lease,
      // A trial whose worker died more often than this is failed rather than handed on forever.
      maxStalledCount: 3,
      name: this.id,
    });
    this.worker.on('error', () => {}); // connection errors are said once by the connection
    this.worker.on('failed', (job, err) => {
      if (job && err.message !== WaitingError.name) log(`trial ${job.data.name} of ${job.data.sweepId} failed (attempt ${job.attemptsMade}): ${err.message.split('\n')[0]}`);
    });
    // Said once connected (and so listed by `ablate sweep`'s "N workers connected now").
    void this.worker.waitUntilReady().then(
      () => log(`taking trials from queue ${opts.queue ?? DEFAULT_QUEUE} at ${shownUrl(opts.url)}, ${opts.concurrency ?? 1} at a time`),
      () => {},
    );
  }

  /** SIGTERM: children checkpoint and end their runs, their jobs go back to the queue, then close. */
  async handBack(): Promise<void> {
    if (this.handingBack) {
      for (const p of this.pools) p.stop(); // second signal: kill the children now
      return;
    }
    this.handingBack = true;
    const closing = this.worker.close();
    for (const p of this.pools) p.stop();
    await closing;
    this.conn.disconnect();
  }

  private async process(job: Job<TrialJobData, TrialReturn>, token?: string): Promise<TrialReturn> {
    const d = job.data;
    const log = (m: string) => this.opts.out.write(`ablate worker: ${m}\n`);
    if (await this.conn.get(CANCEL_KEY(d.sweepId))) throw new UnrecoverableError(CANCELLED);
    const problem = jobPathProblem(d);
    if (problem) throw new Error(problem);
    const root = jobStoreRoot(d);
    const records = new SweepRecords(root, d.store.experiment, sweepRemote(d.store.uri));
    // A run RUNNING on another machine cannot be asked whether it lives. Its worker stops it once
    // that worker's lease lapses (watchLease below), so it is waited for a lease and the child's
    // grace at most; still RUNNING after that, its machine is gone and the run is closed here.
    // With an MLflow server the runs of the other machines are read from the server (this
    // machine's runs/ has only its own), their writers from the runs' ablate.process tags.
    const waitElsewhereUntil = Date.now() + 2 * this.leaseMs + this.graceMs;
    const elsewhere = (r: RunRecord) => r.info.status === 'RUNNING' && runWriter(r)?.host !== hostname();
    const live = (r: RunRecord) => (elsewhere(r) ? Date.now() < waitElsewhereUntil : records.isLive(r));
    const trialRuns = () => records.trialRuns(d.sweepId, { hash: d.hash, log });
    let runs = await trialRuns();
    // A second delivery of a trial (a lease lost while its child ran on) waits for that child and
    // takes its result instead of running the trial a second time.
    const keys = await trialKeys(d, log);
    let decision = decide(keys, toPrior(runs, d.metric, live));
    if (decision.action === 'wait') log(`trial ${d.name} of ${d.sweepId}: its run ${decision.prior?.runId} is still running; waiting for it`);
    // As the controller says it: a trial that ran before and runs again says why.
    if (decision.reason) log(`trial ${d.name} of ${d.sweepId}: runs again: ${decision.reason}`);
    while (decision.action === 'wait') {
      await sleep(1000);
      runs = await trialRuns();
      decision = decide(keys, toPrior(runs, d.metric, live));
    }
    // Whatever of this trial is still RUNNING now has no live writer (this host's dead ones in the
    // local store were closed by trialRuns): closed, so that no run stays RUNNING forever.
    for (const r of runs) {
      if (r.info.status !== 'RUNNING' || live(r)) continue;
      const p = runWriter(r);
      const why = !p
        ? `its writer is unknown and it is still RUNNING after ${this.id} waited a lease for it`
        : p.host !== hostname()
          ? `process ${p.pid} on ${p.host} died without ending the run (its worker lost the trial's lease; ${this.id} took the trial over)`
          : `process ${p.pid} on ${p.host} died without ending the run`;
      await records.closeDead(r, why, log);
      log(`trial ${d.name} of ${d.sweepId}: closed its run ${r.info.runId}, left RUNNING${p ? ` on ${p.host}` : ''}, which no longer holds the trial`);
    }
    if (decision.action === 'skip') {
      const now = Date.now();
      return { status: 'FINISHED', ...(decision.prior ? { runId: decision.prior.runId } : {}), seconds: 0, childStart: now, childEnd: now, already: true };
    }

    // The run records say which worker ran it and which delivery it was: a trial handed on after
    // a worker died reads as a KILLED run on one worker and its continuation on another.
    const run = { ...d, tags: { ...d.tags, [SWEEP_TAG.worker]: this.id, [SWEEP_TAG.attempt]: String(job.attemptsStarted || job.attemptsMade + 1) } };
    const attempt = `${this.id}:${Date.now()}`;
    const progress: TrialProgress = { attempt, worker: this.id, startedAt: Date.now(), seq: 0, events: [] };
    let dirty = false;
    const flush = async () => {
      if (!dirty) return;
      dirty = false;
      await job.updateProgress(progress as unknown as object).catch(() => {
        dirty = true; // Redis away: the next flush sends it
      });
    };
    const timer = setInterval(() => void flush(), 300);
    let cancelled = false;
    const pool = new ProcessPool({
      jobs: 1,
      graceMs: this.graceMs,
      onEvent: (_t, e: RunEvent) => {
        progress.seq += 1;
        progress.events.push({ seq: progress.seq, e });
        if (progress.events.length > EVENTS_KEPT) progress.events.splice(0, progress.events.length - EVENTS_KEPT);
        dirty = true;
      },
    });
    const cancelWatch = setInterval(() => {
      void this.conn.get(CANCEL_KEY(d.sweepId)).then((v) => {
        if (v && !cancelled) {
          cancelled = true;
          log(`trial ${d.name} of ${d.sweepId}: cancelled, stopping it`);
          pool.stop();
        }
      }, () => {});
    }, 1000);
    // Whether this worker still holds the trial: a lease not renewed for its length (Redis
    // unreachable) or renewed by someone else may be handed to another worker, so the child is
    // stopped (it checkpoints) rather than left training beside the worker that takes it over.
    let lostLease: string | undefined;
    const loseLease = (why: string) => {
      if (lostLease) return;
      lostLease = why;
      log(`trial ${d.name} of ${d.sweepId}: ${why}; stopping it (checkpointed) for the worker that takes it over`);
      pool.stop();
    };
    let renewedAt = Date.now();
    const onRenewed = (e: { jobIds: string[] }) => {
      if (job.id && e.jobIds.includes(job.id)) renewedAt = Date.now();
    };
    const onLost = (ids: string[]) => {
      if (job.id && ids.includes(job.id)) loseLease('its lease was lost to another worker');
    };
    this.worker.on('locksRenewed', onRenewed);
    this.worker.on('lockRenewalFailed', onLost);
    const leaseWatch = setInterval(() => {
      const since = Date.now() - renewedAt;
      if (since > this.leaseMs) loseLease(`its lease was not renewed for ${(since / 1000).toFixed(1)} s (Redis unreachable?)`);
    }, Math.min(1000, this.leaseMs / 4));
    this.pools.add(pool);
    log(`trial ${d.name} of ${d.sweepId}: starting (attempt ${job.attemptsMade + 1})`);
    const childStart = Date.now();
    let outcome: TrialOutcome;
    try {
      const cmd = (this.opts.command ?? trialCommand)(run);
      // The child ends its run (checkpointing) when this worker dies: otherwise a kill -9'd worker
      // would leave it training on beside the worker that takes the job over.
      // Its share of this machine's cores: the worker's own share over its concurrent trials.
      cmd.env = { ...(cmd.env ?? process.env), ABLATE_PARENT_PID: String(process.pid), [CORES_ENV]: String(coresPerJob(coresForRun(), this.opts.concurrency ?? 1)) };
      outcome = (await pool.run([{ id: d.index, command: cmd }])).get(d.index)!;
    } finally {
      this.pools.delete(pool);
      clearInterval(cancelWatch);
      clearInterval(leaseWatch);
      clearInterval(timer);
      this.worker.off('locksRenewed', onRenewed);
      this.worker.off('lockRenewalFailed', onLost);
    }
    const childEnd = Date.now();
    const stoppedBy = cancelled ? 'cancelled (ablate sweep cancel)' : lostLease ? lostLease : this.handingBack ? `its worker ${this.id} got SIGTERM and handed the trial back` : undefined;
    let runId = outcome.runId;
    if (!outcome.reported) {
      runId = records.recordUnreported({
        ...(outcome.runId ? { runId: outcome.runId } : {}),
        status: outcome.status,
        error: [outcome.error ?? outcome.status.toLowerCase(), stoppedBy].filter(Boolean).join('; '),
        sweepId: d.sweepId,
        parentRunId: jobParentRunId(d),
        trialName: d.name,
        trialIndex: d.index,
        tags: { ...run.tags, ...(d.tags[TAG.parentRunId] ? { [TAG.parentRunId]: jobParentRunId(d) } : {}), [TAG.specHash]: d.hash },
        startTime: childStart,
      });
    }
    const folder = runId && (!outcome.reported || (stoppedBy && outcome.status !== 'FINISHED')) ? records.runFolder(runId) : undefined;
    if (folder) {
      // The run says why it ended: the child only knows it was asked to stop.
      if (stoppedBy && outcome.status !== 'FINISHED') folder.setTag(SWEEP_TAG.stopped, stoppedBy);
      await records.upload(folder, log);
    }
    dirty = true;
    await flush();
    log(`trial ${d.name} of ${d.sweepId}: ${outcome.status.toLowerCase()} in ${outcome.seconds.toFixed(1)} s`);
    if (outcome.status === 'FINISHED') return { status: 'FINISHED', ...(outcome.runId ? { runId: outcome.runId } : {}), seconds: outcome.seconds, childStart, childEnd };
    if (cancelled) throw new UnrecoverableError(CANCELLED);
    if ((lostLease || this.handingBack) && token) {
      // Stopped by SIGTERM or a lapsed lease, not failed: back to the queue without using up an
      // attempt. Where the lock is gone already BullMQ refuses, and its stalled-job check hands
      // the trial on instead; either way it resumes from the checkpoint just written.
      await job.moveToWait(token).catch(() => {});
      throw new WaitingError();
    }
    throw new Error(outcome.error ?? `trial ${outcome.status.toLowerCase()}`);
  }
}
