// Running a built sweep: decide per trial (skip / run / resume / rerun) from the store, open the
// parent run, hand the trials to a launcher (child processes here, or a queue for workers), keep the
// progress board current, record what children could not, and return every trial's result as a value.
import { CORES_ENV, coresForRun, coresPerJob } from '../train/parallel/cores.js';
import { cpus } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { acquire } from '../cache/lock.js';
import type { RunEvent } from '../pipeline/events.js';
import { TAG } from '../track/tags.js';
import type { RunRecord } from '../track/types.js';
import { type BuiltSweep, type BuiltTrial, planTrials } from './build.js';
import { valueLabel } from './expand.js';
import { type LaunchContext, type Launcher, LocalLauncher } from './launcher.js';
import type { EndStatus, ProcessPool, TrialCommand, TrialOutcome } from './pool.js';
import { ProgressBoard, type TrialView } from './progress.js';
import { SWEEP_TAG, SweepError, SweepRecords, storeRoot, sweepRemote } from './records.js';
import { decide, type PriorRun, type TrialAction, type TrialKeys } from './resume.js';
import { probeHardwareAdapter } from '../backend/webgpu-adapter.js';

export type StageUse = 'computed' | 'reused' | 'waited';

export interface TrialResult {
  index: number;
  name: string;
  axes: Record<string, unknown>;
  hash: string;
  action: TrialAction;
  /** Undefined for a trial that never started (the sweep was stopped or failed fast first). */
  status?: EndStatus;
  runId?: string;
  metric?: number;
  seconds?: number;
  error?: string;
  logFile?: string;
  /** How each stage of this trial was satisfied, from its events. */
  stages: Record<string, StageUse>;
}

export interface SweepResult {
  id: string;
  parentRunId: string;
  experimentId: string;
  storeRoot: string;
  status: EndStatus;
  seconds: number;
  jobs: number;
  launcher: string;
  /** The trials were handed to the launcher and not followed (`--detach`). */
  detached?: boolean;
  trials: TrialResult[];
}

export type { LaunchContext } from './launcher.js';

export interface SweepRunOptions {
  jobs?: number;
  failFast?: boolean;
  /** How a trial is launched; the default is `ablate run` (tests pass a fake trial script). */
  command?: (trial: BuiltTrial, ctx: LaunchContext) => TrialCommand;
  out?: { write(s: string): boolean; isTTY?: boolean; rows?: number };
  tty?: boolean;
  graceMs?: number;
  /** Install SIGINT/SIGTERM handlers that stop the sweep cleanly (default true). */
  handleSignals?: boolean;
  /** Called once the pool runs, so tests can stop it as Ctrl-C would (local launcher only). */
  onPool?: (pool: ProcessPool) => void;
  /** Where the trials run; by default child processes here (`local`). */
  launcher?: Launcher;
  /** Hand the trials to the launcher and return without following them (queue launcher). */
  detach?: boolean;
}

const BIN = fileURLToPath(new URL('../../../bin/ablate.js', import.meta.url));

/** `ablate run <base> <overrides…> --sweep-id … --parent-run … --tag … --events`. */
export function ablateRunCommand(trial: BuiltTrial, ctx: LaunchContext): TrialCommand {
  const tagArgs = Object.entries(ctx.tags).flatMap(([k, v]) => ['--tag', `${k}=${v}`]);
  return {
    command: process.execPath,
    args: [BIN, 'run', ctx.sweep.base.file, ...trial.overrides.map((o) => o.text), '--sweep-id', ctx.sweep.id, '--parent-run', ctx.parentRunId, '--run-name', ctx.runName, ...tagArgs, '--events'],
    logFile: ctx.logFile,
    env: { ...process.env, [CORES_ENV]: String(ctx.cores) },
  };
}

/**
 * Trials at once when the user does not say: native TensorFlow already uses every core, a GPU
 * (node-gpu, webgpu) is one device shared by every trial, so one at a time; wasm and cpu run one
 * thread per process, so those get one per core. `auto` resolves as selection would (webgpu only
 * on a hardware adapter, probed in a child process).
 */
export function defaultJobs(
  backend: string,
  cores: number,
  trials: number,
  installed: (pkg: string) => boolean = isInstalled,
  hardwareGpu: () => boolean = probeHardwareAdapter,
): number {
  let b = backend;
  if (b === 'auto') {
    b = installed('@tensorflow/tfjs-node-gpu') ? 'node-gpu' : hardwareGpu() ? 'webgpu' : installed('@tensorflow/tfjs-node') ? 'node' : 'wasm';
  }
  const jobs = b === 'node-gpu' || b === 'webgpu' ? 1 : b === 'node' ? Math.max(1, Math.floor(cores / 4)) : Math.max(1, cores);
  return Math.max(1, Math.min(jobs, trials));
}

function isInstalled(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

export function trialTags(sweep: BuiltSweep, trial: BuiltTrial): Record<string, string> {
  const tags: Record<string, string> = { [TAG.sweepId]: sweep.id, [SWEEP_TAG.trial]: String(trial.index), [SWEEP_TAG.name]: sweep.name };
  for (const [path, v] of Object.entries(trial.axes)) tags[`${TAG.sweepAxis}${path}`] = valueLabel(v);
  return tags;
}

/** The record of the sweep kept as an artifact of its parent run; `compare` reads it. */
export function sweepManifest(sweep: BuiltSweep): unknown {
  return {
    id: sweep.id,
    name: sweep.name,
    file: sweep.file,
    metric: sweep.sweep.metric,
    goal: sweep.sweep.goal,
    ...(sweep.sweep.baseline !== undefined ? { baseline: sweep.sweep.baseline } : {}),
    axes: sweep.axes,
    cliArgs: sweep.cliArgs,
    base: { file: sweep.base.file, hash: sweep.base.hash, spec: sweep.base.spec },
    trials: sweep.trials.map((t) => ({ index: t.index, name: t.name, axes: t.axes, hash: t.hash, overrides: t.overrides.map((o) => o.text), spec: t.spec })),
  };
}

export async function priorRuns(records: SweepRecords, sweep: BuiltSweep, log: (m: string) => void): Promise<PriorRun[]> {
  const runs = await records.trialRuns(sweep.id, { experiments: trialExperiments(sweep), log });
  return toPrior(runs, sweep.sweep.metric, (r) => records.isLive(r));
}

/** The experiments a sweep's trials track into (an axis may set track.experiment). */
export function trialExperiments(sweep: BuiltSweep): string[] {
  return [...new Set(sweep.trials.map((t) => t.spec.track.experiment ?? t.spec.name))];
}

export function toPrior(runs: RunRecord[], metric: string, live: (r: RunRecord) => boolean = () => false): PriorRun[] {
  return runs.filter((r) => r.tags[SWEEP_TAG.role] !== 'parent').map((r) => ({
    runId: r.info.runId,
    hash: r.tags[TAG.specHash],
    stages: tagsWithPrefix(r.tags, TAG.stage),
    keyParts: tagsWithPrefix(r.tags, TAG.keyParts),
    status: r.info.status,
    startTime: r.info.startTime,
    live: live(r),
    ...(r.tags[TAG.error] ? { error: r.tags[TAG.error] } : {}),
    ...(r.metrics[metric] !== undefined ? { metric: r.metrics[metric] } : {}),
  }));
}

/** The stage keys a trial computes, as the tags a run records them under. */
function keyTags(k: TrialKeys): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(k.stages).map(([kind, key]) => [TAG.stage + kind, key])),
    ...Object.fromEntries(Object.entries(k.keyParts ?? {}).map(([kind, p]) => [TAG.keyParts + kind, p])),
  };
}

function tagsWithPrefix(tags: Record<string, string>, prefix: string): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

export async function runSweep(sweep: BuiltSweep, opts: SweepRunOptions = {}): Promise<SweepResult> {
  const started = Date.now();
  const first = sweep.trials[0]!.spec;
  const root = storeRoot(first.track.uri);
  const records = new SweepRecords(root, first.track.experiment ?? first.name, sweepRemote(first.track.uri));
  const sweepDir = join(root, '.sweeps', sweep.id);
  const out = opts.out ?? process.stderr;
  const log = (m: string) => out.write(`ablate: ${m}\n`);

  // One process per sweep id: a second `ablate sweep` of the same sweep would run trials twice.
  const refuse = new AbortController();
  let holder: { pid: number } | undefined;
  let release: () => void;
  try {
    release = await acquire(join(sweepDir, 'lock'), {
      signal: refuse.signal,
      pollMs: 10,
      onWait: (h) => {
        holder = h;
        refuse.abort();
      },
    });
  } catch {
    throw new SweepError(`sweep ${sweep.id} is already running (pid ${holder?.pid ?? '?'}); wait for it or stop it first`);
  }

  try {
    // Trials still running from an earlier sweep process (killed -9, children orphaned) are
    // waited for rather than launched twice.
    let prior = await priorRuns(records, sweep, log);
    const waitsForOrphans = opts.launcher?.waitsForOrphans ?? true;
    if (waitsForOrphans && prior.some((p) => p.live)) {
      out.write(`waiting for ${prior.filter((p) => p.live).length} trial(s) still running from an earlier sweep process…\n`);
      while (prior.some((p) => p.live)) {
        await sleep(1000);
        prior = await priorRuns(records, sweep, log);
      }
    }
    const parent = records.openParent({
      id: sweep.id,
      name: sweep.name,
      experiment: first.track.experiment ?? first.name,
      file: sweep.file,
      axes: sweep.axes.map((a) => a.path),
      trials: sweep.trials.length,
      metric: sweep.sweep.metric,
      goal: sweep.sweep.goal,
    });
    const parentRunId = parent.meta.run_id;
    records.writeArtifact(parent, 'sweep.json', `${JSON.stringify(sweepManifest(sweep), null, 1)}\n`);
    records.writeArtifact(parent, 'base.spec.yaml', stringify(sweep.base.spec));
    await records.upload(parent, log, 'sweep parent run');
    const parentRemoteId = records.remoteRunId(parent);

    const planned = await planTrials(sweep.trials);
    const results: TrialResult[] = sweep.trials.map((t) => {
      let d = decide(planned[t.index]!.keys, prior);
      if (d.reason) out.write(`${t.name}: runs again: ${d.reason}
`);
      // A trial still running on a worker is followed again: its job id finds the same job.
      if (d.action === 'wait') d = { action: 'resume', ...(d.prior ? { prior: d.prior } : {}) };
      return {
        index: t.index,
        name: t.name,
        axes: t.axes,
        hash: t.hash,
        action: d.action,
        stages: {},
        ...(d.action === 'skip' && d.prior ? { status: 'FINISHED' as const, runId: d.prior.runId, ...(d.prior.metric !== undefined ? { metric: d.prior.metric } : {}) } : {}),
      };
    });
    const views: TrialView[] = results.map((r) => ({
      ...(sweep.trials[r.index]!.spec.train.steps === undefined ? { epochs: sweep.trials[r.index]!.spec.train.epochs } : {}),
      index: r.index,
      name: r.name,
      state: r.action === 'skip' ? 'skipped' : 'queued',
      ...(r.metric !== undefined ? { metric: r.metric } : {}),
      ...(r.action === 'resume' || r.action === 'rerun' ? { note: r.action } : {}),
    }));
    const toRun = sweep.trials.filter((t) => results[t.index]!.action !== 'skip');
    const launcher =
      opts.launcher ??
      new LocalLauncher(
        { jobs: opts.jobs ?? sweep.sweep.jobs ?? defaultJobs(first.train.backend, cpus().length, Math.max(1, toRun.length)), failFast: opts.failFast ?? false, graceMs: opts.graceMs ?? 15_000 },
        (it) => (opts.command ?? ablateRunCommand)(it.trial, it.ctx),
      );
    const jobs = launcher.slots;
    const skipped = results.length - toRun.length;
    out.write(
      `sweep ${sweep.id}: ${results.length} trials${skipped ? ` (${skipped} finished earlier)` : ''}, ${launcher.where} · store ${root} · parent run ${parentRunId}\n`,
    );
    const board = new ProgressBoard(views, { jobs, metric: sweep.sweep.metric, out, ...(opts.tty !== undefined ? { tty: opts.tty } : {}) });

    const startTimes = new Map<number, number>();
    const hooks = {
      onStart: (id: number) => {
        const v = views[id]!;
        v.state = 'running';
        v.startedAt = Date.now();
        v.note = undefined;
        startTimes.set(id, Date.now());
        board.update(v);
      },
      onRequeue: (id: number, note: string) => {
        const v = views[id]!;
        Object.assign(v, { state: 'queued', note, stage: undefined, done: undefined, total: undefined, epoch: undefined });
        board.update(v);
      },
      onEvent: (id: number, e: RunEvent) => onEvent(views[id]!, results[id]!, e, sweep.sweep.metric, () => board.update(views[id]!)),
      onEnd: async (id: number, outcome: TrialOutcome) => {
        const r = results[id]!;
        const v = views[id]!;
        const trial = sweep.trials[id]!;
        let runId = outcome.runId;
        if (!outcome.reported) {
          runId = records.recordUnreported({
            ...(outcome.runId ? { runId: outcome.runId } : {}),
            status: outcome.status,
            error: outcome.error ?? outcome.status.toLowerCase(),
            sweepId: sweep.id,
            parentRunId,
            trialName: trial.name,
            trialIndex: trial.index,
            tags: { ...trialTags(sweep, trial), [TAG.specHash]: trial.hash, ...keyTags(planned[trial.index]!.keys) },
            startTime: startTimes.get(id) ?? Date.now(),
          });
          const folder = records.runFolder(runId);
          if (folder) await records.upload(folder, log);
        }
        Object.assign(r, settle(outcome), runId ? { runId } : {});
        // The main metric as the store has it at the end (events may not carry every metric).
        const final = runId ? await records.finalMetric(runId, sweep.sweep.metric) : undefined;
        if (final !== undefined) {
          r.metric = final;
          v.metric = final;
        }
        v.state = outcome.status === 'FINISHED' ? 'done' : outcome.status === 'FAILED' ? 'failed' : 'killed';
        v.seconds = outcome.seconds;
        if (outcome.error) v.error = outcome.error;
        board.update(v);
      },
    };
    if (launcher instanceof LocalLauncher) opts.onPool?.(launcher.pool);

    const handleSignals = opts.handleSignals ?? true;
    const onSignal = (sig: NodeJS.Signals) => {
      out.write(launcher.stopMessage(sig));
      launcher.stop();
    };
    if (handleSignals) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    board.start();
    try {
      await launcher.run(
        toRun.map((t) => ({
          trial: t,
          ctx: {
            sweep,
            parentRunId,
            ...(parentRemoteId ? { parentRemoteId } : {}),
            tags: { ...trialTags(sweep, t), [TAG.parentRunId]: parentRunId },
            runName: `${sweep.name} ${t.name}`,
            logFile: trialLogFile(sweepDir, t.index),
            storeRoot: root,
            cores: coresPerJob(coresForRun(), jobs),
          },
        })),
        hooks,
        opts.detach,
      );
    } finally {
      board.stop();
      if (handleSignals) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }
    if (opts.detach) {
      // The parent stays RUNNING: a later `ablate sweep` of the same sweep follows and closes it.
      return { id: sweep.id, parentRunId, experimentId: records.experimentId, storeRoot: root, status: 'FINISHED', seconds: (Date.now() - started) / 1000, jobs, launcher: launcher.kind, detached: true, trials: results };
    }
    for (const r of results) if (r.status === undefined && r.action !== 'skip') r.logFile = undefined;
    for (const t of toRun) {
      const r = results[t.index]!;
      if (r.status !== undefined) r.logFile = trialLogFile(sweepDir, t.index);
    }
    const status: EndStatus = launcher.isStopping || results.some((r) => r.status === 'KILLED' || r.status === undefined)
      ? 'KILLED'
      : results.some((r) => r.status === 'FAILED')
        ? 'FAILED'
        : 'FINISHED';
    const seconds = (Date.now() - started) / 1000;
    const count = (s: EndStatus) => results.filter((r) => r.status === s).length;
    records.endParent(parent, status, { trials_finished: count('FINISHED'), trials_failed: count('FAILED'), trials_killed: count('KILLED'), wall_seconds: seconds });
    records.writeArtifact(parent, 'results.json', `${JSON.stringify(results, null, 1)}\n`);
    await records.upload(parent, log, 'sweep parent run');
    return { id: sweep.id, parentRunId, experimentId: records.experimentId, storeRoot: root, status, seconds, jobs, launcher: launcher.kind, trials: results };
  } finally {
    release();
  }
}

/** A trial's log (its child's stdout and stderr), beside the store so every worker can append. */
export function trialLogFile(sweepDir: string, index: number): string {
  return join(sweepDir, 'logs', `${String(index).padStart(3, '0')}.log`);
}

function settle(o: TrialOutcome): Partial<TrialResult> {
  return { status: o.status, seconds: o.seconds, ...(o.error ? { error: o.error } : {}) };
}

function onEvent(v: TrialView, r: TrialResult, e: RunEvent, metric: string, changed: () => void): void {
  switch (e.type) {
    case 'stage':
      // wait → hit: another trial computed it (reused after waiting); wait → start: its holder died
      // and this trial computes it after all.
      if (e.status === 'start') r.stages[e.kind] = 'computed';
      else if (e.status === 'wait') r.stages[e.kind] = 'waited';
      else if (e.status === 'hit' && r.stages[e.kind] !== 'waited') r.stages[e.kind] = 'reused';
      if (e.status === 'start' || e.status === 'wait') {
        v.stage = e.kind;
        v.waiting = e.status === 'wait';
        v.done = undefined;
        v.total = undefined;
      }
      break;
    case 'progress':
      // Training progress restarts every epoch; count the restarts to know the whole.
      if (e.kind === 'train' && v.stage === 'train' && v.done !== undefined && e.done < v.done) v.epoch = (v.epoch ?? 0) + 1;
      v.stage = e.kind;
      v.waiting = false;
      v.done = e.done;
      v.total = e.total;
      v.unit = e.unit;
      break;
    case 'metric':
      if (e.key === metric) {
        v.metric = e.value;
        r.metric = e.value;
      }
      break;
    case 'run':
      r.runId = e.runId;
      break;
    case 'end':
      break;
  }
  changed();
}
