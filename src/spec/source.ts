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
  const issues: SpecIssue[] = doc.errors.map((err) => {
    const pos = lines.linePos(err.pos[0]);
    const msg = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return { file: displayName, line: pos.line, col: pos.col, path: '', message: `YAML syntax error: ${msg}${hint(msg)}` };
  });
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
