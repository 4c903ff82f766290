// Command-line sweep arguments, Hydra style: `a.b=x,y,z` is an axis, `a.b=x` a value for every
// trial. Commas inside brackets or quotes do not split (`preprocess.size=[64,128]` is one value).
import { splitOverride } from '../spec/overrides.js';

export interface CliAxis {
  path: string;
  /** Raw texts, typed later by the field they set (as any override is). */
  raws: string[];
}

export interface CliFixed {
  path: string;
  raw: string;
  text: string;
}

export interface CliSweepArgs {
  axes: CliAxis[];
  fixed: CliFixed[];
}

/** Split on top-level commas; a backslash-escaped comma stays. */
export function splitValues(raw: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let cur = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      cur += c;
    } else if (c === '\\' && raw[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur += c;
    } else if (c === '[' || c === '{' || c === '(') {
      depth++;
      cur += c;
    } else if (c === ']' || c === '}' || c === ')') {
      depth = Math.max(0, depth - 1);
      cur += c;
    } else if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export class CliAxisError extends Error {}

export function parseCliSweepArgs(args: readonly string[]): CliSweepArgs {
  const axes: CliAxis[] = [];
  const fixed: CliFixed[] = [];
  const seen = new Set<string>();
  for (const text of args) {
    const split = splitOverride(text);
    if (!split) throw new CliAxisError(`"${text}": expected field.path=value or field.path=a,b,c`);
    const path = split.path.join('.');
    if (seen.has(path)) throw new CliAxisError(`"${text}": ${path} is given twice on the command line`);
    seen.add(path);
    const raws = splitValues(split.raw);
    if (raws.length > 1) {
      if (raws.some((r) => r.trim() === '')) throw new CliAxisError(`"${text}": an empty value in the list (a trailing comma?)`);
      axes.push({ path, raws });
    } else fixed.push({ path, raw: split.raw, text });
  }
  return { axes, fixed };
}
