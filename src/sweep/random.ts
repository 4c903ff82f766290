// Seeded draws for `random:` axes. The generator is tiny and fixed so that the same sweep file
// draws the same trials on every machine and Node version (resume depends on it).
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Distribution = { choice: unknown[] } | { uniform: [number, number] } | { logUniform: [number, number] } | { int: [number, number] };

// Six significant digits: enough for any hyperparameter, and the value reads and round-trips
// cleanly as override text and tag.
const tidy = (x: number) => Number(x.toPrecision(6));

export function draw(d: Distribution, u: number): unknown {
  if ('choice' in d) return d.choice[Math.min(d.choice.length - 1, Math.floor(u * d.choice.length))];
  if ('uniform' in d) return tidy(d.uniform[0] + u * (d.uniform[1] - d.uniform[0]));
  if ('logUniform' in d) {
    const [lo, hi] = d.logUniform.map(Math.log) as [number, number];
    return tidy(Math.exp(lo + u * (hi - lo)));
  }
  const [lo, hi] = [Math.min(...d.int), Math.max(...d.int)];
  return lo + Math.min(hi - lo, Math.floor(u * (hi - lo + 1)));
}
