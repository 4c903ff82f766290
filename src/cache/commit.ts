// Atomic cache entries (the DVC run-cache idea): a stage writes into a temp folder next to its
// final place and the folder is renamed when complete, so a crash never leaves half an entry.
// The marker file is written last inside the temp folder; a folder without it is corrupt.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';

export const MARKER = '.ablate-complete.json';

export interface EntryInfo {
  key: string;
  kind: string;
  createdAt: string;
  seconds: number;
}

export function isComplete(dir: string): boolean {
  return existsSync(join(dir, MARKER));
}

export function readEntry(dir: string): EntryInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as EntryInfo;
  } catch {
    return undefined;
  }
}

/** A fresh temp folder beside `finalDir` (same file system, so the rename is atomic). */
export function makeTemp(finalDir: string): string {
  mkdirSync(dirname(finalDir), { recursive: true });
  const tmp = `${finalDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(tmp, { recursive: true });
  return tmp;
}

/** Mark complete and move into place. If another process won the race, its entry is kept. */
export function commit(tmp: string, finalDir: string, info: EntryInfo): void {
  writeFileSync(join(tmp, MARKER), JSON.stringify(info, null, 2));
  if (existsSync(finalDir)) {
    if (isComplete(finalDir)) {
      rmSync(tmp, { recursive: true, force: true });
      return;
    }
    // A folder without a marker is a corrupt leftover: it counts as a miss and is replaced.
    rmSync(finalDir, { recursive: true, force: true });
  }
  renameSync(tmp, finalDir);
}

/** Remove a corrupt (unmarked) entry so it is recomputed. Returns whether one was removed. */
export function dropCorrupt(finalDir: string): boolean {
  if (existsSync(finalDir) && !isComplete(finalDir)) {
    rmSync(finalDir, { recursive: true, force: true });
    return true;
  }
  return false;
}
