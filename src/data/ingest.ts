// Ingest: turn `dataset` into an ordered, split, labelled list of sources (manifest.json), and
// for `shapes` generate the JPEGs, for `mnist` store the digits as a raw Zarr array. Decoding
// problems are found by the preprocess stage, which decodes anyway; ingest only drops empty files.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { ExperimentSpec } from '../spec/schema.js';
import { listFolder } from './folder.js';
import { loadMnist, MNIST_SIDE } from './mnist.js';
import type { ImagePool } from './pool/pool.js';
import { SHAPE_CLASSES, shapeParams } from './shapes.js';
import { splitItems } from './split.js';
import { writeArray } from './zarr.js';

export type Dataset = ExperimentSpec['dataset'];

export type IngestItem = { file: string; label: number; bytes?: number } | { row: number; label: number };

export interface BadFile {
  file: string;
  reason: string;
}

export interface IngestManifest {
  source: Dataset['source'];
  /** Folder that `file` items are relative to (null for mnist); relative paths are relative to
   * the ingest output itself, which is written under a temp name and renamed into the cache. */
  root: string | null;
  /** Raw array folder (relative to the ingest output) that `row` items index (mnist). */
  raw: string | null;
  classes: string[];
  splits: { train: IngestItem[]; val: IngestItem[] };
  bad: BadFile[];
  total: number;
  seconds: number;
}

/** The classes a generated or packaged source has (a folder's are known only by listing it). */
export function knownClasses(source: Dataset['source']): string[] | undefined {
  if (source === 'shapes') return SHAPE_CLASSES.map((c) => c.name);
  if (source === 'mnist') return Array.from({ length: 10 }, (_, i) => String(i));
  return undefined;
}

export function datasetRoot(d: Dataset, out: string): string {
  if (!d.path) return join(out, 'images');
  return isAbsolute(d.path) ? d.path : resolve(d.path);
}

export interface IngestOptions {
  dataset: Dataset;
  seed: number;
  /** Folder the manifest (and generated data without dataset.path) goes to. */
  out: string;
  pool?: ImagePool | undefined;
  /** Only the first n items of each split are needed (preview): skips generating the rest. */
  onlyFirst?: number | undefined;
  log?: { info(m: string): void; warn(m: string): void } | undefined;
  signal?: AbortSignal | undefined;
}

export async function ingest(o: IngestOptions): Promise<IngestManifest> {
  const t0 = performance.now();
  const d = o.dataset;
  await mkdir(o.out, { recursive: true });
  const split = { seed: o.seed, valFraction: d.valFraction, limit: d.limit };
  let m: IngestManifest;
  if (d.source === 'folder') {
    const root = datasetRoot(d, o.out);
    const listing = await listFolder(root, d.classes);
    const bad = listing.files.filter((f) => f.bytes === 0).map((f) => ({ file: f.file, reason: 'empty file (0 bytes)' }));
    const good = listing.files.filter((f) => f.bytes > 0);
    const s = splitItems(good, split);
    const strip = (f: (typeof good)[number]): IngestItem => ({ file: f.file, label: f.label, bytes: f.bytes });
    m = { source: 'folder', root, raw: null, classes: listing.classes, splits: { train: s.train.map(strip), val: s.val.map(strip) }, bad, total: listing.files.length, seconds: 0 };
  } else if (d.source === 'shapes') {
    const all = knownClasses('shapes')!;
    const classes = d.classes ?? all;
    const unknown = classes.filter((c) => !all.includes(c));
    if (unknown.length) throw new Error(`dataset.classes: shapes has no class ${unknown.join(', ')} (known: ${all.join(', ')})`);
    const root = datasetRoot(d, o.out);
    const items = Array.from({ length: d.count }, (_, index) => ({ index, label: index % classes.length }));
    const s = splitItems(items, split);
    const wanted = o.onlyFirst !== undefined ? [...s.train.slice(0, o.onlyFirst), ...s.val.slice(0, o.onlyFirst)] : [...s.train, ...s.val];
    const files = await generateShapes(root, o.seed, classes, wanted.map((i) => i.index).sort((a, b) => a - b), o.pool, o.signal);
    const item = (i: { index: number; label: number }): IngestItem => ({ file: files.get(i.index) ?? shapeFile(o.seed, i.index, classes), label: i.label });
    m = { source: 'shapes', root, raw: null, classes, splits: { train: s.train.map(item), val: s.val.map(item) }, bad: [], total: d.count, seconds: 0 };
  } else {
    const digits = await loadMnist();
    const all = knownClasses('mnist')!;
    const classes = d.classes ?? all;
    const unknown = classes.filter((c) => !all.includes(c));
    if (unknown.length) throw new Error(`dataset.classes: mnist classes are the digits 0–9, not ${unknown.join(', ')}`);
    const keep = classes.map((c) => Number(c));
    const items: { row: number; label: number }[] = [];
    for (let row = 0; row < digits.labels.length; row++) {
      const k = keep.indexOf(digits.labels[row]!);
      if (k >= 0) items.push({ row, label: k });
    }
    const s = splitItems(items, split);
    await writeArray(join(o.out, 'raw', 'images'), digits.images, [MNIST_SIDE, MNIST_SIDE, 1], 'uint8', 1024, ['n', 'y', 'x', 'c'], { mnist: digits.version });
    m = { source: 'mnist', root: null, raw: 'raw/images', classes, splits: { train: s.train, val: s.val }, bad: [], total: items.length, seconds: 0 };
  }
  m.seconds = (performance.now() - t0) / 1000;
  if (m.bad.length) o.log?.warn(`ingest: ${m.bad.length} empty file(s) skipped: ${m.bad.slice(0, 5).map((b) => b.file).join(', ')}${m.bad.length > 5 ? ', …' : ''}`);
  o.log?.info(`ingest: ${m.source}, ${m.classes.length} classes, ${m.splits.train.length} train + ${m.splits.val.length} val in ${m.seconds.toFixed(1)} s`);
  const stored = m.root?.startsWith(o.out + sep) ? { ...m, root: relative(o.out, m.root) } : m;
  await writeFile(join(o.out, 'manifest.json'), JSON.stringify(stored));
  return m;
}

export async function readIngest(dir: string): Promise<IngestManifest> {
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as IngestManifest;
  if (m.root && !isAbsolute(m.root)) m.root = join(dir, m.root);
  return m;
}

function shapeFile(seed: number, index: number, classes: string[]): string {
  return `${shapeParams(seed, index, classes).className}/${String(index).padStart(5, '0')}.jpg`;
}

/** Renders the given indices in the pool (or in-process without one); returns index → relative file. */
export async function generateShapes(dir: string, seed: number, classes: string[], indices: number[], pool?: ImagePool, signal?: AbortSignal): Promise<Map<number, string>> {
  const files = new Map<number, string>();
  const per = 20;
  const tasks: number[][] = [];
  for (let i = 0; i < indices.length; i += per) tasks.push(indices.slice(i, i + per));
  const quality = 90;
  if (pool) {
    const results = await Promise.all(tasks.map((t) => pool.shapes({ seed, classes, indices: t, dir, quality }, signal)));
    for (const r of results) for (const f of r.files) files.set(f.index, f.file);
  } else {
    const { default: run } = await import('./pool/worker.js');
    for (const t of tasks) {
      const r = (await run({ kind: 'shapes', seed, classes, indices: t, dir, quality })) as { files: { index: number; file: string }[] };
      for (const f of r.files) files.set(f.index, f.file);
    }
  }
  return files;
}
