// Transfer cut points: resolving a layer reference (name, index, or rule) on any LayersModel, and
// building the sub-model that ends there. Used by the features stage, the heads, and by the
// content/style loss terms of the GAN and super-resolution modules.
import * as tf from '@tensorflow/tfjs';
import { editDistance } from '../spec/suggest.js';

/** A layer name, an index into model.layers (negative counts from the end), or a rule. */
export type LayerRef = string | number;
export const CUT_RULES = ['before-last-downsample', 'before-head'] as const;

export class LayerNotFoundError extends Error {
  constructor(
    readonly ref: LayerRef,
    readonly nearest: string[],
    detail: string,
  ) {
    super(`${detail}${nearest.length ? `; nearest layer names: ${nearest.join(', ')}` : ''}`);
    this.name = 'LayerNotFoundError';
  }
}

/** The n layer names closest to `name` (edit distance, a substring match counting as closest). */
export function nearestLayerNames(model: tf.LayersModel, name: string, n = 5): string[] {
  const low = name.toLowerCase();
  return model.layers
    .map((l) => ({ name: l.name, d: l.name.toLowerCase().includes(low) ? 0 : editDistance(low, l.name.toLowerCase()) }))
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, n)
    .map((c) => c.name);
}

type Shape = (number | null)[];
const shapeOf = (s: tf.Shape | tf.Shape[]): Shape => (Array.isArray(s[0]) ? (s[0] as Shape) : (s as Shape));

function inboundLayers(layer: tf.layers.Layer): tf.layers.Layer[] {
  const node = layer.inboundNodes[0];
  return node ? node.inboundLayers : [];
}

/** Whether the layer shrinks the spatial size of a 4-D activation (a strided conv or pool). */
function isDownsampling(layer: tf.layers.Layer): boolean {
  const out = shapeOf(layer.outputShape);
  const inb = inboundLayers(layer);
  if (out.length !== 4 || inb.length !== 1) return false;
  const inShape = shapeOf(inb[0]!.outputShape);
  if (inShape.length !== 4) return false;
  if (out[1] != null && inShape[1] != null) return out[1] < inShape[1];
  // Unknown spatial sizes (a converted model with a free input size): trust the strides.
  const strides = (layer.getConfig().strides ?? 1) as number | number[];
  return (Array.isArray(strides) ? strides : [strides]).some((s) => s > 1);
}

/**
 * Indices i of model.layers that no connection jumps over: every path from the input to the
 * output passes through layer i. In a residual network these are exactly the block outputs.
 */
export function blockBoundaries(model: tf.LayersModel): number[] {
  const pos = new Map(model.layers.map((l, i) => [l, i]));
  const crossed = new Array<number>(model.layers.length + 1).fill(0);
  model.layers.forEach((l, j) => {
    for (const k of inboundLayers(l)) {
      const i = pos.get(k);
      if (i !== undefined && j - i > 1) {
        crossed[i + 1]! += 1;
        crossed[j]! -= 1;
      }
    }
  });
  const out: number[] = [];
  let open = 0;
  for (let i = 0; i < model.layers.length; i++) {
    open += crossed[i]!;
    if (open === 0) out.push(i);
  }
  return out;
}

function beforeLastDownsample(model: tf.LayersModel): number {
  let last = -1;
  model.layers.forEach((l, i) => {
    if (isDownsampling(l)) last = i;
  });
  if (last < 0) throw new LayerNotFoundError('before-last-downsample', [], 'cut "before-last-downsample": the model has no downsampling layer');
  // Walk back to the end of the previous block, skipping padding layers that only feed the strided one.
  const bounds = blockBoundaries(model).filter((i) => i < last && !model.layers[i]!.getClassName().startsWith('ZeroPadding'));
  const cut = bounds[bounds.length - 1];
  if (cut === undefined) throw new LayerNotFoundError('before-last-downsample', [], 'cut "before-last-downsample": no block boundary before the last downsampling layer');
  return cut;
}

function beforeHead(model: tf.LayersModel): number {
  const pooled = /^(GlobalAveragePooling|GlobalMaxPooling|Flatten)/;
  for (let i = model.layers.length - 1; i >= 0; i--) if (pooled.test(model.layers[i]!.getClassName())) return i;
  // No pooling layer (e.g. a model saved without its top): the last spatial activation.
  for (let i = model.layers.length - 1; i >= 0; i--) if (shapeOf(model.layers[i]!.outputShape).length === 4) return i;
  throw new LayerNotFoundError('before-head', [], 'cut "before-head": the model has neither a pooling layer nor a spatial activation');
}

/** The index in model.layers that a reference names; throws LayerNotFoundError with the nearest names. */
export function resolveLayerIndex(model: tf.LayersModel, ref: LayerRef): number {
  const n = model.layers.length;
  if (typeof ref === 'number') {
    const i = ref < 0 ? n + ref : ref;
    if (!Number.isInteger(ref) || i < 0 || i >= n) {
      throw new LayerNotFoundError(ref, [], `layer index ${ref} is out of range: the model has ${n} layers (0..${n - 1}, or -1..-${n} from the end)`);
    }
    return i;
  }
  if (ref === 'before-last-downsample') return beforeLastDownsample(model);
  if (ref === 'before-head') return beforeHead(model);
  const i = model.layers.findIndex((l) => l.name === ref);
  if (i < 0) {
    throw new LayerNotFoundError(ref, nearestLayerNames(model, ref), `no layer named "${ref}" in model "${model.name}" (rules: ${CUT_RULES.join(', ')})`);
  }
  return i;
}

export function resolveLayer(model: tf.LayersModel, ref: LayerRef): tf.layers.Layer {
  return model.layers[resolveLayerIndex(model, ref)]!;
}

/**
 * The base network up to and including the cut layer, optionally followed by `pool`×`pool` average
 * pooling (layer `cut_pool`) to shrink the activations. Shares weights with `model`.
 */
export function cutModel(model: tf.LayersModel, ref: LayerRef, pool?: number): tf.LayersModel {
  const layer = resolveLayer(model, ref);
  let out = layer.output as tf.SymbolicTensor;
  if (pool && pool > 1) {
    if (out.shape.length !== 4) throw new Error(`model.pool needs a spatial activation at the cut, but "${layer.name}" outputs shape [${out.shape.join(', ')}]`);
    out = tf.layers.averagePooling2d({ poolSize: pool, strides: pool, name: 'cut_pool' }).apply(out) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: model.inputs, outputs: out, name: `${model.name}_cut` });
}

/**
 * A multi-output network giving the activations of several layers at once (for content and style
 * losses). Shares weights with `model`; the caller decides whether it trains (usually not).
 */
export function featureNetwork(model: tf.LayersModel, refs: LayerRef[]): tf.LayersModel {
  const outputs = refs.map((r) => resolveLayer(model, r).output as tf.SymbolicTensor);
  return tf.model({ inputs: model.inputs, outputs, name: `${model.name}_features` });
}
