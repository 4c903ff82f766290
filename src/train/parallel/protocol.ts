// Messages between the main thread (rank 0) and a training worker (ranks 1…N−1).
import type { ModelArtifacts, TaskRecipe } from './replica.js';

export interface WorkerInit {
  rank: number;
  /** The main thread's backend (`wasm`, `cpu`): each worker starts its own, single-threaded. */
  backend: string;
  models: ModelArtifacts[];
  /** [model, index into its weights] of each phase's trained variables. */
  phases: WeightRef[][];
  /** Every variable rank 0 publishes (the phases' variables, each once), then the moving statistics. */
  published: WeightRef[];
  stats: WeightRef[];
  recipe: TaskRecipe;
  /** Current weights (`published`, then `stats`), written by rank 0 before every step. */
  weights: SharedArrayBuffer;
  /** One slot per rank: its gradients from offset 0, its statistics from `statOffset`. */
  slots: SharedArrayBuffer;
  slotLen: number;
  statOffset: number;
}

/** A model weight: which model, which weight, and its original name (checked against the replica's). */
export interface WeightRef {
  model: number;
  index: number;
  name: string;
}

/** An optimizer step of a phase, or a forward pass (`map`: the task's ShardMap `fn`) on the worker's shard. */
export type ToWorker = { type: 'step'; step: number; phase: number; batch: unknown } | { type: 'map'; index: number; fn: number; batch: unknown };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; loss: number; terms: number[]; counts: number[] }
  | { type: 'mapped'; outputs: Float32Array[] }
  | { type: 'error'; message: string; stack?: string | undefined };

/**
 * Test hook: `ABLATE_TEST_WORKER_FAIL=<rank>:<n>[:exit|:pass]` makes that worker throw (or exit the
 * thread with code 3, as an out-of-memory kill would end it) on optimizer step n; with `pass`, it
 * throws on the n-th (0-based) batch of a forward pass (features, evaluation, quality score).
 */
export const FAIL_ENV = 'ABLATE_TEST_WORKER_FAIL';

export function injectedFailure(rank: number, step: number, env: NodeJS.ProcessEnv = process.env, pass = false): 'throw' | 'exit' | undefined {
  const v = env[FAIL_ENV];
  if (!v) return undefined;
  const [r, s, how] = v.split(':');
  if (Number(r) !== rank || Number(s) !== step || (how === 'pass') !== pass) return undefined;
  return how === 'exit' ? 'exit' : 'throw';
}
