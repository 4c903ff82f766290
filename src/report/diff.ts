// A run's spec against the sweep's base, leaf by leaf: what the reader needs to see to know what
// a trial actually changed (axes, and anything an override or a variant touched).
import { flatten } from '../track/flatten.js';

export interface SpecChange {
  path: string;
  base: string | undefined;
  value: string | undefined;
}

export function specDiff(base: unknown, spec: unknown): SpecChange[] {
  const a = flatten(base ?? {}).params;
  const b = flatten(spec ?? {}).params;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => a[k] !== b[k]).map((k) => ({ path: k, base: a[k], value: b[k] }));
}
