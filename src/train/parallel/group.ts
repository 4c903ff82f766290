// Synchronous data-parallel training over worker threads. Rank 0 is the main thread and keeps the
// models the loop checkpoints; ranks 1…N−1 are worker threads (worker.ts), each with its own
// single-threaded wasm backend and replicas of the models. One step (of one phase: the epoch loop
// has one, a GAN two, the critic's and the generator's):
//   1. rank 0 publishes its current weights in a SharedArrayBuffer (so whatever changed them since
//      the last step, a restore, a resume, a WGAN clip, reaches every rank), splits the global batch
//      into shards (shards.ts) and posts ranks ≥ 1 theirs;
//   2. every rank computes the phase's loss gradient on its shard (the task's ShardGrads, the same
//      code on every rank) and writes it into its slot of a second shared buffer, with its
//      batch-norm moving statistics after its forward pass;
//   3. once all have answered, rank 0 sums the slots in rank order, each weighted by its shard's
//      share of the batch (a fixed order, so the same spec and seed give the same numbers on every
//      run with the same worker count), applies the update with the phase's optimizer, and sets the
//      statistics to the shards' weighted mean (the average of the per-shard batch moments).
// Only rank 0 has optimizers: their state never needs copying, a resumed run's workers only need
// the restored weights, and the update is computed once. A worker that fails (an exception, a
// kernel error, its thread exiting, out of memory) rejects the step with its error; the loop then
// ends like any failed step, with the last checkpoint untouched.
//
// The same ranks run the task's forward passes (map: the features at the cut, evaluation's
// predictions, the GAN's quality score): rank 0 publishes its weights, every rank runs the pass on
// its shard, and the outputs come back in rank order, so the rows are those of one rank in the
// batch's order. A group may have passes and no training phase at all (the stages that only infer).
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { setNoiseStep } from '../../models/layers.js';
import type { StepResult } from '../epoch-loop.js';
import { readInto, tensorOf } from './copy.js';
import type { FromWorker, ToWorker, WeightRef, WorkerInit } from './protocol.js';
import { isMovingStat, modelArtifacts, type ParallelPlan, type ShardGrads, variableOf } from './replica.js';

type Answer = Extract<FromWorker, { type: 'done' | 'ready' | 'mapped' }>;

interface Pending {
  resolve: (m: Answer) => void;
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
  next(): Promise<Answer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }
}

type Done = Extract<FromWorker, { type: 'done' }>;

/** One optimizer step on this thread: the gradient on the whole batch, applied by `opt` (what minimize does). */
export async function localStep<B>(grads: ShardGrads<B>, vars: tf.Variable[], b: B, opt: tf.Optimizer): Promise<StepResult> {
  const r = await grads(b);
  opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: r.grads[i]! })));
  tf.dispose(r.grads);
  return r;
}

/**
 * sum[i] = Σ_r w_r · slots_r[i] for i < len, accumulated in float32 in rank order (0 + w_0 g_0,
 * then + w_r g_r): the same bits as adding the ranks one by one into a zeroed float32 array, in
 * one pass over memory (the two-rank case, the common one, as one loop: ~0.5 ms for 554k
 * weights where a pass per rank over a zeroed sum took ~2.8).
 */
export function sumGradients(sum: Float32Array, slots: Float32Array[], weights: number[], len: number): void {
  const [s0, s1] = slots;
  const [w0, w1] = weights;
  if (!s0) {
    sum.fill(0, 0, len);
    return;
  }
  if (s1 && slots.length === 2) {
    for (let i = 0; i < len; i++) sum[i] = Math.fround(0 + w0! * s0[i]!) + w1! * s1[i]!;
    return;
  }
  for (let i = 0; i < len; i++) sum[i] = 0 + w0! * s0[i]!;
  for (let r = 1; r < slots.length; r++) {
    const s = slots[r]!;
    const w = weights[r]!;
    for (let i = 0; i < len; i++) sum[i]! += w * s[i]!;
  }
}

export class DataParallel<B extends { n: number }> {
  private readonly sum: Float32Array;

  private constructor(
    private readonly plan: ParallelPlan<B>,
    private readonly ranks: Rank[],
    private readonly published: tf.Variable[],
    private readonly stats: tf.Variable[],
    private readonly statOffset: number,
    private readonly shared: Float32Array,
    private readonly slots: Float32Array[],
  ) {
    this.sum = new Float32Array(slots[0]!.length);
  }

  get workers(): number {
    return this.ranks.length + 1;
  }

  /** Whether the group runs forward passes (the plan has maps). */
  get hasMaps(): boolean {
    return (this.plan.maps?.length ?? 0) > 0;
  }

  /** Starts `workers − 1` worker threads with replicas of the plan's models. */
  static async start<B extends { n: number }>(o: { workers: number; plan: ParallelPlan<B>; backend: string }): Promise<DataParallel<B>> {
    const { plan } = o;
    const where = new Map<tf.Variable, WeightRef>();
    const statRefs: WeightRef[] = [];
    for (const [m, model] of plan.models.entries()) {
      for (const [index, w] of model.weights.entries()) {
        const ref = { model: m, index, name: w.originalName };
        if (!where.has(variableOf(w))) where.set(variableOf(w), ref);
        if (isMovingStat(w)) statRefs.push(ref);
      }
    }
    const refOf = (v: tf.Variable) => {
      const r = where.get(v);
      if (!r) throw new Error(`data-parallel training: variable ${v.name} is not a weight of the task's models`);
      return r;
    };
    const phases = plan.phases.map((p) => p.vars.map(refOf));
    const published = [...new Set(plan.phases.flatMap((p) => p.vars))];
    const stats = statRefs.map((r) => variableOf(plan.models[r.model]!.weights[r.index]!));
    const size = (vs: tf.Variable[]) => vs.reduce((a, v) => a + v.size, 0);
    const statOffset = Math.max(0, ...plan.phases.map((p) => size(p.vars)));
    const slotLen = statOffset + size(stats);
    const sharedWeights = new SharedArrayBuffer((size(published) + size(stats)) * 4);
    const sharedSlots = new SharedArrayBuffer(o.workers * slotLen * 4);
    const models = await Promise.all(plan.models.map(modelArtifacts));
    const ranks: Rank[] = [];
    for (let r = 1; r < o.workers; r++) {
      const init: WorkerInit = {
        rank: r,
        backend: o.backend,
        models,
        phases,
        published: published.map(refOf),
        stats: statRefs,
        recipe: plan.recipe,
        weights: sharedWeights,
        slots: sharedSlots,
        slotLen,
        statOffset,
      };
      ranks.push(new Rank(r, new Worker(new URL('./worker.js', import.meta.url), { workerData: init })));
    }
    const slots = Array.from({ length: o.workers }, (_, r) => new Float32Array(sharedSlots, r * slotLen * 4, slotLen));
    const group = new DataParallel(plan, ranks, published, stats, statOffset, new Float32Array(sharedWeights), slots);
    try {
      await Promise.all(ranks.map((r) => r.next()));
    } catch (e) {
      await group.close();
      throw e;
    }
    return group;
  }

  /** Writes rank 0's current weights and statistics where the workers read them. */
  private publish(): void {
    let off = 0;
    for (const v of [...this.published, ...this.stats]) {
      readInto(v, this.shared, off);
      off += v.size;
    }
  }

  /** Sends every rank ≥ 1 its shard (none to a rank whose shard is empty) and collects the answers. */
  private scatter(shards: B[], message: (shard: B) => ToWorker): Promise<Answer | undefined>[] {
    return this.ranks.map((r, i) => {
      const shard = shards[i + 1]!;
      if (shard.n === 0) return Promise.resolve(undefined);
      const answer = r.next();
      r.worker.postMessage(message(shard), this.plan.buffers(shard));
      return answer;
    });
  }

  /**
   * Forward pass `fn` (the plan's maps) on the batch `b`, split across the ranks: each rank's
   * outputs in rank order (ranks with an empty shard give none). `index` numbers the pass's batches
   * (for the failure test hook). Rank 0's weights are published first, as before a step.
   */
  async map(b: B, fn = 0, index = 0): Promise<Float32Array[][]> {
    const own = this.plan.maps?.[fn];
    if (!own) throw new Error(`data-parallel group: the task has no forward pass ${fn}`);
    this.publish();
    const shards = this.plan.split(b, this.workers);
    const answers = this.scatter(shards, (batch) => ({ type: 'map', index, fn, batch }));
    let mine: Float32Array[];
    try {
      mine = await own(shards[0]!);
    } catch (e) {
      await Promise.allSettled(answers);
      throw e;
    }
    const theirs = (await Promise.all(answers)) as (Extract<FromWorker, { type: 'mapped' }> | undefined)[];
    return [mine, ...theirs.flatMap((t) => (t ? [t.outputs] : []))];
  }

  /** One synchronous step of `phase` on the global batch `b`: every rank's shard gradient, combined, applied once by `opt`. */
  async step(b: B, opt: tf.Optimizer, step: number, phase = 0): Promise<StepResult> {
    const { grads, vars } = this.plan.phases[phase]!;
    this.publish();
    const shards = this.plan.split(b, this.workers);
    const answers = this.scatter(shards, (batch) => ({ type: 'step', step, phase, batch }));
    // Rank 0's shard is never empty (it takes the first rows).
    setNoiseStep(step, 0);
    let own: Awaited<ReturnType<typeof grads>>;
    try {
      own = await grads(shards[0]!);
    } catch (e) {
      await Promise.allSettled(answers);
      throw e;
    }
    const slot0 = this.slots[0]!;
    let off = 0;
    for (const g of own.grads) {
      readInto(g, slot0, off);
      off += g.size;
    }
    tf.dispose(own.grads);
    off = this.statOffset;
    for (const s of this.stats) {
      readInto(s, slot0, off);
      off += s.size;
    }
    const theirs = (await Promise.all(answers)) as (Done | undefined)[];
    const results = [{ loss: own.loss, terms: Array.from(own.terms), counts: Array.from(own.counts ?? []) }, ...theirs];
    return this.combine(vars, results, shards.map((s) => s.n), b.n, opt);
  }

  private combine(vars: tf.Variable[], results: (Omit<Done, 'type'> | undefined)[], sizes: number[], n: number, opt: tf.Optimizer): StepResult {
    const sum = this.sum;
    const active = sizes.flatMap((size, r) => (size > 0 ? [r] : []));
    const gradLen = vars.reduce((a, v) => a + v.size, 0);
    sumGradients(
      sum,
      active.map((r) => this.slots[r]!),
      active.map((r) => sizes[r]! / n),
      gradLen,
    );
    // Statistics: rank 0's plus the weighted differences of the others, so a statistic no rank
    // changed (a frozen layer's, the critic's during a generator-only forward) stays bit-identical.
    const s0 = this.slots[0]!;
    for (let i = this.statOffset; i < sum.length; i++) {
      let v = s0[i]!;
      for (const r of active) if (r > 0) v += (sizes[r]! / n) * (this.slots[r]![i]! - s0[i]!);
      sum[i] = v;
    }
    tf.tidy(() => {
      let off = 0;
      const grads = vars.map((v) => {
        const g = { name: v.name, tensor: tensorOf(sum.subarray(off, off + v.size), v.shape) };
        off += v.size;
        return g;
      });
      opt.applyGradients(grads);
      off = this.statOffset;
      for (const s of this.stats) {
        s.assign(tensorOf(sum.subarray(off, off + s.size), s.shape));
        off += s.size;
      }
    });
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
