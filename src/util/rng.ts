// Seeded randomness for splits, generation, loaders and sweep draws. Every consumer derives its own stream
// from (seed, ...labels) so that adding a draw in one place never shifts the numbers elsewhere,
// and so that parallel workers (shape generation) stay deterministic whatever their scheduling.

/** 32-bit FNV-1a over the labels, mixed with the seed: a stable stream id. */
export function streamSeed(seed: number, ...labels: (string | number)[]): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (const l of labels) {
    const s = String(l);
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: tiny, fast and good enough for shuffles and synthetic images (not crypto). */
export function rng(seed: number, ...labels: (string | number)[]): () => number {
  let a = labels.length ? streamSeed(seed, ...labels) : seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates in place. */
export function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}

export function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}
