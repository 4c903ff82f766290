// Per-class target vectors for embedding training: read from a JSON file (class → vector), or the
// generated attribute embedding of the `shapes` classes.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ExperimentSpec } from '../spec/schema.js';

// One row per shapes class over the attributes [aspect, edge, detail, round, elongated, red, blue,
// striped]: classes that share a subset or a property get similar (not equal) vectors.
const SHAPES_ATTRIBUTES: Record<string, number[]> = {
  circle: [1, 0, 0, 1, 0, 0, 0, 0],
  ellipse: [1, 0, 0, 1, 1, 0, 0, 0],
  square: [1, 0, 0, 0, 0, 0, 0, 0],
  rectangle: [1, 0, 0, 0, 1, 0, 0, 0],
  'edge-red': [0, 1, 0, 0, 0, 1, 0, 0],
  'edge-blue': [0, 1, 0, 0, 0, 0, 1, 0],
  stripes: [0, 0, 1, 0, 0, 0, 0, 1],
  flat: [0, 0, 1, 0, 0, 0, 0, 0],
};

/** Target vectors in the order of `classes` (one row each, all the same length), or null without dataset.targets. */
export async function classTargetVectors(dataset: ExperimentSpec['dataset'], classes: string[], baseDir = process.cwd()): Promise<number[][] | null> {
  const t = dataset.targets;
  if (!t) return null;
  let table: Record<string, number[]>;
  if (t.kind === 'attributes') {
    if (dataset.source !== 'shapes') throw new Error('dataset.targets kind "attributes" is generated for dataset.source shapes only; give a file for other datasets');
    table = SHAPES_ATTRIBUTES;
  } else {
    table = JSON.parse(await readFile(resolve(baseDir, t.path), 'utf8')) as Record<string, number[]>;
  }
  const rows = classes.map((c) => {
    const v = table[c];
    if (!v) throw new Error(`dataset.targets: no target vector for class "${c}" (have: ${Object.keys(table).join(', ')})`);
    return v;
  });
  const d = rows[0]!.length;
  if (rows.some((r) => r.length !== d || r.some((x) => !Number.isFinite(x)))) throw new Error('dataset.targets: every class vector must be finite and have the same length');
  return rows;
}
