// Seeded draws for `random:` axes. The generator is tiny and fixed so that the same sweep file
// draws the same trials on every machine and Node version (resume depends on it).
import { rng } from '../util/rng.js';

/** The fixed generator (mulberry32) shared with the data code: same draws on every machine. */
export const mulberry32 = (seed: number): (() => number) => rng(seed);

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
