// Synchronous data-parallel training over worker threads. Rank 0 is the main thread and keeps the
// model the loop checkpoints; ranks 1…N−1 are worker threads (worker.ts), each with its own
// single-threaded wasm backend and a replica of the model. One step:
//   1. rank 0 splits the global batch into shards (shards.ts) and posts ranks ≥ 1 theirs;
//   2. every rank computes the loss gradient on its shard (the task's ShardGrads, the same code on
//      every rank) and writes it into its slot of a SharedArrayBuffer, with its batch-norm moving
//      statistics after its forward pass;
//   3. once all have answered, rank 0 sums the slots in rank order, each weighted by its shard's
//      share of the batch (a fixed order, so the same spec and seed give the same numbers on every
//      run with the same worker count), applies the update with the loop's optimizer, sets the
//      statistics to the shards' weighted mean (the average of the per-shard batch moments), and
//      publishes the new weights in a second shared buffer, which every worker loads before its
//      next shard.
// Only rank 0 has an optimizer: its state never needs copying, a resumed run's workers only need
// the restored weights, and the update is computed once. A worker that fails (an exception, a
// kernel error, its thread exiting, out of memory) rejects the step with its error; the loop then
// ends like any failed step, with the last checkpoint untouched.
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { setNoiseStep } from '../../models/layers.js';
import type { StepResult } from '../epoch-loop.js';
import type { FromWorker, WorkerInit } from './protocol.js';
import { isMovingStat, modelArtifacts, type ParallelTask, variableOf } from './replica.js';

interface Pending {
  resolve: (m: Extract<FromWorker, { type: 'done' | 'ready' }>) => void;
  reject: (e: Error) => void;
}

class Rank {
  pending: Pending | undefined;
  failure: Error | undefined;
  closing = false;

  constructor(
    readonly rank: number,
    readonly worker: Worker,
  ) {
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'error') this.fail(new Error(`training worker ${rank} failed: ${m.message}`));
      else {
        const p = this.pending;
        this.pending = undefined;
        p?.resolve(m);
      }
    });
    worker.on('error', (e) => this.fail(new Error(`training worker ${rank} failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`training worker ${rank} exited with code ${code}${code === 1 ? ' (out of memory, or an uncaught error)' : ''}`));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.failure);
  }

  /** The next answer of this worker. */
  next(): Promise<Extract<FromWorker, { type: 'done' | 'ready' }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }
}

export class DataParallel<B extends { n: number }> {
  private constructor(
    private readonly task: ParallelTask<B>,
    private readonly ranks: Rank[],
    private readonly stats: tf.Variable[],
    private readonly gradLen: number,
    private readonly published: Float32Array,
    private readonly slots: Float32Array[],
  ) {}

  get workers(): number {
    return this.ranks.length + 1;
  }

  /** Starts `workers − 1` worker threads with replicas of `model` at its current weights. */
  static async start<B extends { n: number }>(o: { workers: number; model: tf.LayersModel; task: ParallelTask<B>; backend: string }): Promise<DataParallel<B>> {
    const weights = o.model.weights;
    const trainIndex = o.task.vars.map((v) => weights.findIndex((w) => variableOf(w) === v));
    if (trainIndex.some((i) => i < 0)) throw new Error('data-parallel training: a trained variable is not a weight of the model');
    const statIndex = weights.flatMap((w, i) => (isMovingStat(w) ? [i] : []));
    const stats = statIndex.map((i) => variableOf(weights[i]!));
    const gradLen = o.task.vars.reduce((a, v) => a + v.size, 0);
    const slotLen = gradLen + stats.reduce((a, v) => a + v.size, 0);
    const sharedWeights = new SharedArrayBuffer(slotLen * 4);
    const sharedSlots = new SharedArrayBuffer(o.workers * slotLen * 4);
    const artifacts = await modelArtifacts(o.model);
    const names = [...trainIndex, ...statIndex].map((i) => weights[i]!.originalName);
    const ranks: Rank[] = [];
    for (let r = 1; r < o.workers; r++) {
      const init: WorkerInit = { rank: r, backend: o.backend, model: artifacts, trainIndex, statIndex, names, recipe: o.task.recipe, weights: sharedWeights, slots: sharedSlots, slotLen };
      ranks.push(new Rank(r, new Worker(new URL('./worker.js', import.meta.url), { workerData: init })));
    }
    const slots = Array.from({ length: o.workers }, (_, r) => new Float32Array(sharedSlots, r * slotLen * 4, slotLen));
    const group = new DataParallel(o.task, ranks, stats, gradLen, new Float32Array(sharedWeights), slots);
    try {
      await Promise.all(ranks.map((r) => r.next()));
    } catch (e) {
      await group.close();
      throw e;
    }
    group.publish();
    return group;
  }

  /** Writes rank 0's current weights and statistics where the workers read them. */
  private publish(): void {
    let off = 0;
    for (const v of [...this.task.vars, ...this.stats]) {
      this.published.set(v.dataSync() as Float32Array, off);
      off += v.size;
    }
  }

  /** One synchronous step on the global batch `b`: every rank's shard gradient, combined, applied once by `opt`. */
  async step(b: B, opt: tf.Optimizer, step: number): Promise<StepResult> {
    const shards = this.task.split(b, this.workers);
    const answers = this.ranks.map((r, i) => {
      const shard = shards[i + 1]!;
      if (shard.n === 0) return Promise.resolve(undefined);
      const answer = r.next();
      r.worker.postMessage({ type: 'step', step, batch: shard }, this.task.buffers(shard));
      return answer;
    });
    // Rank 0's shard is never empty (it takes the first rows).
    setNoiseStep(step, 0);
    let own: Awaited<ReturnType<ParallelTask<B>['grads']>>;
    try {
      own = await this.task.grads(shards[0]!);
    } catch (e) {
      await Promise.allSettled(answers);
      throw e;
    }
    const slot0 = this.slots[0]!;
    let off = 0;
    for (const g of own.grads) {
      slot0.set(g.dataSync() as Float32Array, off);
      off += g.size;
    }
    tf.dispose(own.grads);
    for (const s of this.stats) {
      slot0.set(s.dataSync() as Float32Array, off);
      off += s.size;
    }
    const theirs = (await Promise.all(answers)) as (Extract<FromWorker, { type: 'done' }> | undefined)[];
    const results = [{ loss: own.loss, terms: Array.from(own.terms), counts: Array.from(own.counts ?? []) }, ...theirs];
    return this.combine(results, shards.map((s) => s.n), b.n, opt);
  }

  private combine(results: ({ loss: number; terms: number[]; counts: number[] } | undefined)[], sizes: number[], n: number, opt: tf.Optimizer): StepResult {
    const len = this.slots[0]!.length;
    const sum = new Float32Array(len);
    const active = sizes.flatMap((size, r) => (size > 0 ? [r] : []));
    // Gradients: Σ_r (n_r / n) g_r, in rank order.
    for (const r of active) {
      const w = sizes[r]! / n;
      const s = this.slots[r]!;
      for (let i = 0; i < this.gradLen; i++) sum[i]! += w * s[i]!;
    }
    // Statistics: rank 0's plus the weighted differences of the others, so a statistic no rank
    // changed (a frozen layer's) stays bit-identical instead of drifting by rounding.
    const s0 = this.slots[0]!;
    for (let i = this.gradLen; i < len; i++) {
      let v = s0[i]!;
      for (const r of active) if (r > 0) v += (sizes[r]! / n) * (this.slots[r]![i]! - s0[i]!);
      sum[i] = v;
    }
    tf.tidy(() => {
      let off = 0;
      const grads = this.task.vars.map((v) => {
        const g = { name: v.name, tensor: tf.tensor(sum.subarray(off, off + v.size), v.shape, 'float32') };
        off += v.size;
        return g;
      });
      opt.applyGradients(grads);
      for (const s of this.stats) {
        s.assign(tf.tensor(sum.subarray(off, off + s.size), s.shape, 'float32'));
        off += s.size;
      }
    });
    this.publish();
    let loss = 0;
    const terms = new Float64Array(results[0]!.terms.length);
    const counts = new Float64Array(results[0]!.counts.length);
    for (const r of active) {
      const w = sizes[r]! / n;
      const x = results[r]!;
      loss += w * x.loss;
      for (let i = 0; i < terms.length; i++) terms[i]! += w * x.terms[i]!;
      for (let i = 0; i < counts.length; i++) counts[i]! += x.counts[i]!;
    }
    return { loss, terms, counts };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.ranks.map((r) => {
        r.closing = true;
        return r.worker.terminate();
      }),
    );
  }
}
