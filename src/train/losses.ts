// Loss terms and their weighted sum. Every function here takes and returns tensors and allocates
// nothing that outlives a tf.tidy, so they compose inside optimizer.minimize. Reductions: each term
// is a mean over the batch (and, for the elementwise terms, over elements), so term values do not
// depend on the batch size and weights stay comparable across terms.
import * as tf from '@tensorflow/tfjs';
import type { ExperimentSpec } from '../spec/schema.js';
import { featureNetwork, type LayerRef, resolveLayer } from '../models/cut.js';

export type LossTermSpec = ExperimentSpec['loss']['terms'][number];

/** Softmax cross-entropy of logits [B, K] against integer labels [B], with label smoothing s (targets (1−s)·onehot + s/K). */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor, smoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[logits.shape.length - 1]!;
    let target = tf.oneHot(labels.toInt(), k).toFloat();
    if (smoothing > 0) target = target.mul(1 - smoothing).add(smoothing / k);
    return tf.neg(target.mul(tf.logSoftmax(logits)).sum(-1).mean()) as tf.Scalar;
  });
}

/** Mean squared error over all elements. */
export function mse(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => pred.sub(target).square().mean() as tf.Scalar);
}

/** Mean absolute error over all elements. */
export function mae(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => pred.sub(target).abs().mean() as tf.Scalar);
}

/** Mean over the batch of 1 − cos(pred_i, target_i), vectors along the last axis. */
export function cosineDistance(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const eps = 1e-8;
    const dot = pred.mul(target).sum(-1);
    const norms = pred.square().sum(-1).sqrt().mul(target.square().sum(-1).sqrt()).maximum(eps);
    return tf.scalar(1).sub(dot.div(norms).mean()) as tf.Scalar;
  });
}

/**
 * Gram matrices of activations [B, H, W, C]: G_b = F_bᵀ F_b / (H·W·C) with F_b the [H·W, C]
 * matrix of image b. Normalising by the layer size keeps layers of different sizes comparable.
 */
export function gramMatrix(features: tf.Tensor): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, h, w, c] = features.shape as [number, number, number, number];
    const f = features.reshape([b, h * w, c]);
    return tf.matMul(f, f, true, false).div(h * w * c) as tf.Tensor3D;
  });
}

/** Per-layer weighted sum Σ w_i · d(a_i, b_i) for lists of activations. */
function layered(a: tf.Tensor[], b: tf.Tensor[], weights: number[], d: (x: tf.Tensor, y: tf.Tensor) => tf.Scalar): tf.Scalar {
  return tf.tidy(() => a.reduce((acc, x, i) => acc.add(d(x, b[i]!).mul(weights[i]!)), tf.scalar(0)) as tf.Scalar);
}

/** Cosine distance per spatial position, averaged: compares activation directions, not magnitudes. */
function positionCosine(x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return cosineDistance(x, y);
}

/**
 * Content (perceptual) loss: Σ_i w_i · d(φ_i(pred), φ_i(target)) over activations φ_i of the
 * feature network's outputs (build it with featureNetwork(net, layers)). d is mse or a per-position
 * cosine distance. The target's activations carry no gradient.
 */
export function contentLoss(net: tf.LayersModel, pred: tf.Tensor, target: tf.Tensor, weights: number[], distance: 'mse' | 'cosine' = 'mse'): tf.Scalar {
  return tf.tidy(() => contentOf(features(net, pred), targetFeatures(net, target), weights, distance));
}

/**
 * Style loss: Σ_i w_i · mean((G(φ_i(pred)) − G(φ_i(target)))²) with Gram matrices computed per
 * image of the current batch (a batch at a time, never over the whole dataset).
 */
export function styleLoss(net: tf.LayersModel, pred: tf.Tensor, target: tf.Tensor, weights: number[]): tf.Scalar {
  return tf.tidy(() => styleOf(features(net, pred), targetFeatures(net, target), weights));
}

function contentOf(a: tf.Tensor[], b: tf.Tensor[], weights: number[], distance: 'mse' | 'cosine'): tf.Scalar {
  return layered(a, b, weights, distance === 'mse' ? mse : positionCosine);
}

function styleOf(a: tf.Tensor[], b: tf.Tensor[], weights: number[]): tf.Scalar {
  return tf.tidy(() => layered(a.map(gramMatrix), b.map((t) => stopGradient(gramMatrix(t))), weights, mse));
}

const features = (net: tf.LayersModel, x: tf.Tensor): tf.Tensor[] => asList(net.apply(x, { training: false }) as tf.Tensor | tf.Tensor[]);
const targetFeatures = (net: tf.LayersModel, x: tf.Tensor): tf.Tensor[] => features(net, x).map((t) => stopGradient(t));

// tfjs has no stopGradient: an identity with a zero gradient stands in for it.
const stopGradientOp = tf.customGrad(((x: tf.Tensor) => ({ value: x.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as unknown as Parameters<typeof tf.customGrad>[0]);
/** Identity whose gradient is zero (targets of content/style terms). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stopGradientOp(x) as T;
}

const asList = (t: tf.Tensor | tf.Tensor[]): tf.Tensor[] => (Array.isArray(t) ? t : [t]);

/** What a batch offers the loss terms besides the prediction. */
export interface LossBatch {
  /** Integer class labels [B] (crossentropy, and one-hot targets for mse/mae without vectors). */
  labels?: tf.Tensor;
  /** Per-sample targets: class target vectors [B, D] (cosine, mse, mae) or images (pixel, content, style). */
  target?: tf.Tensor;
}

export interface CompositeLoss {
  /** Metric suffix of each term, in spec order: `crossentropy`, `cosine`, `content`, `content_2`, … */
  names: string[];
  weights: number[];
  /**
   * The weighted total and every term's unweighted value. Call inside tf.tidy (or minimize): the
   * returned scalars are not kept.
   */
  compute(pred: tf.Tensor, batch: LossBatch): { total: tf.Scalar; terms: tf.Scalar[] };
  /** Releases the feature networks built for content/style terms (not the networks themselves). */
  dispose(): void;
  /** The term specs it was built from, so a data-parallel worker can build the same loss. */
  specs: LossTermSpec[];
  /** The feature networks of its content/style terms, keyed by `network.path` ('' for the default). */
  sources(): Map<string, tf.LayersModel>;
}

/** Provides the feature network of a content/style term: `path` when the term names one, else the default (model.base). */
export type NetworkResolver = (path: string | undefined) => Promise<tf.LayersModel>;

function need(t: tf.Tensor | undefined, kind: string, what: string): tf.Tensor {
  if (!t) throw new Error(`loss term "${kind}" needs ${what}`);
  return t;
}

/** Builds the weighted sum of the spec's `loss.terms`. `network` is only called for content/style terms. */
export async function buildLoss(terms: LossTermSpec[], network?: NetworkResolver): Promise<CompositeLoss> {
  const seen = new Map<string, number>();
  const names = terms.map((t) => {
    const n = (seen.get(t.kind) ?? 0) + 1;
    seen.set(t.kind, n);
    return n === 1 ? t.kind : `${t.kind}_${n}`;
  });
  const shared = network ? new SharedFeatures(network) : undefined;
  const fns: ((pred: tf.Tensor, b: LossBatch) => tf.Scalar)[] = [];
  for (const t of terms) {
    switch (t.kind) {
      case 'crossentropy':
        fns.push((p, b) => crossEntropy(p, need(b.labels, t.kind, 'class labels'), t.smoothing));
        break;
      case 'mse':
      case 'mae': {
        const d = t.kind === 'mse' ? mse : mae;
        // Without target vectors these compare class probabilities with the one-hot label (Brier-style).
        fns.push((p, b) => (b.target ? d(p, b.target) : tf.tidy(() => d(tf.softmax(p), tf.oneHot(need(b.labels, t.kind, 'labels or targets').toInt(), p.shape[1]!).toFloat()))));
        break;
      }
      case 'cosine':
        fns.push((p, b) => cosineDistance(p, need(b.target, t.kind, 'target vectors (dataset.targets)')));
        break;
      case 'pixel':
        fns.push((p, b) => (t.distance === 'mse' ? mse : mae)(p, need(b.target, t.kind, 'target images')));
        break;
      case 'content':
      case 'style': {
        if (!shared) throw new Error(`loss term "${t.kind}" needs a feature network, which this task does not provide`);
        const use = await shared.use(t.network?.path, t.layers as LayerRef[]);
        const w = t.weights ?? t.layers.map(() => 1);
        fns.push(
          t.kind === 'content'
            ? (p, b) => contentOf(...use(p, need(b.target, t.kind, 'target images')), w, t.distance)
            : (p, b) => styleOf(...use(p, need(b.target, t.kind, 'target images')), w),
        );
        break;
      }
    }
  }
  const weights = terms.map((t) => t.weight);
  return {
    names,
    weights,
    compute(pred, batch) {
      shared?.newBatch();
      const parts = fns.map((f) => f(pred, batch));
      const total = parts.reduce((acc, v, i) => acc.add(v.mul(weights[i]!)), tf.scalar(0)) as tf.Scalar;
      return { total, terms: parts };
    },
    specs: terms,
    sources: () => shared?.sources() ?? new Map(),
    dispose() {
      // Feature networks share layers with their source model; dropping the wrappers frees nothing
      // that the source still needs, so there is nothing to release beyond forgetting them.
      shared?.clear();
    },
  };
}

/**
 * Content and style terms on the same network share one forward pass per batch: one feature
 * network per source with the union of the terms' layers, applied once to the prediction and once
 * to the target, each term picking its layers from the result. Without this, content + style on
 * one network ran it four times a step instead of twice.
 */
class SharedFeatures {
  private readonly groups = new Map<string, { source: tf.LayersModel; layers: string[]; net?: tf.LayersModel; cache?: { pred: tf.Tensor; target: tf.Tensor; a: tf.Tensor[]; b: tf.Tensor[] } }>();

  constructor(private readonly network: NetworkResolver) {}

  /** Registers a term's layers; the returned function gives its [pred, target] activations. */
  async use(path: string | undefined, refs: LayerRef[]): Promise<(pred: tf.Tensor, target: tf.Tensor) => [tf.Tensor[], tf.Tensor[]]> {
    const key = path ?? '';
    let g = this.groups.get(key);
    if (!g) {
      g = { source: await this.network(path), layers: [] };
      this.groups.set(key, g);
    }
    const group = g;
    const names = refs.map((r) => resolveLayer(group.source, r).name);
    for (const n of names) if (!group.layers.includes(n)) group.layers.push(n);
    return (pred, target) => {
      // Built on first use, once every term has registered its layers.
      group.net ??= featureNetwork(group.source, group.layers);
      let c = group.cache;
      if (!c || c.pred !== pred || c.target !== target) {
        c = { pred, target, a: features(group.net, pred), b: targetFeatures(group.net, target) };
        group.cache = c;
      }
      const at = names.map((n) => group.layers.indexOf(n));
      return [at.map((i) => c.a[i]!), at.map((i) => c.b[i]!)];
    };
  }

  /** Forgets the previous batch's activations (they belong to its tidy scope, already disposed). */
  newBatch(): void {
    for (const g of this.groups.values()) g.cache = undefined;
  }

  clear(): void {
    this.groups.clear();
  }

  sources(): Map<string, tf.LayersModel> {
    return new Map([...this.groups].map(([k, g]) => [k, g.source]));
  }
}
