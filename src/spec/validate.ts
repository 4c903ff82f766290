// Turning zod's issues into located, human issues: the one conversion every spec error goes
// through, for experiment and sweep files alike.
import type { z } from 'zod';
import { enumValues, fieldNames, levelHint, schemasAt } from './introspect.js';
import { joinPath, type SpecIssue } from './issues.js';
import { locate, type Layer } from './source.js';
import { suggestion } from './suggest.js';

type ZIssue = z.core.$ZodIssue;

/** Which layer (file or override) last set the deepest part of this path, and where. */
export function whereIs(layers: readonly Layer[], path: readonly PropertyKey[], wantKey = false): Omit<SpecIssue, 'path' | 'message'> {
  let best: { depth: number; file: string; line: number; col: number } | undefined;
  for (const layer of layers) {
    if (layer.kind === 'override') {
      const n = Math.min(layer.path.length, path.length);
      let d = 0;
      while (d < n && layer.path[d] === String(path[d])) d++;
      // An override that created part of this path (a parent or a sibling) is where to look.
      if (d > 0 && (!best || d >= best.depth)) best = { depth: d, file: `override "${layer.text}"`, line: 0, col: 0 };
    } else {
      const { depth, at } = locate(layer, path, wantKey);
      if (!best || depth >= best.depth) best = { depth, file: layer.file, ...at };
    }
  }
  return best ? { file: best.file, line: best.line, col: best.col } : { file: '(spec)', line: 0, col: 0 };
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg as string];
  }
  return cur;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `"${v}"`;
  return String(v);
}

const TYPE_NAMES: Record<string, string> = { string: 'a string', number: 'a number', boolean: 'true or false', tuple: 'a list', array: 'a list', object: 'a mapping' };

/** What one failed union alternative wanted, in words. */
function expectedOf(e: ZIssue): string {
  if (e.code === 'invalid_type') return TYPE_NAMES[e.expected] ?? e.expected;
  return tidy(e.message).replace(/^expected /, '');
}

// A bare `#` in YAML starts a comment, so `fill: #ffffff` reads as null: say so.
function nullHint(got: unknown): string {
  return got === null ? '; in YAML an unquoted # starts a comment: quote the value, e.g. "#ffffff"' : '';
}

function tidy(message: string): string {
  return message.replace(/^Invalid input: /, '').replace(/^Too (small|big): /, '').replace(/^Invalid (string|option): /, '');
}

export function toSpecIssues(schema: z.ZodType, error: z.ZodError, data: unknown, layers: readonly Layer[]): SpecIssue[] {
  const out: SpecIssue[] = [];
  const push = (path: readonly PropertyKey[], message: string, wantKey = false) =>
    out.push({ ...whereIs(layers, path, wantKey), path: joinPath(path), message });

  for (const issue of error.issues as ZIssue[]) {
    const path = issue.path as PropertyKey[];
    switch (issue.code) {
      case 'unrecognized_keys': {
        const names = schemasAt(schema, path.map(String)).flatMap(fieldNames);
        for (const key of issue.keys) push([...path, key], `unknown field${suggestion(key, names) || levelHint(schema, path.map(String), key)}`, true);
        break;
      }
      case 'invalid_value': {
        const values = issue.values.map(String);
        const got = valueAt(data, path);
        push(path, `expected one of ${values.join(', ')}${typeof got === 'string' ? suggestion(got, values) : ''} (got ${describe(got)})`);
        break;
      }
      case 'invalid_union': {
        const got = valueAt(data, path);
        const disc = (issue as { discriminator?: string; options?: unknown[] }).options;
        if (disc) {
          const values = disc.map(String);
          push(path, `expected one of ${values.join(', ')}${typeof got === 'string' ? suggestion(got, values) : ''} (got ${describe(got)})`);
          break;
        }
        const enums = schemasAt(schema, path.map(String)).map(enumValues);
        if (enums.length > 0 && enums.every((e) => e !== undefined)) {
          const values = enums.flat() as string[];
          push(path, `expected one of ${values.join(', ')} (got ${describe(got)})`);
          break;
        }
        // Each alternative once, as what it expects: "a string or a list", not zod's
        // "expected expected string, received null or expected tuple, received null".
        const alts = [...new Set(issue.errors.map((errs) => errs.map(expectedOf).join(', ')))];
        push(path, `expected ${alts.join(' or ')} (got ${describe(got)})${nullHint(got)}`);
        break;
      }
      case 'invalid_type': {
        const got = valueAt(data, path);
        push(path, got === undefined ? 'is required' : `expected ${issue.expected}, got ${describe(got)}${nullHint(got)}`);
        break;
      }
      case 'too_small':
      case 'too_big': {
        const got = valueAt(data, path);
        const small = issue.code === 'too_small';
        const bound = Number(small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum);
        const incl = issue.inclusive !== false;
        if (issue.origin === 'array') {
          push(path, small ? `needs at least ${bound} item${bound === 1 ? '' : 's'}` : `takes at most ${bound} item${bound === 1 ? '' : 's'}`);
        } else {
          const op = small ? (incl ? '≥' : '>') : incl ? '≤' : '<';
          push(path, `must be ${op} ${bound} (got ${describe(got)})`);
        }
        break;
      }
      default:
        push(path, tidy(issue.message));
    }
  }
  return inReadingOrder(out);
}

/** Issues in reading order: file by file, top to bottom; overrides last. */
export function inReadingOrder(issues: SpecIssue[]): SpecIssue[] {
  return issues.sort((a, b) => ((a.line === 0) !== (b.line === 0) ? (a.line === 0 ? 1 : -1) : a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col));
}
