// "Did you mean" for misspelt keys and enum values: Damerau-free Levenshtein is enough for
// config keys, which are short; a candidate is offered only when it is clearly the closest.

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

// Names other tools use for the same thing (timm says "squash", others "letterbox").
const SYNONYMS: Record<string, string> = {
  letterbox: 'border',
  pad: 'border',
  padding: 'border',
  squash: 'squish',
  stretch: 'squish',
  crop: 'center',
  centercrop: 'center',
  ce: 'crossentropy',
  xent: 'crossentropy',
  categorical_crossentropy: 'crossentropy',
  l2: 'mse',
  l1: 'mae',
  gpu: 'node-gpu',
};

/** The closest candidate within a typo's reach, or undefined. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const low = input.toLowerCase();
  const syn = SYNONYMS[low.replace(/[\s-]/g, '')];
  if (syn !== undefined && candidates.includes(syn)) return syn;
  // "gpu" → "node-gpu": a whole part of a hyphenated name beats a one-letter edit of another name.
  const byPart = candidates.find((c) => c.toLowerCase().split(/[-_.]/).includes(low));
  if (byPart !== undefined && low.length >= 3) return byPart;
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(low, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  const reach = Math.max(2, Math.floor(Math.max(input.length, best.length) / 3));
  if (bestD <= reach) return best;
  // "bs" for "batchSize": a prefix or an abbreviation is also a likely typo.
  if (low.length >= 3 && best.toLowerCase().startsWith(low)) return best;
  return undefined;
}

export function suggestion(input: string, candidates: readonly string[]): string {
  const m = didYouMean(input, candidates);
  return m === undefined ? '' : `; did you mean "${m}"?`;
}
