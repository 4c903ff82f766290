// How many cores one run may use, and so how many data-parallel training workers it starts by
// default. A sweep running several trials at once divides the machine between them and tells each
// child run its share through ABLATE_CORES (`--jobs 2` on 16 cores: 8 each).
import { availableParallelism } from 'node:os';

/** Environment variable a parent process (a sweep, the test runner) sets to a child's share of the cores. */
export const CORES_ENV = 'ABLATE_CORES';

/** The cores this run may use: ABLATE_CORES when set to a positive integer, else every core of the machine. */
export function coresForRun(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env[CORES_ENV]);
  return Number.isInteger(v) && v > 0 ? v : availableParallelism();
}

/** Each of `jobs` concurrent children's share of `cores` (at least 1). */
export function coresPerJob(cores: number, jobs: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, jobs)));
}

/**
 * `train.workers` as a run uses it: the spec's number, else the cores this run may use. The train
 * stage's key holds this resolved number, because the worker count changes the order of the
 * floating-point sums (N workers give the same numbers on every run, not the numbers of 1 worker).
 */
export function resolveWorkers(workers: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  return workers ?? coresForRun(env);
}

/**
 * A train stage's key slice with `train.workers` as the run resolves it (unset: the cores this run
 * may use), for the same reason: another count, other numbers.
 */
export function withWorkers(slice: Record<string, unknown>, spec: { train: { workers?: number | undefined } }): Record<string, unknown> {
  return { ...slice, train: { ...(slice.train as Record<string, unknown>), workers: resolveWorkers(spec.train.workers) } };
}
