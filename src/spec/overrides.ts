// Hydra-style `a.b.c=value` overrides. The value is read as YAML (so `3` is a number and
// `[64,128]` a list) and then typed by the field it names: a string field keeps the text as
// typed, so `track.experiment=2024` stays a string, and `#` is text (`preprocess.fill=#ffffff`).
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { SpecError, type SpecIssue } from './issues.js';
import { fieldNames, leafKinds, levelHint, schemasAt } from './introspect.js';
import { suggestion } from './suggest.js';

export interface Override {
  text: string;
  path: string[];
  raw: string;
  value: unknown;
}

export function overrideIssue(text: string, path: string, message: string): SpecIssue {
  return { file: `override "${text}"`, line: 0, col: 0, path, message };
}

/** Split `a.b=c` into path and raw value; no schema needed. */
export function splitOverride(text: string): { path: string[]; raw: string } | undefined {
  const eq = text.indexOf('=');
  if (eq <= 0) return undefined;
  const key = text.slice(0, eq).trim();
  if (!/^[A-Za-z_$][\w$-]*(\.[\w$-]+)*$/.test(key)) return undefined;
  return { path: key.split('.'), raw: text.slice(eq + 1) };
}

// In an override a `#` is part of the value, never a YAML comment (Hydra reads it so):
// `preprocess.fill=#ffffff` is the colour the user typed, not null. It is swapped for a
// private-use character while YAML reads the value, and back afterwards.
const HASH = '\uE000';

function restoreHashes(v: unknown): unknown {
  if (typeof v === 'string') return v.replaceAll(HASH, '#');
  if (Array.isArray(v)) return v.map(restoreHashes);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [restoreHashes(k) as string, restoreHashes(x)]));
  return v;
}

/** Read a raw override value as YAML, typed by what the field accepts. */
export function typedValue(raw: string, kinds: Set<string>): unknown {
  let parsed: unknown;
  try {
    parsed = restoreHashes(parseYaml(raw.replaceAll('#', HASH)));
  } catch {
    parsed = raw;
  }
  if (parsed === null && raw.trim() === '') parsed = '';
  const onlyText = kinds.size > 0 && [...kinds].every((k) => k === 'string');
  if (onlyText && typeof parsed !== 'string' && (parsed === null || typeof parsed !== 'object')) return raw;
  return parsed;
}

export function parseOverride(text: string, schema: z.ZodType): Override {
  const split = splitOverride(text);
  if (!split) throw new SpecError([overrideIssue(text, '', 'expected field.path=value (e.g. train.epochs=3)')]);
  const { path, raw } = split;
  const targets = schemasAt(schema, path);
  if (targets.length === 0) {
    // Name the first segment that does not exist, with a suggestion from its siblings.
    let i = 0;
    while (i < path.length && schemasAt(schema, path.slice(0, i + 1)).length > 0) i++;
    const parent = schemasAt(schema, path.slice(0, i));
    const names = parent.flatMap(fieldNames);
    const where = path.slice(0, i + 1).join('.');
    throw new SpecError([overrideIssue(text, where, `names no field${suggestion(path[i]!, names) || levelHint(schema, path.slice(0, i), path[i]!)}`)]);
  }
  const kinds = new Set(targets.flatMap((t) => [...leafKinds(t)]));
  return { text, path, raw, value: typedValue(raw, kinds) };
}

/** Set a value at a path in a plain object, creating objects on the way; returns a copy. */
export function setIn(obj: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  const root = structuredClone(obj);
  let cur: Record<string, unknown> = root;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    if (next === null || typeof next !== 'object') cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
  return root;
}
