// Nearest neighbours of predicted vectors among labelled vectors (class targets, or any gallery),
// by cosine similarity: exact brute force, and approximate with an HNSW index (hnswlib-node) for
// large label sets. nearestEval turns both into top-1/top-k accuracy and the approximate search's
// recall against the exact one on the same queries.
import { createRequire } from 'node:module';
import type { HierarchicalNSW as HnswType } from 'hnswlib-node';

// hnswlib-node is CommonJS with a native addon; createRequire keeps the ESM build simple.
const { HierarchicalNSW } = createRequire(import.meta.url)('hnswlib-node') as { HierarchicalNSW: typeof HnswType };

function unit(v: ArrayLike<number>, at: number, d: number): Float64Array {
  const out = new Float64Array(d);
  let n = 0;
  for (let j = 0; j < d; j++) {
    out[j] = v[at + j]!;
    n += out[j]! * out[j]!;
  }
  n = Math.sqrt(n) || 1;
  for (let j = 0; j < d; j++) out[j]! /= n;
  return out;
}

/** For each of the Q queries (rows of `queries`, dimension d), the k gallery rows most cosine-similar, best first. */
export function exactKnn(queries: ArrayLike<number>, gallery: number[][], d: number, k: number): Int32Array[] {
  const g = gallery.map((row) => unit(row, 0, d));
  const q = queries.length / d;
  const kk = Math.min(k, g.length);
  const out: Int32Array[] = [];
  const sims = new Float64Array(g.length);
  for (let i = 0; i < q; i++) {
    const u = unit(queries, i * d, d);
    for (let j = 0; j < g.length; j++) {
      let s = 0;
      const gj = g[j]!;
      for (let t = 0; t < d; t++) s += u[t]! * gj[t]!;
      sims[j] = s;
    }
    // Ties break towards the lower index, so results are reproducible.
    const idx = Array.from({ length: g.length }, (_, j) => j).sort((a, b) => sims[b]! - sims[a]! || a - b);
    out.push(Int32Array.from(idx.slice(0, kk)));
  }
  return out;
}

export interface HnswOptions {
  /** Graph degree (default 16). */
  m?: number;
  efConstruction?: number;
  /** Search breadth (default max(64, 2k)); larger is slower and more exact. */
  ef?: number;
  seed?: number;
}

/** An HNSW cosine index over the gallery; search returns the k nearest rows per query, best first. */
export function hnswIndex(gallery: number[][], d: number, o: HnswOptions = {}) {
  const index = new HierarchicalNSW('cosine', d);
  index.initIndex(Math.max(1, gallery.length), o.m ?? 16, o.efConstruction ?? 200, o.seed ?? 100);
  for (const [j, row] of gallery.entries()) index.addPoint(row, j);
  return {
    search(queries: ArrayLike<number>, k: number): Int32Array[] {
      const kk = Math.min(k, gallery.length);
      index.setEf(o.ef ?? Math.max(64, 2 * kk));
      const out: Int32Array[] = [];
      for (let i = 0; i < queries.length / d; i++) {
        const q = Array.from({ length: d }, (_, t) => queries[i * d + t]!);
        const r = index.searchKnn(q, kk);
        // hnswlib returns neighbours farthest first in some versions: order by distance.
        const order = r.neighbors.map((n, j) => [n, r.distances[j]!] as const).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
        out.push(Int32Array.from(order.map(([n]) => n)));
      }
      return out;
    },
  };
}

/** Fraction of the exact k nearest that the approximate search also returned. */
export function recallAt(exact: Int32Array[], approx: Int32Array[]): number {
  let hit = 0;
  let total = 0;
  exact.forEach((e, i) => {
    const a = new Set(approx[i]);
    for (const n of e) if (a.has(n)) hit++;
    total += e.length;
  });
  return total ? hit / total : 1;
}

function accuracy(found: Int32Array[], labels: Int32Array, k: number): number {
  let hit = 0;
  found.forEach((f, i) => {
    if (Array.prototype.slice.call(f, 0, k).includes(labels[i]!)) hit++;
  });
  return found.length ? hit / found.length : 0;
}

/**
 * Nearest-class evaluation of predicted vectors [Q, d] against class target vectors (row c =
 * class c). Metrics: nn_top1, nn_top{k} (exact), and with `approximate` ann_top1, ann_top{k} and
 * ann_recall (recall@k of HNSW against exact search on the same queries).
 */
export function nearestEval(pred: Float32Array, labels: Int32Array, d: number, classTargets: number[][], o: { k: number; approximate: boolean; seed?: number }): Record<string, number> {
  const exact = exactKnn(pred, classTargets, d, o.k);
  const m: Record<string, number> = { nn_top1: accuracy(exact, labels, 1), [`nn_top${o.k}`]: accuracy(exact, labels, o.k) };
  if (o.approximate) {
    const approx = hnswIndex(classTargets, d, { seed: o.seed ?? 100 }).search(pred, o.k);
    m.ann_top1 = accuracy(approx, labels, 1);
    m[`ann_top${o.k}`] = accuracy(approx, labels, o.k);
    m.ann_recall = recallAt(exact, approx);
  }
  return m;
}
