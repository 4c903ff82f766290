// Work folders of the stages that are not cached (train, evaluate): `<cache>/<kind>/<key>/w<N>`,
// each locked for the life of the run that took it. Two runs of one spec at once (a trial rerun
// by hand while its sweep runs, two queue workers) thus get two folders and never write one
// checkpoint folder or delete each other's files; a rerun after an interruption takes the folder
// the interrupted run left (its lock's holder is gone) and continues from its checkpoints.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isComplete } from './commit.js';
import { acquire, DEFAULT_LEASE_MS, deadHere, type LockOptions, LockTimeoutError, readHolder, type Release } from './lock.js';

export interface WorkFolder {
  dir: string;
  /** True when the folder holds an unfinished run's files (checkpoints to continue from). */
  resumed: boolean;
  release: Release;
}

const SLOT = /^w(\d+)$/;

function slots(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => SLOT.test(n))
    .sort((a, b) => Number(SLOT.exec(a)![1]) - Number(SLOT.exec(b)![1]));
}

const hasFiles = (dir: string) => existsSync(dir) && readdirSync(dir).length > 0;

/** Try a slot's lock: at once if its holder is on this machine, up to one lease if it is elsewhere. */
async function tryLock(dir: string, opts: Pick<LockOptions, 'signal' | 'leaseMs'>): Promise<Release | undefined> {
  const lock = `${dir}.lock`;
  const h = readHolder(lock);
  // A holder on another host can only be judged dead by watching its lease lapse.
  const foreign = h !== undefined && !deadHere(h) && h.host !== hostname();
  try {
    return await acquire(lock, { ...opts, pollMs: 100, timeoutMs: foreign ? (h.leaseMs ?? DEFAULT_LEASE_MS) * 1.5 : 0 });
  } catch (e) {
    if (e instanceof LockTimeoutError) return undefined;
    throw e;
  }
}

/**
 * Take a work folder under `root` for this run: the most recent one an interrupted run left
 * (continue it), else a free one (cleared: a finished run's files are its run's artifacts now), else
 * a new one. The folder stays locked until `release()`.
 */
export async function takeWorkFolder(root: string, opts: Pick<LockOptions, 'signal' | 'leaseMs'> = {}): Promise<WorkFolder> {
  mkdirSync(root, { recursive: true });
  const names = slots(root);
  const unfinished = names
    .map((n) => join(root, n))
    .filter((d) => !isComplete(d) && hasFiles(d))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const dir of unfinished) {
    const release = await tryLock(dir, opts);
    if (release) return { dir, resumed: true, release };
  }
  for (let i = 0; ; i++) {
    const dir = join(root, `w${i}`);
    if (unfinished.includes(dir)) continue;
    const release = await tryLock(dir, opts);
    if (!release) continue;
    // Between our listing and the lock, another run may have left it unfinished: continue it.
    if (!isComplete(dir) && hasFiles(dir)) return { dir, resumed: true, release };
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return { dir, resumed: false, release };
  }
}
