// Loading a spec: read the file and its `extends` chain (base first), deep-merge, apply
// command-line overrides last, validate everything at once, and hash what will run.
import { dirname, relative, resolve } from 'node:path';
import type { z } from 'zod';
import { shortHash, hashOf } from './hash.js';
import { SpecError, type SpecIssue } from './issues.js';
import { parseOverride, setIn, type Override } from './overrides.js';
import { presetOf } from './presets.js';
import { experimentSchema, sweepSchema, type ExperimentSpec, type SweepSpec } from './schema.js';
import { locate, readYamlLayer, type FileLayer, type Layer } from './source.js';
import { toSpecIssues } from './validate.js';

export interface LoadedSpec {
  /** The resolved spec: defaults filled in; this is what runs and what is hashed. */
  spec: ExperimentSpec;
  /** The merged user input before defaults (what `extends` + overrides produced). */
  input: Record<string, unknown>;
  file: string;
  layers: Layer[];
  overrides: Override[];
  /** sha256 of the canonical resolved spec (without `extends`). */
  hash: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Objects merge key by key; lists and scalars from the later layer replace the earlier. */
export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  return out;
}

const display = (file: string) => {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
};

/** Read a file and, recursively, its bases. Returns layers base-first and the merged data. */
function readChain(file: string, seen: string[], issues: SpecIssue[]): { layers: FileLayer[]; data: Obj } {
  const abs = resolve(file);
  const { layer, issues: read } = readYamlLayer(abs, display(abs));
  issues.push(...read);
  if (!layer) return { layers: [], data: {} };
  const data = { ...(layer.data as Obj) };
  const ext = data.extends;
  delete data.extends;
  const bases = ext === undefined ? [] : Array.isArray(ext) ? ext : [ext];
  let merged: Obj = {};
  const layers: FileLayer[] = [];
  bases.forEach((b, i) => {
    const path = Array.isArray(ext) ? ['extends', i] : ['extends'];
    const at = locate(layer, path).at;
    const here = { file: layer.file, line: at.line, col: at.col, path: path.join('.') };
    if (typeof b !== 'string') {
      issues.push({ ...here, message: 'expected a path to a base spec (string)' });
      return;
    }
    const baseAbs = resolve(dirname(abs), b);
    if (seen.includes(baseAbs) || baseAbs === abs) {
      issues.push({ ...here, message: `extends cycle: ${[...seen, abs, baseAbs].map(display).join(' → ')}` });
      return;
    }
    const before = issues.length;
    const chain = readChain(baseAbs, [...seen, abs], issues);
    // A missing base is reported where it is named, not as an unlocated file error.
    for (let j = before; j < issues.length; j++) {
      const it = issues[j]!;
      if (it.line === 0 && it.message.startsWith('cannot read spec')) issues[j] = { ...here, message: `base spec ${b}: ${it.message.slice('cannot read spec: '.length)}` };
    }
    layers.push(...chain.layers);
    merged = deepMerge(merged, chain.data);
  });
  layers.push(layer);
  return { layers, data: deepMerge(merged, data) };
}

/** Validate merged data against a schema, throwing one SpecError with every located issue. */
export function parseWithLayers<S extends z.ZodType>(schema: S, data: Obj, layers: Layer[], issues: SpecIssue[] = []): z.output<S> {
  const r = schema.safeParse(data);
  if (!r.success) issues.push(...toSpecIssues(schema, r.error, data, layers));
  if (issues.length > 0) throw new SpecError(issues);
  return r.data as z.output<S>;
}

/** Load an experiment spec with its bases and overrides. Throws SpecError on any problem. */
export function loadSpec(file: string, overrideTexts: readonly string[] = []): LoadedSpec {
  const issues: SpecIssue[] = [];
  const { layers: fileLayers, data } = readChain(file, [], issues);
  if (issues.length > 0) throw new SpecError(issues);
  return resolveSpec(data, fileLayers, overrideTexts, resolve(file));
}

/** Apply overrides to already-merged data and validate (used by sweeps for each trial). */
export function resolveSpec(data: Obj, fileLayers: Layer[], overrideTexts: readonly string[], file: string): LoadedSpec {
  const issues: SpecIssue[] = [];
  const overrides: Override[] = [];
  let input = data;
  for (const text of overrideTexts) {
    try {
      const o = parseOverride(text, experimentSchema);
      overrides.push(o);
      input = setIn(input, o.path, o.value);
    } catch (e) {
      if (e instanceof SpecError) issues.push(...e.issues);
      else throw e;
    }
  }
  // After every file and override, so what any of them sets explicitly wins over the preset.
  const preset = presetOf(input);
  if (preset) input = deepMerge(preset, input);
  const layers: Layer[] = [...fileLayers, ...overrides.map((o) => ({ kind: 'override' as const, text: o.text, path: o.path }))];
  const spec = parseWithLayers(experimentSchema, input, layers, issues);
  return { spec, input, file, layers, overrides, hash: hashOf(spec) };
}

export interface LoadedSweep {
  sweep: SweepSpec;
  file: string;
  /** The base experiment's merged data and layers, ready for per-trial overrides. */
  base: { file: string; data: Obj; layers: FileLayer[] };
}

/** Load a sweep file and its base experiment (not yet validated per trial). */
export function loadSweep(file: string): LoadedSweep {
  const issues: SpecIssue[] = [];
  const abs = resolve(file);
  const { layer, issues: read } = readYamlLayer(abs, display(abs));
  if (!layer) throw new SpecError(read);
  const sweep = parseWithLayers(sweepSchema, layer.data as Obj, [layer], issues);
  const baseFile = resolve(dirname(abs), sweep.base);
  const chain = readChain(baseFile, [], issues);
  if (issues.length > 0) {
    throw new SpecError(
      issues.map((i) => (i.line === 0 && i.message.startsWith('cannot read spec') ? { ...i, ...locate(layer, ['base']).at, file: layer.file, path: 'base', message: `base spec ${sweep.base}: ${i.message.slice('cannot read spec: '.length)}` } : i)),
    );
  }
  return { sweep, file: abs, base: { file: baseFile, data: chain.data, layers: chain.layers } };
}

/** A short, stable id of a resolved spec (folder names, tags). */
export function specKey(spec: ExperimentSpec): string {
  return shortHash(spec);
}
