// Seeded train/val split and per-split limits. Stratified by class so a small class keeps its
// share in both splits; each split is then stored in a seeded shuffled order, because the loader
// shuffles only within a few chunks: a class-sorted array would give single-class batches.
import { rng, shuffle } from '../util/rng.js';

export interface Labelled {
  label: number;
  /** Fixed by the dataset layout (root/train, root/val) when present. */
  split?: 'train' | 'val' | undefined;
}

export interface SplitOptions {
  seed: number;
  valFraction: number;
  limit?: { train?: number | undefined; val?: number | undefined } | undefined;
}

export function splitItems<T extends Labelled>(items: readonly T[], o: SplitOptions): { train: T[]; val: T[] } {
  let train: T[] = [];
  let val: T[] = [];
  if (items.some((i) => i.split)) {
    for (const i of items) (i.split === 'val' ? val : train).push(i);
  } else {
    const byClass = new Map<number, T[]>();
    for (const i of items) {
      const list = byClass.get(i.label) ?? [];
      list.push(i);
      byClass.set(i.label, list);
    }
    for (const [label, list] of [...byClass].sort((a, b) => a[0] - b[0])) {
      shuffle(list, rng(o.seed, 'split', label));
      const nVal = Math.round(list.length * o.valFraction);
      val.push(...list.slice(0, nVal));
      train.push(...list.slice(nVal));
    }
  }
  train = shuffle(train, rng(o.seed, 'order', 'train'));
  val = shuffle(val, rng(o.seed, 'order', 'val'));
  if (o.limit?.train !== undefined) train = train.slice(0, o.limit.train);
  if (o.limit?.val !== undefined) val = val.slice(0, o.limit.val);
  return { train, val };
}
