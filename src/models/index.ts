// The models module: built-in architectures, loading a base from disk, cut points and heads.
// GAN and super-resolution code should import from here rather than from the individual files.
import type * as tf from '@tensorflow/tfjs';
import { type ArchOptions, convnet } from './convnet.js';
import { loadModel } from './io.js';
import { resnet } from './resnet.js';

export { convnet, type ArchOptions } from './convnet.js';
export { resnet, type ResnetOptions } from './resnet.js';
export { buildHead, stackModel, setTrainable, type HeadOptions } from './head.js';
export {
  blockBoundaries,
  CUT_RULES,
  cutModel,
  featureNetwork,
  LayerNotFoundError,
  type LayerRef,
  nearestLayerNames,
  resolveLayer,
  resolveLayerIndex,
} from './cut.js';
export { loadModel, saveModel } from './io.js';
export { SeededDropout, setNoiseStep } from './layers.js';
export { initializers, seedStream } from './seeds.js';

export type Arch = 'convnet' | 'resnet';

/** The fields of `model.base` that shape a built-in architecture (and so belong in its keys). */
export interface BaseArchSpec {
  arch: Arch;
  width: number;
  stages?: number | undefined;
  norm?: 'none' | 'batch' | undefined;
  globalPool?: 'avg' | 'max' | undefined;
  hidden?: number | undefined;
  stemStride?: 1 | 2 | undefined;
}

export function archFields(b: BaseArchSpec): Pick<ArchOptions, 'width' | 'stages' | 'norm' | 'globalPool' | 'hidden' | 'stemStride'> {
  return { width: b.width, stages: b.stages, norm: b.norm, globalPool: b.globalPool, hidden: b.hidden, stemStride: b.stemStride };
}

/** A fresh built-in architecture. */
export function buildArch(arch: Arch, o: ArchOptions): tf.LayersModel {
  return arch === 'convnet' ? convnet(o) : resnet(o);
}

/**
 * The base network a spec asks for: the pretrained one (a folder from the pretrain stage), a
 * user's model (`model.base.path`), or a freshly initialised built-in architecture.
 */
export async function loadBase(base: BaseArchSpec & { path?: string | undefined }, o: Omit<ArchOptions, 'width'>, pretrained?: string): Promise<tf.LayersModel> {
  if (pretrained) return loadModel(pretrained);
  if (base.path) return loadModel(base.path);
  return buildArch(base.arch, { ...o, ...archFields(base) });
}
