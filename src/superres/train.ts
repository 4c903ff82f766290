// Training and evaluating the super-resolution network. The epoch loop, optimizer, schedule,
// checkpoints and loss terms are the training core's (src/train); what is specific here is the
// data (low-res input, high-res target, no labels), the step, the image-quality metrics and the
// triptychs.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type Batch, batches, type Normalize, normalizeTable } from '../data/loader.js';
import { openArray, type ZarrArray } from '../data/zarr.js';
import { gridPng } from '../gan/grid.js';
import type { Progress, StageLogger } from '../pipeline/types.js';
import { hasCheckpoint } from '../train/checkpoint.js';
import { type LoopResult, type MetricSink, type TrainTask, trainEpochs, trainingWorkers } from '../train/epoch-loop.js';
import { buildLoss, type CompositeLoss, type LossTermSpec } from '../train/losses.js';
import type { TrainSpec } from '../train/optim.js';
import { type ModelArtifacts, modelArtifacts, modelFromArtifacts, type ShardGrads } from '../train/parallel/replica.js';
import { batchBuffers, splitBatch } from '../train/parallel/shards.js';
import { bicubicUpscale, psnr, ssim, toUnitRange } from './metrics.js';
// Registers the network's custom layers, which a data-parallel worker (importing this module for
// srReplica) needs before it rebuilds the model.
import './model.js';

/** One split: targets `images` [N, S, S, C] and inputs `inputs_lr` [N, S/f, S/f, C], row-aligned. */
export interface SrArrays {
  hr: ZarrArray;
  lr: ZarrArray;
  normalize: Normalize;
}

export async function openSrSplit(preprocessDir: string, split: 'train' | 'val', normalize: Normalize): Promise<SrArrays> {
  const hr = await openArray(join(preprocessDir, split, 'images'));
  let lr: ZarrArray;
  try {
    lr = await openArray(join(preprocessDir, split, 'inputs_lr'));
  } catch {
    throw new Error(`${preprocessDir}/${split} has no inputs_lr array: the preprocess stage writes it only when preprocess.downscale is set`);
  }
  return { hr, lr, normalize };
}

/** The upscaling factor of a pair of arrays. */
export function factorOf(d: SrArrays): number {
  return d.hr.shape[1]! / d.lr.shape[1]!;
}

export interface SrEval {
  n: number;
  /** Weighted total and unweighted terms (absent for the bicubic baseline, which has no loss). */
  loss?: number;
  terms?: Record<string, number>;
  /** Means over images of the per-image PSNR (dB) and SSIM, on [0, 1] images. */
  psnr: number;
  ssim: number;
}

/**
 * PSNR, SSIM and the loss over a whole split, a batch at a time. With `model` null it measures the
 * bicubic upscale of the inputs instead (the baseline). Only per-batch sums leave the backend.
 */
export async function evaluateSr(model: tf.LayersModel | null, loss: CompositeLoss | null, data: SrArrays, batchSize: number): Promise<SrEval> {
  const f = factorOf(data);
  const nTerms = model && loss ? loss.names.length + 1 : 0;
  const sums = new Float64Array(2 + nTerms);
  let n = 0;
  for await (const b of batches({ images: data.hr, extra: [data.lr], batchSize, seed: 0, epoch: 0, normalize: data.normalize })) {
    const out = tf.tidy(() => {
      const hr = tf.tensor4d(b.x as Float32Array, b.shape as [number, number, number, number]);
      const lr = tf.tensor4d(b.extra[0] as Float32Array, [b.n, ...data.lr.shape.slice(1)] as [number, number, number, number]);
      const pred = model ? (model.apply(lr, { training: false }) as tf.Tensor4D) : bicubicUpscale(lr, f);
      const p = toUnitRange(pred, data.normalize);
      const t = toUnitRange(hr, data.normalize);
      const q = [psnr(p, t).sum(), ssim(p, t).sum()];
      if (model && loss) {
        const { total, terms } = loss.compute(pred, { target: hr });
        q.push(...[total, ...terms].map((v) => v.mul(b.n)));
      }
      return tf.stack(q);
    });
    const v = await out.data();
    out.dispose();
    for (let i = 0; i < v.length; i++) sums[i]! += v[i]!;
    n += b.n;
  }
  const d = Math.max(n, 1);
  const r: SrEval = { n, psnr: sums[0]! / d, ssim: sums[1]! / d };
  if (model && loss) {
    r.loss = sums[2]! / d;
    r.terms = Object.fromEntries(loss.names.map((name, i) => [name, sums[3 + i]! / d]));
  }
  return r;
}

/** `<prefix>_psnr`, `<prefix>_ssim`, `<prefix>_loss`, `<prefix>_loss_<term>`; `suffix` names a baseline (`_bicubic`). */
export function srMetrics(prefix: string, r: SrEval, suffix = ''): Record<string, number> {
  const m: Record<string, number> = { [`${prefix}_psnr${suffix}`]: r.psnr, [`${prefix}_ssim${suffix}`]: r.ssim };
  if (r.loss !== undefined) m[`${prefix}_loss${suffix}`] = r.loss;
  for (const [t, v] of Object.entries(r.terms ?? {})) m[`${prefix}_loss_${t}${suffix}`] = v;
  return m;
}

/** A few fixed validation pairs for triptychs, normalised like the training data. */
export interface Samples {
  lr: tf.Tensor4D;
  hr: tf.Tensor4D;
  normalize: Normalize;
}

/** The first `k` rows of a split (from its first chunk), kept on the backend for the whole run. */
export async function loadSamples(data: SrArrays, k: number): Promise<Samples> {
  const rows = Math.min(k, data.hr.rowsInChunk(0));
  const take = async (a: ZarrArray) => {
    const raw = (await a.readChunk(0)).subarray(0, rows * a.rowElems);
    const C = a.shape[3]!;
    let x: Float32Array;
    if (data.normalize === 'none') x = Float32Array.from(raw);
    else {
      const lut = normalizeTable(data.normalize, C);
      x = Float32Array.from(raw, (v, i) => lut[(i % C) * 256 + v]!);
    }
    return tf.tensor4d(x, [rows, ...a.shape.slice(1)] as [number, number, number, number]);
  };
  return { lr: await take(data.lr), hr: await take(data.hr), normalize: data.normalize };
}

/**
 * One PNG with a row per sample: the low-res input upscaled by bicubic (for reference), the
 * network's prediction, the target. Magnified `scale`× with nearest neighbours so pixels show.
 */
export async function triptychPng(model: tf.LayersModel, s: Samples, scale = 4): Promise<Buffer> {
  const [k, H, W, C] = s.hr.shape;
  const f = H / s.lr.shape[1];
  const t = tf.tidy(() => {
    const cols = [bicubicUpscale(s.lr, f), model.apply(s.lr, { training: false }) as tf.Tensor4D, s.hr].map((x) => toUnitRange(x, s.normalize));
    // [k, 3, H, W, C] flattened row-major is exactly the tile order bicubic₀, pred₀, target₀, bicubic₁, …
    return tf.stack(cols, 1);
  });
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return gridPng(data, 3 * k, H, W, C, { range: [0, 1], cols: 3, pad: 1, scale });
}

export interface SrFitOptions {
  model: tf.LayersModel;
  loss: CompositeLoss;
  train: SrArrays;
  val?: SrArrays | undefined;
  spec: Pick<TrainSpec, 'epochs' | 'steps' | 'batchSize' | 'optimizer' | 'lr' | 'momentum' | 'schedule' | 'logEvery' | 'checkpointEvery'> &
    Partial<Pick<TrainSpec, 'beta1' | 'decay' | 'epsilon' | 'checkpointMinutes' | 'stop' | 'budget' | 'workers'>>;
  seed: number;
  /** Validate every this many epochs (and always after the last). */
  evalEvery?: number;
  /** Folder for `<dir>/checkpoint`; resumes from it when present. */
  checkpointDir?: string | undefined;
  metric?: MetricSink | undefined;
  /** Triptychs: fixed samples, written every `every` steps and after the last (none when absent). */
  triptych?: { samples: Samples; every: number; write: (png: Buffer, step: number) => Promise<void> } | undefined;
  progress?: Progress | undefined;
  log?: StageLogger | undefined;
  signal?: AbortSignal | undefined;
}

export interface SrFitResult extends LoopResult {
  /** The bicubic baseline on the validation set (computed once). */
  baseline?: SrEval | undefined;
}

/**
 * The loss, its terms and its gradient for one batch, all left on the backend (no host read). The
 * feature networks' weights are not in `vars`, so they never train.
 */
export function srShardTensors(model: tf.LayersModel, loss: CompositeLoss, lr: tf.Tensor4D, hr: tf.Tensor4D, vars: tf.Variable[]): { total: tf.Scalar; terms: tf.Tensor1D; grads: tf.Tensor[] } {
  let terms: tf.Tensor1D | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const pred = model.apply(lr, { training: true }) as tf.Tensor4D;
    // The target's activations are computed inside compute(), on the backend, once per term and
    // batch; they stay there (no host round trip) and get no gradient.
    const r = loss.compute(pred, { target: hr });
    terms = tf.keep(tf.stack(r.terms) as tf.Tensor1D);
    return r.total;
  }, vars);
  return { total: value, terms: terms!, grads: vars.map((v) => grads[v.name]!) };
}

/** The super-resolution shard gradient. */
function srGrads(model: tf.LayersModel, loss: CompositeLoss, lrShape: number[], vars: tf.Variable[]): ShardGrads<Batch> {
  return async (b) => {
    const hr = tf.tensor4d(b.x as Float32Array, b.shape as [number, number, number, number]);
    const lr = tf.tensor4d(b.extra[0] as Float32Array, [b.n, ...lrShape] as [number, number, number, number]);
    const { total, terms, grads } = srShardTensors(model, loss, lr, hr, vars);
    const [c, e] = await Promise.all([total.data(), terms.data()]);
    tf.dispose([hr, lr, total, terms]);
    return { loss: c[0]!, terms: e, grads };
  };
}

interface SrRecipe {
  terms: LossTermSpec[];
  /** The content/style feature networks by `network.path` ('' for the default). */
  networks: Record<string, ModelArtifacts>;
  lrShape: number[];
}

/** Builds the super-resolution shard gradient in a data-parallel worker (TaskRecipe of fitSr). */
export async function srReplica(config: SrRecipe, [model]: tf.LayersModel[], [vars]: tf.Variable[][]): Promise<ShardGrads<Batch>[]> {
  const nets = new Map<string, Promise<tf.LayersModel>>();
  const resolve = (path: string | undefined) => {
    const key = path ?? '';
    let net = nets.get(key);
    if (!net) {
      const a = config.networks[key];
      if (!a) throw new Error(`no feature network "${key}" was sent to the worker`);
      net = modelFromArtifacts(a);
      nets.set(key, net);
    }
    return net;
  };
  return [srGrads(model!, await buildLoss(config.terms, resolve), config.lrShape, vars!)];
}

/** The worker recipe: the loss terms and their feature networks (serialised only when workers will start). */
async function srRecipe(loss: CompositeLoss, lrShape: number[], workers: number | undefined): Promise<SrRecipe> {
  const networks: Record<string, ModelArtifacts> = {};
  if (trainingWorkers(workers).workers > 1) for (const [k, net] of loss.sources()) networks[k] = await modelArtifacts(net);
  return { terms: loss.specs, networks, lrShape };
}

/** Trains the super-resolution network through the one epoch loop, with PSNR/SSIM against the bicubic baseline as validation. */
export async function fitSr(o: SrFitOptions): Promise<SrFitResult> {
  const s = o.spec;
  const lrShape = o.train.lr.shape.slice(1);
  const vars = o.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  // The baseline does not change during training: measure it once, log it beside every epoch.
  const baseline = o.val ? await evaluateSr(null, null, o.val, s.batchSize) : undefined;
  if (baseline) o.log?.info(`bicubic baseline on ${baseline.n} validation images: PSNR ${baseline.psnr.toFixed(2)} dB, SSIM ${baseline.ssim.toFixed(4)}`);
  const tri = o.triptych;
  const writeTriptych = async (step: number) => {
    if (tri) await tri.write(await triptychPng(o.model, tri.samples), step);
  };
  // A fresh run shows the untrained network first (a resumed one has it already).
  if (tri && !(o.checkpointDir && (await hasCheckpoint(join(o.checkpointDir, 'checkpoint'))))) await writeTriptych(0);
  const val = o.val;
  const task: TrainTask<Batch> = {
    samples: o.train.hr.shape[0]!,
    terms: o.loss.names,
    batches: (epoch) => batches({ images: o.train.hr, extra: [o.train.lr], batchSize: s.batchSize, seed: o.seed, epoch, normalize: o.train.normalize }),
    parallel: {
      vars,
      grads: srGrads(o.model, o.loss, lrShape, vars),
      split: splitBatch,
      buffers: batchBuffers,
      recipe: { module: import.meta.url, name: 'srReplica', config: await srRecipe(o.loss, lrShape, s.workers) },
    },
    validate: val ? async () => ({ ...srMetrics('val', await evaluateSr(o.model, o.loss, val, s.batchSize)), ...srMetrics('val', baseline!, '_bicubic') }) : undefined,
    afterStep: async (step) => {
      if (tri && step % tri.every === 0) await writeTriptych(step);
    },
    shown: /^(train_loss|val_loss|val_psnr|val_psnr_bicubic|val_ssim)$/,
  };
  const r = await trainEpochs({ task, model: o.model, spec: s, evalEvery: o.evalEvery, checkpointDir: o.checkpointDir, metric: o.metric, progress: o.progress, log: o.log, signal: o.signal });
  // After a restore the last triptych shows the weights the run keeps.
  if (tri && (r.stop.restored || r.steps % tri.every !== 0)) await writeTriptych(r.steps);
  return { ...r, baseline };
}

/** Writes a PNG under `dir` as `step_<000123>.png` and returns its path. */
export async function savePng(dir: string, png: Buffer, step: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `step_${String(step).padStart(6, '0')}.png`);
  await writeFile(file, png);
  return file;
}
