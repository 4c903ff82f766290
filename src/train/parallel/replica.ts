// What the main thread and the training workers share: the shard gradient a task computes (the
// same function on every rank), how a worker rebuilds the task's model (from its topology and
// weights) and the task itself (a module and a plain-data config).
import * as tf from '@tensorflow/tfjs';
import '../../models/layers.js';

/** One rank's result on its shard: means over the shard (loss, terms), sums (counts), and gradients in the order of the trained variables. */
export interface ShardResult {
  loss: number;
  terms: ArrayLike<number>;
  counts?: ArrayLike<number> | undefined;
  /** The caller disposes them. */
  grads: tf.Tensor[];
}

/** The loss and its gradient on one shard, without updating anything. */
export type ShardGrads<B> = (b: B) => Promise<ShardResult>;

/**
 * A forward pass on one shard (no gradients, nothing updated): the task's outputs, each an array
 * of the shard's rows in row order (activations, predictions) or a per-shard sum the caller adds up.
 */
export type ShardMap<B> = (b: B) => Promise<Float32Array[]>;

/** What a worker builds from a task's recipe: one gradient per training phase, and its forward passes. */
export interface ReplicaTask<B> {
  phases: ShardGrads<B>[];
  maps?: ShardMap<B>[] | undefined;
}

/**
 * How a worker builds the task's ShardGrads: `module` (a file URL) exports `name`, called as
 * `factory(config, models, phases)` with the replicas of the task's models and, per phase, its
 * trained variables; it returns one ShardGrads per phase, or a ReplicaTask when the task has
 * forward passes too. `config` is plain data (structured-cloned).
 */
export interface TaskRecipe {
  module: string;
  name: string;
  config: unknown;
}

export type ReplicaFactory<B> = (config: never, models: tf.LayersModel[], phases: tf.Variable[][]) => Promise<ShardGrads<B>[] | ReplicaTask<B>>;

/** How a batch is cut into shards and which of its buffers can be transferred to a worker. */
export interface Sharding<B> {
  split(b: B, parts: number): B[];
  buffers(b: B): ArrayBuffer[];
}

/** What a single-model task (the epoch loop's) offers for data-parallel training. */
export interface ParallelTask<B> extends Sharding<B> {
  /** The trained variables of the loop's model, in the order of ShardResult.grads. */
  vars: tf.Variable[];
  grads: ShardGrads<B>;
  /** Forward passes (validation) the loop may run on the same ranks. */
  maps?: ShardMap<B>[] | undefined;
  recipe: TaskRecipe;
}

/**
 * The general form: several models (a GAN's generator and critic) and several phases, each its own
 * gradient over its own variables (the critic step, the generator step), applied by its own optimizer.
 */
export interface ParallelPlan<B> extends Sharding<B> {
  models: tf.LayersModel[];
  /** None for a group that only runs forward passes (the features stage, evaluation, the quality score). */
  phases: { vars: tf.Variable[]; grads: ShardGrads<B> }[];
  /** Rank 0's forward passes; the recipe builds the same ones on the workers (in the same order). */
  maps?: ShardMap<B>[] | undefined;
  recipe: TaskRecipe;
}

/** The epoch loop's single-model task as a one-phase plan. */
export function singlePhase<B>(model: tf.LayersModel, t: ParallelTask<B>): ParallelPlan<B> {
  return { models: [model], phases: [{ vars: t.vars, grads: t.grads }], maps: t.maps, recipe: t.recipe, split: t.split, buffers: t.buffers };
}

/** A model as TF.js saves it: topology, weight specs, one weight buffer (structured-cloneable). */
export interface ModelArtifacts {
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

export async function modelArtifacts(model: tf.LayersModel): Promise<ModelArtifacts> {
  let out: ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const data = a.weightData!;
      out = { modelTopology: a.modelTopology as object, weightSpecs: a.weightSpecs!, weightData: Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return out!;
}

export function modelFromArtifacts(a: ModelArtifacts): Promise<tf.LayersModel> {
  return tf.loadLayersModel(tf.io.fromMemory(a));
}

/** The tf.Variable behind a model weight. */
export function variableOf(w: tf.LayerVariable): tf.Variable {
  return (w as unknown as { val: tf.Variable }).val;
}

/** Batch-norm moving statistics: updated by the forward pass in training, combined across ranks after every step. */
export function isMovingStat(w: tf.LayerVariable): boolean {
  return !w.trainable && /moving_(mean|variance)$/.test(w.originalName ?? w.name);
}

/** A plain-data copy of a tensor (for a task recipe). */
export function tensorData(t: tf.Tensor): { data: number[]; shape: number[] } {
  return { data: Array.from(t.dataSync()), shape: t.shape };
}
