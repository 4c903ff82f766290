// What a stage key is made of, in one place: the spec fields the stage declares it reads (minus
// its commented exclusion list), what it found by looking at the world (file lists, file contents),
// a fingerprint of the stage's own built code and of every local module it imports, the versions of
// the libraries that shape its output, and its inputs' keys. Nothing here is a hand-bumped number:
// editing any file a stage runs, or upgrading sharp/libvips or tfjs, gives new keys.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { shortHash } from '../spec/hash.js';
import type { ExperimentSpec } from '../spec/schema.js';
import type { KeyDeclaration, Library } from './types.js';

// ---- spec fields -------------------------------------------------------------------------------

function getPath(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path.at(-1)!] = value;
}

function deletePath(obj: Record<string, unknown>, path: string[]): void {
  const parent = getPath(obj, path.slice(0, -1));
  if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[path.at(-1)!];
}

/**
 * The spec as far as a stage reads it: the declared fields (whole sections or single fields,
 * dotted), with the excluded fields removed, then the stage's own refinement (fields that matter
 * only in some configurations).
 */
export function specSlice(spec: ExperimentSpec, decl: KeyDeclaration): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of decl.reads) {
    const path = r.split('.');
    const v = getPath(spec, path);
    // JSON round trip: a private copy (refine may edit it) without undefined members.
    if (v !== undefined) setPath(out, path, JSON.parse(JSON.stringify(v)));
  }
  for (const x of Object.keys(decl.ignores ?? {})) deletePath(out, x.split('.'));
  return decl.refine ? decl.refine(out, spec) : out;
}

// ---- code fingerprint --------------------------------------------------------------------------

// Relative module specifiers in built JS: static and dynamic imports, re-exports, and worker files
// named by `new URL('./x.js', import.meta.url)`.
const LOCAL = /(?:from\s*|import\s*\(\s*|import\s+|new URL\(\s*)['"](\.{1,2}\/[^'"]+\.js)['"]/g;

const fileHash = new Map<string, { hash: string; deps: string[] }>();
const closureHash = new Map<string, string>();

function scan(file: string): { hash: string; deps: string[] } {
  let e = fileHash.get(file);
  if (!e) {
    const text = readFileSync(file, 'utf8');
    const deps = [...text.matchAll(LOCAL)].map((m) => fileURLToPath(new URL(m[1]!, `file://${file}`)));
    e = { hash: createHash('sha256').update(text).digest('hex'), deps };
    fileHash.set(file, e);
  }
  return e;
}

/**
 * sha256 over the built files a module runs: itself and every local module it imports,
 * transitively (read once per process). Type-only imports vanish from the JS and do not count.
 */
export function codeFingerprint(moduleUrl: string | URL): string {
  const entry = fileURLToPath(moduleUrl);
  const cached = closureHash.get(entry);
  if (cached) return cached;
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    try {
      stack.push(...scan(f).deps);
    } catch {
      // A specifier in a comment or string that names no file: nothing to hash.
      seen.delete(f);
    }
  }
  const h = createHash('sha256');
  for (const f of [...seen].sort()) h.update(`${f.slice(f.lastIndexOf('/dist/') + 1)}\0${scan(f).hash}\n`);
  const out = h.digest('hex').slice(0, 16);
  closureHash.set(entry, out);
  return out;
}

// ---- library versions --------------------------------------------------------------------------

const require = createRequire(import.meta.url);

function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

let sharpVersions: Record<string, string> | undefined;

/** Versions of the libraries that shape a stage's output, by name (absent ones as null). */
export async function libraryVersions(libs: readonly Library[], spec: ExperimentSpec): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const lib of libs) {
    if (lib === 'sharp') {
      if (!sharpVersions) {
        // sharp.versions names the libvips it actually loaded (a global libvips may differ from the bundled one).
        const sharp = (await import('sharp')).default as unknown as { versions: Record<string, string> };
        sharpVersions = { sharp: sharp.versions.sharp ?? packageVersion('sharp') ?? '?', vips: sharp.versions.vips ?? '?' };
      }
      Object.assign(out, sharpVersions);
    } else {
      out.tfjs = packageVersion('@tensorflow/tfjs') ?? null;
      // The backend decides the arithmetic: name it and the version of the package behind it.
      const b = spec.train.backend;
      out.backend = b;
      if (b === 'wasm' || b === 'auto') out['tfjs-backend-wasm'] = packageVersion('@tensorflow/tfjs-backend-wasm') ?? null;
      if (b === 'node' || b === 'auto') out['tfjs-node'] = packageVersion('@tensorflow/tfjs-node') ?? null;
      if (b === 'node-gpu' || b === 'auto') out['tfjs-node-gpu'] = packageVersion('@tensorflow/tfjs-node-gpu') ?? null;
      if (b === 'webgpu' || b === 'auto') {
        out['tfjs-backend-webgpu'] = packageVersion('@tensorflow/tfjs-backend-webgpu') ?? null;
        out.webgpu = packageVersion('webgpu') ?? null;
      }
    }
  }
  return out;
}

// ---- the key -----------------------------------------------------------------------------------

/** The parts of a key, kept (shortened) with every run so a changed key can be explained. */
export interface KeyParts {
  spec: string;
  code: string;
  libs: Record<string, string | null>;
  /** What the stage found in the world (file counts, content hashes), when it looks. */
  data: unknown;
  inputs: Array<[string, string]>;
}

export function stageKey(kind: string, parts: KeyParts): string {
  return shortHash({ kind, ...parts });
}

/** Short enough for a tag (MLflow allows 5000 characters): long identities are hashed. */
export function summariseParts(parts: KeyParts): string {
  const data = parts.data === null || parts.data === undefined ? null : JSON.stringify(parts.data).length > 600 ? { sha256: shortHash(parts.data) } : parts.data;
  return JSON.stringify({ spec: parts.spec, code: parts.code, libs: parts.libs, data });
}

// ---- input files by content --------------------------------------------------------------------

/**
 * A TF.js model on disk by content: model.json and every weight file its manifest names, hashed
 * (a size and mtime of model.json alone missed new weights under an unchanged model.json).
 */
export async function modelContent(path: string): Promise<string> {
  const { stat, readFile } = await import('node:fs/promises');
  const { dirname, join } = await import('node:path');
  const file = (await stat(path)).isDirectory() ? join(path, 'model.json') : path;
  const h = createHash('sha256');
  const json = await readFile(file);
  h.update(json);
  const manifest = (JSON.parse(json.toString('utf8')) as { weightsManifest?: Array<{ paths?: string[] }> }).weightsManifest ?? [];
  for (const p of manifest.flatMap((g) => g.paths ?? [])) {
    h.update(`\0${p}\0`);
    h.update(await readFile(join(dirname(file), p)));
  }
  return h.digest('hex').slice(0, 32);
}

/** A data file (targets JSON, …) by content. */
export async function fileContent(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 32);
}

/** The user files a training stage reads, by content: base model, targets file, loss networks. */
export async function trainingFiles(spec: ExperimentSpec): Promise<Record<string, string> | null> {
  const out: Record<string, string> = {};
  if (spec.model.base.path) out.base = await modelContent(spec.model.base.path);
  if (spec.dataset.targets?.kind === 'file') out.targets = await fileContent(spec.dataset.targets.path);
  for (const [i, t] of spec.loss.terms.entries()) if ('network' in t && t.network?.path) out[`loss.terms.${i}.network`] = await modelContent(t.network.path);
  return Object.keys(out).length ? out : null;
}

/** Parts of a stage run outside a plan (tests driving one stage by hand). */
export const NO_PARTS: KeyParts = { spec: '', code: '', libs: {}, data: null, inputs: [] };
