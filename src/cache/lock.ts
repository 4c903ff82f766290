// A lock per cache key, so concurrent sweep trials wanting the same stage wait for the one
// computing it instead of computing it twice. The lock file holds pid, host and a token; a lock
// whose holder is dead on this host is stale and taken over by exactly one waiter, so a crash
// (kill -9) never blocks forever.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

interface Holder {
  pid: number;
  host: string;
  since: number;
  /** Tells this holding apart from an earlier one of the same pid. */
  token?: string;
}

/** An unreadable lock file older than this is debris (an older version's half write), not a lock. */
const UNREADABLE_STALE_MS = 10_000;

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

const sameHolding = (a: Holder | undefined, b: Holder | undefined) =>
  a !== undefined && b !== undefined && a.pid === b.pid && a.host === b.host && a.since === b.since && a.token === b.token;

// The lock file appears complete or not at all: written under a private name, then hard-linked
// into place (link fails if the name exists, like O_EXCL). A holder that dies mid-write thus
// never leaves an empty lock file that every waiter would take for one being written.
function tryCreate(path: string, me: Holder): boolean {
  const tmp = `${path}.${me.pid}.${me.token}.tmp`;
  writeFileSync(tmp, JSON.stringify(me));
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links: exclusive create, with the half-write window reopened.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') return createExclusive(path, me);
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function createExclusive(path: string, me: Holder): boolean {
  try {
    writeFileSync(path, JSON.stringify(me), { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

// Removes the lock file only if it still is the holding `seen`. Renaming it away first is atomic,
// so of two waiters that both saw the same dead holder only one gets its file; the other gets
// whatever is there now (perhaps the first one's fresh lock), sees it is not `seen`, and links it
// back. A third process creating a lock in that instant is the one case left open.
function removeIf(path: string, seen: Holder | undefined): void {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const got = readHolder(aside);
  if (seen === undefined ? got !== undefined : !sameHolding(got, seen)) {
    try {
      linkSync(aside, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  rmSync(aside, { force: true });
}

function isStale(path: string, h: Holder | undefined): boolean {
  if (h) return h.host === hostname() && !pidAlive(h.pid);
  try {
    return Date.now() - statSync(path).mtimeMs > UNREADABLE_STALE_MS;
  } catch {
    return false;
  }
}

export interface LockOptions {
  /** Called once when the lock is held by someone else and we start waiting. */
  onWait?: (holder: Holder | undefined) => void;
  pollMs?: number;
  signal?: AbortSignal;
}

/** Take the lock at `path`, waiting while a live process holds it. Returns the release function. */
export async function acquire(path: string, opts: LockOptions = {}): Promise<() => void> {
  mkdirSync(dirname(path), { recursive: true });
  let waited = false;
  for (;;) {
    const me: Holder = { pid: process.pid, host: hostname(), since: Date.now(), token: randomBytes(6).toString('hex') };
    if (tryCreate(path, me)) return () => removeIf(path, me);
    const h = readHolder(path);
    // A holder that died (kill -9, crash) on this host leaves its lock behind: take it over.
    if (isStale(path, h)) {
      removeIf(path, h);
      continue;
    }
    if (!waited) {
      waited = true;
      opts.onWait?.(h);
    }
    opts.signal?.throwIfAborted();
    await sleep(opts.pollMs ?? 250);
  }
}
