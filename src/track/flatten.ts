// The resolved spec as MLflow params: one dotted key per leaf, so runs can be filtered and compared
// field by field. Lists of scalars stay one JSON value (`preprocess.size: [64,32]` reads better
// than two keys); lists of objects (loss terms) are indexed.
import type { ExperimentSpec } from '../spec/schema.js';
import { LIMITS, safeKey } from './keys.js';

export interface Flattened {
  params: Record<string, string>;
  /** Keys whose value was longer than MLflow's param limit; the spec artifact still has them. */
  omitted: string[];
}

export function flatten(value: unknown, prefix = ''): Flattened {
  const params: Record<string, string> = {};
  const omitted: string[] = [];
  const put = (key: string, v: string) => {
    const k = safeKey(key);
    if (v.length > LIMITS.paramValue) omitted.push(k);
    else params[k] = v;
  };
  const walk = (v: unknown, key: string): void => {
    if (v === undefined || typeof v === 'function') return;
    if (v === null) {
      put(key, 'null');
    } else if (Array.isArray(v)) {
      if (v.some((x) => x !== null && typeof x === 'object')) {
        for (const [i, x] of v.entries()) walk(x, join(key, String(i)));
      } else put(key, JSON.stringify(v));
    } else if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0 && key) put(key, '{}');
      for (const [k, x] of entries) walk(x, join(key, k));
    } else put(key, String(v));
  };
  walk(value, prefix);
  return { params, omitted };
}

const join = (a: string, b: string) => (a ? `${a}.${b}` : b);

/** Dotted params of a resolved spec (values over 6000 characters are left to the spec artifact). */
export function flattenSpec(spec: ExperimentSpec | Record<string, unknown>): Record<string, string> {
  return flatten(spec).params;
}
