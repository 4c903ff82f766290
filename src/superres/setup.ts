// What the super-resolution train and evaluate stages share: the loss of a spec with its feature
// networks, the data, and the network shape.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { loadBase, loadModel } from '../models/index.js';
import type { StageContext } from '../pipeline/types.js';
import { buildLoss, type CompositeLoss } from '../train/losses.js';
import { pretrainedDir } from '../train/pretrain-stage.js';
import { factorOf, openSrSplit, type SrArrays } from './train.js';

export const IMAGE_TERMS: ReadonlySet<string> = new Set(['pixel', 'content', 'style', 'mse', 'mae']);

export interface SrData {
  train: SrArrays;
  val: SrArrays;
  factor: 2 | 4;
  /** [S, S, C] of the targets. */
  shape: [number, number, number];
  classes: number;
}

export async function openSrData(ctx: StageContext): Promise<SrData> {
  const pre = ctx.input('preprocess');
  const norm = ctx.spec.preprocess.normalize;
  const train = await openSrSplit(pre, 'train', norm);
  const val = await openSrSplit(pre, 'val', norm);
  const factor = factorOf(train);
  if (factor !== ctx.spec.preprocess.downscale) throw new Error(`${pre}: inputs_lr is downscaled ×${factor}, the spec asks for ×${ctx.spec.preprocess.downscale}`);
  const manifest = JSON.parse(await readFile(join(pre, 'manifest.json'), 'utf8')) as { classes?: string[] };
  return { train, val, factor: factor as 2 | 4, shape: train.hr.shape.slice(1) as [number, number, number], classes: Math.max(1, manifest.classes?.length ?? 1) };
}

/**
 * The spec's loss. Content/style terms use `network.path` when given, else the default feature
 * network: the pretrained `model.base` (pretrain stage), else `model.base.path`, else a freshly
 * initialised built-in base (random features; warned about). Loaded once, shared by the terms.
 */
export async function srLoss(ctx: StageContext, d: SrData): Promise<{ loss: CompositeLoss; networks: tf.LayersModel[] }> {
  const spec = ctx.spec;
  const bad = spec.loss.terms.filter((t) => !IMAGE_TERMS.has(t.kind));
  if (bad.length) {
    throw new Error(`loss term${bad.length > 1 ? 's' : ''} ${bad.map((t) => `"${t.kind}"`).join(', ')} cannot compare images; task super-resolution takes pixel, content and style terms`);
  }
  const networks = new Map<string, Promise<tf.LayersModel>>();
  const resolve = (path: string | undefined): Promise<tf.LayersModel> => {
    const key = path ?? '';
    let net = networks.get(key);
    if (!net) {
      if (path) net = loadModel(path);
      else {
        const pretrained = pretrainedDir(ctx);
        if (!pretrained && !spec.model.base.path) {
          ctx.log.warn('content/style loss on an untrained model.base: set model.base.pretrain (or model.base.path) for meaningful perceptual features');
        }
        net = loadBase(spec.model.base, { inputShape: d.shape, outputs: d.classes, seed: spec.seed }, pretrained);
      }
      networks.set(key, net);
    }
    return net;
  };
  const loss = await buildLoss(spec.loss.terms, resolve);
  return { loss, networks: await Promise.all(networks.values()) };
}
