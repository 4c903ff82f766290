// Reading YAML while keeping positions: every layer of a resolved spec (base files, the file
// itself, command-line overrides) remembers where each value came from, so that an error found
// after merging can still name the file, line and column the user has to edit.
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { SpecIssue } from './issues.js';

export interface FileLayer {
  kind: 'file';
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
  data: unknown;
}

export interface OverrideLayer {
  kind: 'override';
  /** The override as typed, e.g. `train.epochs=3`. */
  text: string;
  path: string[];
}

export type Layer = FileLayer | OverrideLayer;

export interface Located {
  line: number;
  col: number;
}

const SYNTAX_HINTS: Array<[RegExp, string]> = [
  [/tab/i, 'indent with spaces, not tabs'],
  [/Map keys must be unique/i, 'a key appears twice in the same mapping; remove one'],
  [/Implicit map keys need to be followed by map values|Nested mappings are not allowed/i, 'is a ":" missing, or a space after one?'],
  [/bad indentation|All mapping items must start at the same column/i, 'check the indentation of this line against its siblings'],
  [/Missing closing|Unexpected flow-seq-end|Unexpected flow-map-end|flow collection/i, 'a [ or { is not closed (or closed twice)'],
];

function hint(message: string): string {
  for (const [re, h] of SYNTAX_HINTS) if (re.test(message)) return `; ${h}`;
  return '';
}

const indentOf = (line: string) => line.length - line.trimStart().length;
const blank = (line: string) => line.trim() === '' || line.trimStart().startsWith('#');

/**
 * yaml places an indentation error at column 1 (BAD_INDENT: the start of the line) or at the
 * value before an over-indented key (the key then reads as a multi-line continuation): point at
 * the first character of the misplaced key instead, and say which column its siblings use.
 */
export function indentationIssue(text: string, code: string, message: string, line: number): { line: number; col: number; message: string } | undefined {
  const all = text.split(/\r?\n/);
  const prevKey = (from: number) => {
    for (let i = from - 1; i >= 0; i--) if (!blank(all[i]!)) return i;
    return -1;
  };
  if (code === 'BAD_INDENT' && /All mapping items must start at the same column/.test(message)) {
    const here = all[line - 1];
    const p = prevKey(line - 1);
    if (here === undefined || p < 0) return undefined;
    const col = indentOf(here) + 1;
    const before = indentOf(all[p]!) + 1;
    return { line, col, message: `YAML syntax error: bad indentation: this line starts at column ${col}, the line before at column ${before}; keys of one mapping must start at the same column` };
  }
  if (code === 'BLOCK_AS_IMPLICIT_KEY' || code === 'MULTILINE_IMPLICIT_KEY') {
    // `epochs: 3` followed by a deeper `batchSize: 16`: the deeper line is the mistake.
    const key = all[line - 1];
    let n = line;
    while (n < all.length && blank(all[n]!)) n++;
    const next = all[n];
    if (key === undefined || next === undefined || !/^\s*[\w.-]+\s*:/.test(next) || !/:\s*\S/.test(key) || indentOf(next) <= indentOf(key)) return undefined;
    const col = indentOf(next) + 1;
    return {
      line: n + 1,
      col,
      message: `YAML syntax error: bad indentation: this key starts at column ${col}, deeper than "${key.trim().split(':')[0]}" (column ${indentOf(key) + 1}), which already has a value; align it with its siblings`,
    };
  }
  return undefined;
}

/** Parse a YAML file; syntax errors come back as located issues, never as exceptions. */
export function readYamlLayer(file: string, displayName = file): { layer?: FileLayer; issues: SpecIssue[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a YAML file' : String((e as Error).message);
    return { issues: [{ file: displayName, line: 0, col: 0, path: '', message: `cannot read spec: ${why}` }] };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const issues: SpecIssue[] = [];
  for (const err of doc.errors) {
    const pos = lines.linePos(err.pos[0]);
    const indent = indentationIssue(text, err.code, err.message, pos.line);
    if (indent) {
      // One issue per misindented line (yaml reports an over-indented key twice).
      if (!issues.some((i) => i.line === indent.line && i.col === indent.col)) issues.push({ file: displayName, path: '', ...indent });
      continue;
    }
    const msg = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    issues.push({ file: displayName, line: pos.line, col: pos.col, path: '', message: `YAML syntax error: ${msg}${hint(msg)}` });
  }
  if (issues.length > 0) return { issues };
  const data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    return { issues: [{ file: displayName, line: 1, col: 1, path: '', message: 'a spec must be a mapping of sections (dataset:, preprocess:, …)' }] };
  }
  return { layer: { kind: 'file', file: displayName, doc, lines, data }, issues: [] };
}

/**
 * Find how much of `path` a layer defines. Returns the number of matched segments and the
 * position of the deepest matched key (or value, for sequence items). `wantKey` points at the key
 * of the last segment rather than its value (unknown keys are reported at the key).
 */
export function locate(layer: FileLayer, path: readonly PropertyKey[], wantKey = false): { depth: number; at: Located } {
  let node: unknown = layer.doc.contents;
  let at = pos(layer, node as Node | null, 1, 1);
  let depth = 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      depth++;
      const last = i === path.length - 1;
      const target = last && wantKey ? pair.key : (pair.value ?? pair.key);
      at = pos(layer, target as Node, at.line, at.col);
      if (last && wantKey) return { depth, at };
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      depth++;
      at = pos(layer, item as Node, at.line, at.col);
      node = item;
    } else break;
  }
  return { depth, at };
}

function pos(layer: FileLayer, node: Node | null | undefined, line: number, col: number): Located {
  const range = node && (node as { range?: [number, number, number] }).range;
  if (!range) return { line, col };
  const p = layer.lines.linePos(range[0]);
  return { line: p.line, col: p.col };
}
