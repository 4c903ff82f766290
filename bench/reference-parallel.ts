// The convnet and DCGAN reference steps (src/backend/reference.ts: same models, losses, optimizers
// and batches) trained the way ablate trains: through the shard gradient and, with more than one
// worker, DataParallel (src/train/parallel), exactly the path of train.workers. bench:train times
// them with 1 worker and with every core.
import * as tf from '@tensorflow/tfjs';
import { CONVNET_BENCH, convnetModel, DCGAN_BENCH, dcganModels, optimizer } from '../src/backend/reference.js';
import { DataParallel, localStep } from '../src/train/parallel/group.js';
import type { ParallelPlan, ShardGrads } from '../src/train/parallel/replica.js';
import { type RowBatch, rowBuffers, splitRows } from '../src/train/parallel/shards.js';

export type ReferenceKind = 'convnet' | 'dcgan';
type Batch = RowBatch & { x?: Float32Array; y?: Float32Array; real?: Float32Array; z?: Float32Array };

const trained = (m: tf.LayersModel) => m.trainableWeights.map((w) => w.read() as tf.Variable);

async function scalarGrads(f: () => tf.Scalar, vars: tf.Variable[], inputs: tf.Tensor[]) {
  const { value, grads } = tf.variableGrads(f, vars);
  const loss = (await value.data())[0]!;
  tf.dispose([value, ...inputs]);
  return { loss, terms: [], grads: vars.map((v) => grads[v.name]!) };
}

function phases(kind: ReferenceKind, models: tf.LayersModel[], vars: tf.Variable[][]): ShardGrads<Batch>[] {
  const train = (m: tf.LayersModel, x: tf.Tensor) => m.apply(x, { training: true }) as tf.Tensor;
  if (kind === 'convnet') {
    const { side, classes } = CONVNET_BENCH;
    const [m] = models;
    return [
      (b) => {
        const x = tf.tensor4d(b.x!, [b.n, side, side, 3]);
        const y = tf.tensor2d(b.y!, [b.n, classes]);
        return scalarGrads(() => tf.losses.softmaxCrossEntropy(y, train(m!, x)) as tf.Scalar, vars[0]!, [x, y]);
      },
    ];
  }
  const { grid, latent } = DCGAN_BENCH;
  const side = grid * 4;
  const [g, d] = models;
  return [
    // The discriminator's step: real images and generated ones, only its variables.
    (b) => {
      const real = tf.tensor4d(b.real!, [b.n, side, side, 1]);
      const z = tf.tensor2d(b.z!, [b.n, latent]);
      const ones = tf.ones([b.n, 1]);
      const zeros = tf.zeros([b.n, 1]);
      const f = () => tf.add(tf.losses.sigmoidCrossEntropy(ones, train(d!, real)), tf.losses.sigmoidCrossEntropy(zeros, train(d!, train(g!, z)))) as tf.Scalar;
      return scalarGrads(f, vars[0]!, [real, z, ones, zeros]);
    },
    // The generator's step through the discriminator, only the generator's variables.
    (b) => {
      const z = tf.tensor2d(b.z!, [b.n, latent]);
      const ones = tf.ones([b.n, 1]);
      return scalarGrads(() => tf.losses.sigmoidCrossEntropy(ones, train(d!, train(g!, z))) as tf.Scalar, vars[1]!, [z, ones]);
    },
  ];
}

/** TaskRecipe factory: the workers' copies of the reference step's gradients. */
export async function referenceReplica(config: { kind: ReferenceKind }, models: tf.LayersModel[], vars: tf.Variable[][]): Promise<ShardGrads<Batch>[]> {
  return phases(config.kind, models, vars);
}

export interface ReferenceTrainer {
  /** One training step (DCGAN: the discriminator's, then the generator's); resolves when it is done. */
  step(i: number): Promise<void>;
  close(): Promise<void>;
}

/** The reference step `kind` trained by `workers` ranks on `backend` (the current one). */
export async function referenceTrainer(kind: ReferenceKind, workers: number): Promise<ReferenceTrainer> {
  const models = kind === 'convnet' ? [convnetModel()] : Object.values(dcganModels());
  const vars = models.map(trained);
  const grads = phases(kind, models, vars);
  const opts = kind === 'convnet' ? [optimizer('adam', 1e-3)] : [optimizer('adam', 2e-4, 0.5), optimizer('adam', 2e-4, 0.5)];
  const plan: ParallelPlan<Batch> = {
    models,
    phases: grads.map((gr, i) => ({ grads: gr, vars: vars[i]! })),
    recipe: { module: import.meta.url, name: 'referenceReplica', config: { kind } },
    split: splitRows,
    buffers: rowBuffers,
  };
  const group = workers > 1 ? await DataParallel.start({ workers, plan, backend: tf.getBackend() }) : undefined;
  const run = (b: Batch, phase: number, i: number) => (group ? group.step(b, opts[phase]!, i, phase) : localStep(grads[phase]!, vars[phase]!, b, opts[phase]!));
  // The same fixed batches as the reference steps (their seeds), on the host as a loader yields them.
  const host = (t: tf.Tensor) => {
    const a = t.dataSync() as Float32Array;
    t.dispose();
    return a;
  };
  if (kind === 'convnet') {
    const { batch, side, classes } = CONVNET_BENCH;
    const x = host(tf.randomUniform([batch, side, side, 3], 0, 1, 'float32', 17));
    const y = host(tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32', 18) as tf.Tensor1D, classes).toFloat()));
    return {
      step: async (i) => void (await run({ n: batch, x, y }, 0, i)),
      close: async () => {
        await group?.close();
        for (const m of models) m.dispose();
        for (const o of opts) o.dispose();
      },
    };
  }
  const { batch, grid, latent } = DCGAN_BENCH;
  const real = host(tf.randomUniform([batch, grid * 4, grid * 4, 1], -1, 1, 'float32', 7));
  return {
    step: async (i) => {
      const z = host(tf.randomNormal([batch, latent], 0, 1, 'float32', 1000 + i));
      await run({ n: batch, real, z }, 0, i);
      await run({ n: batch, z }, 1, i);
    },
    close: async () => {
      await group?.close();
      for (const m of models) m.dispose();
      for (const o of opts) o.dispose();
    },
  };
}
