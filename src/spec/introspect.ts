// Walking a zod schema by a dotted path: overrides are typed by the field they name, unknown
// keys get suggestions from the fields that exist, and docs list every field.
import type { z } from 'zod';

type AnySchema = z.ZodType;
interface Def {
  type: string;
  innerType?: AnySchema;
  shape?: Record<string, AnySchema>;
  options?: AnySchema[];
  element?: AnySchema;
  valueType?: AnySchema;
  items?: AnySchema[];
  in?: AnySchema;
  entries?: Record<string, unknown>;
  values?: unknown[];
}

export const def = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Strip optional/default/prefault/nullable/pipe wrappers. */
export function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (;;) {
    const d = def(cur);
    if (d.innerType && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(d.type)) cur = d.innerType;
    else if (d.type === 'pipe' && d.in) cur = d.in;
    else return cur;
  }
}

/** The alternatives a value at this schema may take (a union's options, else itself). */
export function alternatives(s: AnySchema): AnySchema[] {
  const u = unwrap(s);
  const d = def(u);
  return d.type === 'union' && d.options ? d.options.flatMap(alternatives) : [u];
}

/** Field names an object-like schema accepts at this point (for suggestions). */
export function fieldNames(s: AnySchema): string[] {
  const names = new Set<string>();
  for (const alt of alternatives(s)) {
    const d = def(alt);
    if (d.type === 'object' && d.shape) for (const k of Object.keys(d.shape)) names.add(k);
  }
  return [...names];
}

/** The schemas that a dotted path can reach, or [] when it names no field. */
export function schemasAt(root: AnySchema, path: readonly string[]): AnySchema[] {
  let cur: AnySchema[] = [root];
  for (const seg of path) {
    const next: AnySchema[] = [];
    for (const s of cur) {
      for (const alt of alternatives(s)) {
        const d = def(alt);
        if (d.type === 'object' && d.shape && seg in d.shape) next.push(d.shape[seg]!);
        else if (d.type === 'record' && d.valueType) next.push(d.valueType);
        else if (d.type === 'array' && d.element && /^\d+$/.test(seg)) next.push(d.element);
        else if (d.type === 'tuple' && d.items && /^\d+$/.test(seg) && d.items[Number(seg)]) next.push(d.items[Number(seg)]!);
      }
    }
    if (next.length === 0) return [];
    cur = next;
  }
  return cur;
}

/** Leaf kinds a schema accepts, for typing override values. */
export function leafKinds(s: AnySchema): Set<string> {
  const kinds = new Set<string>();
  for (const alt of alternatives(s)) {
    const d = def(alt);
    if (d.type === 'literal' && d.values) for (const v of d.values) kinds.add(typeof v);
    else if (d.type === 'enum') kinds.add('string');
    else kinds.add(d.type);
  }
  return kinds;
}

/** Allowed values of an enum-like schema (enum or union of literals), for suggestions. */
export function enumValues(s: AnySchema): string[] | undefined {
  const out: string[] = [];
  for (const alt of alternatives(s)) {
    const d = def(alt);
    if (d.type === 'enum' && d.entries) out.push(...Object.values(d.entries).map(String));
    else if (d.type === 'literal' && d.values) out.push(...d.values.map(String));
    else return undefined;
  }
  return out;
}

/**
 * A field of that name one level down (`model.width` → `model.base.width`) or one level up
 * (`model.base.cut` → `model.cut`): the usual mistake of putting a key under the wrong parent.
 */
export function levelHint(schema: AnySchema, parent: readonly string[], key: string): string {
  const found: string[] = [];
  for (const child of [...new Set(schemasAt(schema, parent).flatMap(fieldNames))]) {
    if (schemasAt(schema, [...parent, child]).flatMap(fieldNames).includes(key)) found.push([...parent, child, key].join('.'));
  }
  if (parent.length > 0 && schemasAt(schema, parent.slice(0, -1)).flatMap(fieldNames).includes(key)) found.push([...parent.slice(0, -1), key].join('.'));
  return found.length ? `; did you mean ${found.join(' or ')}?` : '';
}
