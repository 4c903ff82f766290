// The `folder` source: root/<class>/<files> or root/train/<class>/..., root/val/<class>/...
// Every non-hidden file is listed (a README.txt in a class folder shows up as a bad file with a
// reason rather than vanishing); order is by code point, so it does not depend on the file system.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

export interface FolderFile {
  /** Path relative to the dataset root, with '/' separators. */
  file: string;
  label: number;
  bytes: number;
  mtimeMs: number;
  split?: 'train' | 'val' | undefined;
}

export interface FolderListing {
  root: string;
  classes: string[];
  files: FolderFile[];
  presplit: boolean;
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function dirs(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byCodePoint);
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: string[] = [];
  for (const e of entries.sort((a, b) => byCodePoint(a.name, b.name))) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile() || e.isSymbolicLink()) out.push(p);
  }
  return out;
}

export async function listFolder(root: string, only?: string[]): Promise<FolderListing> {
  let top: string[];
  try {
    top = await dirs(root);
  } catch (err) {
    throw new Error(`dataset.path ${root}: ${(err as Error).message}`);
  }
  const presplit = top.includes('train') && top.includes('val');
  const bases = presplit ? (['train', 'val'] as const).map((s) => ({ split: s, dir: join(root, s) })) : [{ split: undefined, dir: root }];
  const names = new Set<string>();
  for (const b of bases) for (const c of await dirs(b.dir)) names.add(c);
  let classes = [...names].sort(byCodePoint);
  if (only) {
    const missing = only.filter((c) => !names.has(c));
    if (missing.length) throw new Error(`dataset.classes: no folder for ${missing.join(', ')} under ${root} (found: ${classes.join(', ') || 'none'})`);
    classes = classes.filter((c) => only.includes(c));
  }
  if (classes.length === 0) throw new Error(`dataset.path ${root}: no class folders (expected root/<class>/<images> or root/train/<class>, root/val/<class>)`);
  const files: FolderFile[] = [];
  for (const b of bases) {
    for (const [label, c] of classes.entries()) {
      let paths: string[];
      try {
        paths = await walk(join(b.dir, c));
      } catch {
        continue; // a class present only in the other split
      }
      for (const p of paths) {
        const s = await stat(p);
        files.push({ file: relative(root, p).split('\\').join('/'), label, bytes: s.size, mtimeMs: s.mtimeMs, split: b.split });
      }
    }
  }
  return { root, classes, files, presplit };
}

export interface ListingIdentity {
  files: number;
  bytes: number;
  /** Over every file's path, size and mtime. */
  sha256: string;
  /** Over every file's path and bytes (`dataset.verify: content`). */
  content?: string;
}

/**
 * Key material for the cache: every file's path, size and mtime, hashed (the list can be huge),
 * and with `content` every file's bytes too. The counts stay readable so a changed key can be
 * explained ("12 files added").
 */
export async function listingIdentity(l: FolderListing, verify: 'stat' | 'content' = 'stat'): Promise<ListingIdentity> {
  const h = createHash('sha256');
  let bytes = 0;
  for (const f of l.files) {
    h.update(`${f.file}\0${f.bytes}\0${f.mtimeMs}\n`);
    bytes += f.bytes;
  }
  const id: ListingIdentity = { files: l.files.length, bytes, sha256: h.digest('hex') };
  if (verify === 'content') {
    const c = createHash('sha256');
    for (const f of l.files) {
      c.update(`${f.file}\0`);
      c.update(await fileSha256(join(l.root, f.file)));
      c.update('\n');
    }
    id.content = c.digest('hex');
  }
  return id;
}

/** sha256 of a file's bytes, streamed (model weights and images can be large). */
export function fileSha256(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', rej)
      .on('end', () => res(h.digest('hex')));
  });
}
