// A lock per cache key, so concurrent sweep trials wanting the same stage wait for the one
// computing it instead of computing it twice. The lock file holds pid and host; a lock whose
// holder is dead on this host is stale and taken over, so a crash (kill -9) never blocks forever.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

interface Holder {
  pid: number;
  host: string;
  since: number;
}

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

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, 'wx');
    writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), since: Date.now() } satisfies Holder));
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
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
    if (tryCreate(path)) return () => rmSync(path, { force: true });
    const h = readHolder(path);
    // An unreadable lock file is one being written right now: poll again.
    // Known race: two waiters that both see the same dead holder can both remove the file, and the
    // second removal may hit the first waiter's fresh lock. It needs a crash plus two waiters at
    // that instant; a rename-then-verify takeover would close it.
    if (h && h.host === hostname() && !pidAlive(h.pid)) {
      rmSync(path, { force: true });
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
