// What the classify stages share: reading the preprocess manifest, opening the labelled arrays,
// the class targets and the loss for a spec.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Normalize } from '../data/loader.js';
import { openArray } from '../data/zarr.js';
import type { ExperimentSpec } from '../spec/schema.js';
import type { LabelledArrays } from './loop.js';
import { buildLoss, type CompositeLoss } from './losses.js';
import { classTargetVectors } from './targets.js';

export interface DataInfo {
  classes: string[];
  /** [S, S, C] of the training images. */
  imageShape: [number, number, number];
}

export async function readDataInfo(preprocessDir: string): Promise<DataInfo> {
  const manifest = JSON.parse(await readFile(join(preprocessDir, 'manifest.json'), 'utf8')) as { classes: string[] };
  const images = await openArray(join(preprocessDir, 'train', 'images'));
  return { classes: manifest.classes, imageShape: images.shape.slice(1) as [number, number, number] };
}

/** `<dir>/<split>/<xName>` with `<dir>/<split>/labels`. */
export async function openLabelled(dir: string, split: 'train' | 'val', xName: string, normalize: Normalize): Promise<LabelledArrays> {
  return { x: await openArray(join(dir, split, xName)), y: await openArray(join(dir, split, 'labels')), normalize };
}

export async function classTargetsTensor(spec: ExperimentSpec, classes: string[]): Promise<tf.Tensor2D | undefined> {
  const rows = await classTargetVectors(spec.dataset, classes);
  return rows ? tf.tensor2d(rows) : undefined;
}

export async function classifyLoss(spec: ExperimentSpec): Promise<CompositeLoss> {
  for (const t of spec.loss.terms) {
    if (t.kind === 'content' || t.kind === 'style' || t.kind === 'pixel') {
      throw new Error(`loss term "${t.kind}" compares images; it is for task super-resolution or gan, not classify`);
    }
  }
  if (!spec.dataset.targets && spec.loss.terms.some((t) => t.kind === 'cosine')) {
    throw new Error('loss term "cosine" needs per-class target vectors: set dataset.targets');
  }
  return buildLoss(spec.loss.terms);
}

/** How the network's output is read: class logits, or vectors compared with the class targets. */
export function outputSize(classes: string[], targets: tf.Tensor2D | undefined): number {
  return targets ? targets.shape[1] : classes.length;
}
