// Running a compiled pipeline: cache hits are served, misses computed under a per-key lock into a
// temp folder and committed by rename, the TF backend is started once before the first TF stage,
// and everything is recorded in one tracked run that ends FINISHED, FAILED or KILLED.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquire, describeHolder } from '../cache/lock.js';
import { commit, dropCorrupt, isComplete, makeTemp, MARKER } from '../cache/commit.js';
import { takeWorkFolder } from '../cache/workdir.js';
import type { LoadedSpec } from '../spec/load.js';
import { nullSink, type EventSink } from './events.js';
import { planPipeline, type PlanEntry, usesTf } from './plan.js';
import { createProgress, formatDuration } from './progress.js';
import type { StageContext, StageKind, StageLogger } from './types.js';
import { TAG } from '../track/tags.js';
import { startTrackedRun, type ActiveRun, type RunOptionsTracking } from './tracking.js';

export interface ExecuteOptions extends RunOptionsTracking {
  events?: EventSink;
  /** Where human-readable lines go (stderr by default, so stdout stays clean for scripts). */
  out?: NodeJS.WriteStream;
  signal?: AbortSignal;
}

export interface ExecuteResult {
  status: 'FINISHED' | 'FAILED' | 'KILLED';
  runId?: string;
  error?: Error;
  stages: Array<{ kind: StageKind; key: string; status: 'hit' | 'computed' | 'ran'; seconds: number }>;
}

export class AbortedError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'AbortedError';
  }
}

/** Stage messages go to the terminal and into the run's run.log artifact. */
function logger(out: NodeJS.WriteStream, run: ActiveRun): StageLogger {
  const write = (line: string) => {
    out.write(`${line}\n`);
    run.appendLog(line);
  };
  return { info: (m) => write(m), warn: (m) => write(`warning: ${m}`) };
}

export async function executePipeline(loaded: LoadedSpec, opts: ExecuteOptions = {}): Promise<ExecuteResult> {
  const { spec } = loaded;
  const events = opts.events ?? nullSink;
  const out = opts.out ?? process.stderr;
  const signal = opts.signal ?? new AbortController().signal;
  const plan = await planPipeline(spec);

  const tracked = await startTrackedRun(loaded, plan, opts);
  // Every metric a stage logs also goes to the sweep parent, so its progress lines show
  // val_accuracy (or whatever the sweep ranks by) as training goes, not only at the end.
  const run: typeof tracked = {
    ...tracked,
    logMetric(key, value, step) {
      tracked.logMetric(key, value, step);
      events.emit({ type: 'metric', key, value, step: step ?? 0 });
    },
  };
  events.emit({ type: 'run', runId: run.id, experimentId: run.experimentId });
  const log = logger(out, run);
  const done: Map<StageKind, string> = new Map();
  const result: ExecuteResult = { status: 'FINISHED', runId: run.id, stages: [] };
  const temps: string[] = [];
  let backendReady = false;
  const releases: Array<() => void> = [];
  try {
    for (const stage of plan) {
      if (signal.aborted) throw new AbortedError();
      if (!backendReady && usesTf(stage.impl)) {
        const { initBackend, parallelisesItself } = await import('../backend/index.js');
        const { resolveWorkers } = await import('../train/parallel/cores.js');
        const workers = resolveWorkers(spec.train.workers);
        const b = await initBackend(spec.train.backend, undefined, workers);
        run.setTag(TAG.backend, b.name);
        if (!parallelisesItself(b.tfBackend)) run.setTag(TAG.workers, String(workers));
        if (b.device) run.setTag(TAG.backendDevice, b.device);
        backendReady = true;
      }
      const t0 = Date.now();
      const cpu0 = process.cpuUsage();
      const status = await runStage(stage, { loaded, run, log, events, out, signal, done, temps, releases });
      const seconds = (Date.now() - t0) / 1000;
      result.stages.push({ kind: stage.kind, key: stage.key, status, seconds });
      events.emit({ type: 'stage', kind: stage.kind, status: status === 'hit' ? 'hit' : 'done', key: stage.key, seconds });
      if (status !== 'hit') {
        run.logMetric(`time_${stage.kind}_s`, seconds);
        // CPU time of this process (its worker threads included; the preprocessing pool's are
        // too): unlike wall time it does not grow when a sweep's neighbours share the cores.
        run.logMetric(`cpu_${stage.kind}_s`, cpuSeconds(process.cpuUsage(cpu0)));
      }
    }
    run.logMetric('cpu_s', cpuSeconds(process.cpuUsage()));
    // What the sweep hears must be what the store says (a Ctrl-C can land between the two).
    result.status = await run.end('FINISHED');
  } catch (e) {
    // A lost GPU device (webgpu) is said first: the op that noticed it throws something obscure.
    const lost = backendReady && e instanceof Error ? (await import('../backend/webgpu.js')).deviceLostError(e) : e;
    const err = lost instanceof Error ? damagedInputHint(lost, done, plan) : new Error(String(e));
    const killed = err instanceof AbortedError || signal.aborted;
    result.status = killed ? 'KILLED' : 'FAILED';
    result.error = err;
    result.status = await run.end(result.status, killed ? undefined : err);
  } finally {
    for (const t of temps) rmSync(t, { recursive: true, force: true });
    for (const r of releases) r();
  }
  events.emit({ type: 'end', status: result.status, ...(result.error && result.status === 'FAILED' ? { error: result.error.message } : {}) });
  return result;
}

/**
 * A stage that fails reading a file of a cached input stage (a truncated chunk after a disk
 * problem, a file edited by hand) would fail the same way on every rerun: say which stage folder to
 * remove so the next run recomputes it.
 */
function damagedInputHint(err: Error, done: Map<StageKind, string>, plan: PlanEntry[]): Error {
  const cached = new Set(plan.map((s) => s.dir));
  for (const [kind, dir] of done) {
    if (cached.has(dir) && err.message.includes(`${dir}/`)) {
      err.message += `\n  (the cached ${kind} stage looks damaged: remove ${dir} and rerun to recompute it)`;
      break;
    }
  }
  return err;
}

interface StageEnv {
  loaded: LoadedSpec;
  run: ActiveRun;
  log: StageLogger;
  events: EventSink;
  out: NodeJS.WriteStream;
  signal: AbortSignal;
  done: Map<StageKind, string>;
  temps: string[];
  /** Locks of this run's work folders, held until the run ends (evaluate reads train's). */
  releases: Array<() => void>;
}

async function runStage(stage: PlanEntry, env: StageEnv): Promise<'hit' | 'computed' | 'ran'> {
  const { spec } = env.loaded;
  const { impl } = stage;
  const useCache = stage.cacheable && spec.cache.enabled;
  const tag = `${stage.kind} ${stage.key}`;
  env.run.setTag(`ablate.stage.${stage.kind}`, stage.key);

  const ctxFor = (outDir: string): StageContext => ({
    spec,
    stage,
    out: outDir,
    input: (kind) => {
      const dir = env.done.get(kind);
      if (!dir) throw new Error(`stage ${stage.kind} asked for input "${kind}", which is not part of this pipeline`);
      return dir;
    },
    log: env.log,
    progress: createProgress({ label: stage.kind, stream: env.out, events: env.events, kind: stage.kind }),
    run: env.run,
    signal: env.signal,
  });

  if (!stage.cacheable) {
    // A work folder of this run's own, locked while the run lives: a concurrent run of the same
    // spec gets another one; a rerun after an interruption continues the one it left.
    const work = await takeWorkFolder(stage.dir, { signal: env.signal });
    env.releases.push(work.release);
    env.events.emit({ type: 'stage', kind: stage.kind, status: 'start', key: stage.key });
    env.log.info(`${tag}: running in ${work.dir}${work.resumed ? ' (continuing an interrupted run)' : ''}`);
    await impl.run(ctxFor(work.dir));
    writeFileSync(join(work.dir, MARKER), JSON.stringify({ key: stage.key, kind: stage.kind, createdAt: new Date().toISOString() }));
    env.done.set(stage.kind, work.dir);
    return 'ran';
  }

  if (!useCache) {
    const tmp = makeTemp(stage.dir);
    env.temps.push(tmp);
    env.events.emit({ type: 'stage', kind: stage.kind, status: 'start', key: stage.key });
    env.log.info(`${tag}: computing (cache disabled)`);
    await impl.run(ctxFor(tmp));
    env.done.set(stage.kind, tmp);
    await logManifest(env, stage, tmp);
    return 'computed';
  }

  if (isComplete(stage.dir)) {
    env.log.info(`${tag}: cache hit (${stage.dir})`);
    env.done.set(stage.kind, stage.dir);
    await logManifest(env, stage, stage.dir);
    return 'hit';
  }

  const release = await acquire(`${stage.dir}.lock`, {
    signal: env.signal,
    onWait: (h) => {
      env.events.emit({ type: 'stage', kind: stage.kind, status: 'wait', key: stage.key });
      env.log.info(`${tag}: waiting for ${describeHolder(h)}, which is computing it (taken over if its lease of ${Math.round((h?.leaseMs ?? 60_000) / 1000)} s lapses)`);
    },
  });
  try {
    if (isComplete(stage.dir)) {
      env.log.info(`${tag}: cache hit (computed by another run while we waited)`);
      env.done.set(stage.kind, stage.dir);
      await logManifest(env, stage, stage.dir);
      return 'hit';
    }
    if (dropCorrupt(stage.dir)) env.log.warn(`${tag}: removed an incomplete cache entry`);
    const tmp = makeTemp(stage.dir);
    env.temps.push(tmp);
    env.events.emit({ type: 'stage', kind: stage.kind, status: 'start', key: stage.key });
    env.log.info(`${tag}: computing`);
    const t0 = Date.now();
    await impl.run(ctxFor(tmp));
    commit(tmp, stage.dir, { key: stage.key, kind: stage.kind, createdAt: new Date().toISOString(), seconds: (Date.now() - t0) / 1000 });
    env.log.info(`${tag}: done in ${formatDuration((Date.now() - t0) / 1000)}`);
    env.done.set(stage.kind, stage.dir);
    await logManifest(env, stage, stage.dir);
    return 'computed';
  } finally {
    release();
  }
}

/** Stage manifests (e.g. the skipped-files list of preprocessing) travel with every run. */
async function logManifest(env: StageEnv, stage: PlanEntry, dir: string): Promise<void> {
  const manifest = join(dir, 'manifest.json');
  if (existsSync(manifest)) await env.run.logArtifact(manifest, `stages/${stage.kind}`);
}

function cpuSeconds(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1e6;
}
