// A data-parallel training worker (rank ≥ 1): its own single-threaded backend and replicas of the
// task's models; each step it loads the weights rank 0 published, computes the loss gradient of the
// step's phase on its shard and writes it, with its batch-norm statistics, into its slot of the
// shared buffer. It never updates weights itself: rank 0 applies the combined update once and
// publishes the result before the next step, so no optimizer state lives here and resuming needs
// nothing but the weights.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/index.js';
import { setNoiseStep } from '../../models/layers.js';
import { readInto, tensorOf } from './copy.js';
import { FAIL_ENV, type FromWorker, injectedFailure, type ToWorker, type WeightRef, type WorkerInit } from './protocol.js';
import { modelFromArtifacts, type ReplicaFactory, type ShardGrads, type ShardMap, variableOf } from './replica.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
const fail = (e: unknown) => {
  const err = e instanceof Error ? e : new Error(String(e));
  send({ type: 'error', message: err.message, stack: err.stack });
};

interface Replica {
  phases: ShardGrads<unknown>[];
  maps: ShardMap<unknown>[];
  published: tf.Variable[];
  stats: tf.Variable[];
}

async function start(): Promise<Replica> {
  await initBackend(init.backend as 'wasm', () => {});
  // The task's module first: it registers the custom layers its models are made of.
  const mod = (await import(init.recipe.module)) as Record<string, ReplicaFactory<unknown>>;
  const factory = mod[init.recipe.name];
  if (typeof factory !== 'function') throw new Error(`${init.recipe.module} exports no function ${init.recipe.name}`);
  const models = await Promise.all(init.models.map(modelFromArtifacts));
  const pick = (r: WeightRef) => {
    const w = models[r.model]!.weights[r.index];
    if (w?.originalName !== r.name) throw new Error(`replica weight ${r.model}:${r.index} is ${w?.originalName}, the main model's is ${r.name}`);
    return variableOf(w);
  };
  const phases = init.phases.map((refs) => refs.map(pick));
  const task = await factory(init.recipe.config as never, models, phases);
  const { phases: grads, maps = [] } = Array.isArray(task) ? { phases: task } : task;
  return { phases: grads, maps, published: init.published.map(pick), stats: init.stats.map(pick) };
}

const ready = start();
ready.then(
  () => send({ type: 'ready' }),
  (e) => fail(e),
);

const published = new Float32Array(init.weights);
const slot = new Float32Array(init.slots, init.rank * init.slotLen * 4, init.slotLen);

/** Rank 0's current weights and statistics into the replicas. */
function load(replica: Replica): void {
  let off = 0;
  tf.tidy(() => {
    for (const v of [...replica.published, ...replica.stats]) {
      v.assign(tensorOf(published.subarray(off, off + v.size), v.shape));
      off += v.size;
    }
  });
}

/** A forward pass on this rank's shard; the outputs go back by transfer (they are fresh arrays). */
async function map(m: Extract<ToWorker, { type: 'map' }>): Promise<void> {
  const replica = await ready;
  load(replica);
  if (injectedFailure(init.rank, m.index, process.env, true)) throw new Error(`injected failure of worker ${init.rank} at pass batch ${m.index} (${FAIL_ENV})`);
  const fn = replica.maps[m.fn];
  if (!fn) throw new Error(`the task's recipe builds no forward pass ${m.fn}`);
  const outputs = await fn(m.batch);
  port.postMessage({ type: 'mapped', outputs } satisfies FromWorker, [...new Set(outputs.map((o) => o.buffer as ArrayBuffer))]);
}

async function step(m: Extract<ToWorker, { type: 'step' }>): Promise<void> {
  const replica = await ready;
  load(replica);
  const failure = injectedFailure(init.rank, m.step);
  if (failure === 'exit') process.exit(3);
  if (failure) throw new Error(`injected failure of worker ${init.rank} at step ${m.step} (${FAIL_ENV})`);
  setNoiseStep(m.step, init.rank);
  const r = await replica.phases[m.phase]!(m.batch);
  let off = 0;
  for (const g of r.grads) {
    readInto(g, slot, off);
    off += g.size;
  }
  tf.dispose(r.grads);
  off = init.statOffset;
  for (const s of replica.stats) {
    readInto(s, slot, off);
    off += s.size;
  }
  send({ type: 'done', loss: r.loss, terms: Array.from(r.terms), counts: Array.from(r.counts ?? []) });
}

// Steps arrive one at a time (rank 0 waits for every rank before sending the next).
port.on('message', (m: ToWorker) => {
  (m.type === 'map' ? map(m) : step(m)).catch(fail);
});
