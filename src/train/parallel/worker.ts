// A data-parallel training worker (rank ≥ 1): its own single-threaded backend and a replica of the
// model; each step it loads the current weights rank 0 published, computes the loss gradient on its
// shard and writes it, with its batch-norm statistics, into its slot of the shared buffer.
// It never updates weights itself: rank 0 applies the combined update once and publishes it, so no
// optimizer state lives here and resuming needs nothing but the weights.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/index.js';
import { setNoiseStep } from '../../models/layers.js';
import { type FromWorker, injectedFailure, type ToWorker, type WorkerInit } from './protocol.js';
import { modelFromArtifacts, type ReplicaFactory, type ShardGrads, variableOf } from './replica.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
const fail = (e: unknown) => {
  const err = e instanceof Error ? e : new Error(String(e));
  send({ type: 'error', message: err.message, stack: err.stack });
};

async function start(): Promise<{ grads: ShardGrads<unknown>; vars: tf.Variable[]; stats: tf.Variable[] }> {
  await initBackend(init.backend as 'wasm', () => {});
  // The task's module first: it registers the custom layers its model is made of.
  const mod = (await import(init.recipe.module)) as Record<string, ReplicaFactory<unknown>>;
  const model = await modelFromArtifacts(init.model);
  const weights = model.weights;
  const picked = [...init.trainIndex, ...init.statIndex].map((i) => weights[i]!);
  const names = picked.map((w) => w?.originalName);
  if (names.some((n, i) => n !== init.names[i])) throw new Error(`replica weights do not line up with the main model's (${names.join(', ')} vs ${init.names.join(', ')})`);
  const vars = init.trainIndex.map((i) => variableOf(weights[i]!));
  const stats = init.statIndex.map((i) => variableOf(weights[i]!));
  const factory = mod[init.recipe.name];
  if (typeof factory !== 'function') throw new Error(`${init.recipe.module} exports no function ${init.recipe.name}`);
  return { grads: await factory(init.recipe.config as never, model, vars), vars, stats };
}

const ready = start();
ready.then(
  () => send({ type: 'ready' }),
  (e) => fail(e),
);

const published = new Float32Array(init.weights);
const slot = new Float32Array(init.slots, init.rank * init.slotLen * 4, init.slotLen);

async function step(m: ToWorker): Promise<void> {
  const { grads, vars, stats } = await ready;
  let off = 0;
  tf.tidy(() => {
    for (const v of [...vars, ...stats]) {
      v.assign(tf.tensor(published.slice(off, off + v.size), v.shape, 'float32'));
      off += v.size;
    }
  });
  const failure = injectedFailure(init.rank, m.step);
  if (failure === 'exit') process.exit(3);
  if (failure) throw new Error(`injected failure of worker ${init.rank} at step ${m.step} (${'ABLATE_TEST_WORKER_FAIL'})`);
  setNoiseStep(m.step, init.rank);
  const r = await grads(m.batch);
  off = 0;
  for (const g of r.grads) {
    slot.set(g.dataSync() as Float32Array, off);
    off += g.size;
  }
  tf.dispose(r.grads);
  for (const s of stats) {
    slot.set(s.dataSync() as Float32Array, off);
    off += s.size;
  }
  send({ type: 'done', loss: r.loss, terms: Array.from(r.terms), counts: Array.from(r.counts ?? []) });
}

// Steps arrive one at a time (rank 0 waits for every rank before sending the next).
port.on('message', (m: ToWorker) => {
  step(m).catch(fail);
});
