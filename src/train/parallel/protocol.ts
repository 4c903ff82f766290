// Messages between the main thread (rank 0) and a training worker (ranks 1…N−1).
import type { ModelArtifacts, TaskRecipe } from './replica.js';

export interface WorkerInit {
  rank: number;
  /** The main thread's backend (`wasm`, `cpu`): each worker starts its own, single-threaded. */
  backend: string;
  model: ModelArtifacts;
  /** Indices into model.weights of the trained variables, then of the moving statistics. */
  trainIndex: number[];
  statIndex: number[];
  /** Their original names, checked against the replica's so an order mismatch fails loudly. */
  names: string[];
  recipe: TaskRecipe;
  /** Current weights (trained variables, then statistics), written by rank 0 after every update. */
  weights: SharedArrayBuffer;
  /** One slot per rank: its gradients, then its statistics after its forward pass. */
  slots: SharedArrayBuffer;
  slotLen: number;
}

export type ToWorker = { type: 'step'; step: number; batch: unknown };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; loss: number; terms: number[]; counts: number[] }
  | { type: 'error'; message: string; stack?: string | undefined };

/**
 * Test hook: `ABLATE_TEST_WORKER_FAIL=<rank>:<step>[:exit]` makes that worker throw (or exit the
 * thread with code 3, as an out-of-memory kill would end it) on that optimizer step.
 */
export const FAIL_ENV = 'ABLATE_TEST_WORKER_FAIL';

export function injectedFailure(rank: number, step: number, env: NodeJS.ProcessEnv = process.env): 'throw' | 'exit' | undefined {
  const v = env[FAIL_ENV];
  if (!v) return undefined;
  const [r, s, how] = v.split(':');
  if (Number(r) !== rank || Number(s) !== step) return undefined;
  return how === 'exit' ? 'exit' : 'throw';
}
