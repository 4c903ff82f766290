// Forward passes over many rows (the features at the cut, evaluation's predictions, the GAN's
// quality score) split across the data-parallel ranks of `train.workers`, or run on this thread
// with one worker. Both run the same ShardMap functions, so 1 and N workers differ only in which
// thread computed a row: rows come back in the batch's order (rank 0 holds the first rows).
import { DataParallel } from './group.js';
import type { ShardMap, Sharding, TaskRecipe } from './replica.js';
import type * as tf from '@tensorflow/tfjs';

export interface RowPass<B extends { n: number }> {
  readonly workers: number;
  /** Pass `fn` on the batch: every rank's outputs, in rank order. */
  map(b: B, fn?: number, index?: number): Promise<Float32Array[][]>;
  close(): Promise<void>;
}

/** The passes run on this thread (one worker). */
export function localPass<B extends { n: number }>(maps: ShardMap<B>[]): RowPass<B> {
  return {
    workers: 1,
    async map(b, fn = 0) {
      const f = maps[fn];
      if (!f) throw new Error(`no forward pass ${fn}`);
      return [await f(b)];
    },
    async close() {},
  };
}

export interface PassPlan<B> extends Sharding<B> {
  /** The models the passes use (rebuilt on every worker from their topology and weights). */
  models: tf.LayersModel[];
  /** Rank 0's passes; `recipe` builds the same ones on a worker. */
  maps: ShardMap<B>[];
  recipe: TaskRecipe;
}

/** `workers` ranks for the plan's passes (none started with 1: the passes run here). */
export async function startPass<B extends { n: number }>(o: { workers: number; backend: string; plan: PassPlan<B> }): Promise<RowPass<B>> {
  if (o.workers <= 1) return localPass(o.plan.maps);
  return DataParallel.start({ workers: o.workers, backend: o.backend, plan: { ...o.plan, phases: [] } });
}

/** Output `k` of every rank, one after the other: the batch's rows in order. */
export function rowsOf(results: Float32Array[][], k = 0): Float32Array {
  const parts = results.map((r) => r[k]!);
  const out = new Float32Array(parts.reduce((t, p) => t + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Output `k` summed over the ranks, element by element in rank order (per-shard sums). */
export function sumOf(results: Float32Array[][], k = 0): Float64Array {
  const out = new Float64Array(results[0]![k]!.length);
  for (const r of results) for (let i = 0; i < out.length; i++) out[i]! += r[k]![i]!;
  return out;
}
