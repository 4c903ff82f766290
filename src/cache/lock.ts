// A lock per cache key (and per sweep, per run work folder), so concurrent processes wanting the
// same thing wait for the one doing it instead of doing it twice. The lock file names its owner:
// host (hostname + kernel boot id), pid, the process's start time and a token. While the holder
// lives it renews a lease by touching the file; a waiter takes the lock over when
//   - the holder is on this machine and its pid is gone, or the pid now belongs to another
//     process (pids restart small in containers: pid alone would wait forever on a stranger), or
//   - the lease was not renewed for `leaseMs` as timed by the waiter's own clock (a holder on
//     another host sharing the folder, or one whose machine died: no clock comparison between
//     hosts is needed, only "has the file changed since I looked").
// Of several waiters that see the same dead holder exactly one takes over; a waiter can also give
// up after `timeoutMs`, with an error naming the holder, so nothing waits forever.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Holder {
  pid: number;
  host: string;
  /** Kernel boot id: the same hostname after a reboot (or on another machine) is not the same host. */
  boot?: string;
  /** The holder process's start time (clock ticks since boot, from /proc): tells a reused pid apart. */
  start?: number;
  /** When the lock was taken (ms since epoch, the holder's clock; for messages only). */
  since: number;
  /** Tells this holding apart from an earlier one of the same process. */
  token?: string;
  /** Lease length the holder renews within (ms). */
  leaseMs?: number;
}

/** An unreadable lock file older than this is debris (an older version's half write), not a lock. */
const UNREADABLE_STALE_MS = 10_000;
/** Default lease: generous, since a holder's event loop may be busy for seconds in a big tf op. */
export const DEFAULT_LEASE_MS = 60_000;

export class LockTimeoutError extends Error {
  constructor(
    readonly path: string,
    readonly holder: Holder | undefined,
    waitedMs: number,
  ) {
    super(`gave up after ${Math.round(waitedMs / 1000)} s waiting for the lock ${path}, held by ${describeHolder(holder)}`);
    this.name = 'LockTimeoutError';
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let bootCache: string | undefined | null = null;
/** This kernel's boot id (Linux), undefined elsewhere. */
export function bootId(): string | undefined {
  if (bootCache === null) {
    try {
      bootCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      bootCache = undefined;
    }
  }
  return bootCache;
}

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), if readable. */
export function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** "process 123 on host a (started 21:50:03)" for waiting and timeout messages. */
export function describeHolder(h: Holder | undefined): string {
  if (!h) return 'an unreadable lock file';
  const at = new Date(h.since).toISOString().slice(11, 19);
  return `process ${h.pid} on ${h.host === hostname() && (h.boot === undefined || h.boot === bootId()) ? 'this host' : `host ${h.host}`} (since ${at} UTC)`;
}

export function readHolder(path: string): Holder | undefined {
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

/** Whether a holder recorded on this machine is certainly gone (pid dead, or reused by another process). */
export function deadHere(h: Holder): boolean {
  if (h.host !== hostname()) return false;
  const boot = bootId();
  // Same hostname, another boot: rebooted (every process of then is gone) or another machine of
  // the same name; only the lease can tell, so judge nothing here.
  if (h.boot !== undefined && boot !== undefined && h.boot !== boot) return false;
  if (!pidAlive(h.pid)) return true;
  if (h.start === undefined) return false;
  const now = processStart(h.pid);
  return now !== undefined && now !== h.start;
}

/** What a waiter has seen of a lock file, to time its lease on the waiter's own clock. */
interface Observation {
  stamp: string;
  seenAt: number;
}

function stampOf(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch {
    return undefined;
  }
}

function isStale(path: string, h: Holder | undefined, seen: Map<string, Observation>, now: number): boolean {
  if (!h) {
    try {
      return Date.now() - statSync(path).mtimeMs > UNREADABLE_STALE_MS;
    } catch {
      return false;
    }
  }
  if (deadHere(h)) return true;
  const stamp = stampOf(path);
  if (stamp === undefined) return false;
  const last = seen.get(path);
  if (!last || last.stamp !== stamp) {
    seen.set(path, { stamp, seenAt: now });
    return false;
  }
  return now - last.seenAt > (h.leaseMs ?? DEFAULT_LEASE_MS);
}

export interface LockOptions {
  /** Called once when the lock is held by someone else and we start waiting. */
  onWait?: (holder: Holder | undefined) => void;
  pollMs?: number;
  signal?: AbortSignal;
  /** Lease this holder renews; waiters take the lock over when it lapses. */
  leaseMs?: number;
  /** Give up waiting after this long with a LockTimeoutError (default: wait while the holder lives). */
  timeoutMs?: number;
}

/** Releases the lock; `lost` aborts if another process took it over (the lease lapsed). */
export type Release = (() => void) & { lost: AbortSignal; holder: Holder };

/** Take the lock at `path`, waiting while a live process holds it. Returns the release function. */
export async function acquire(path: string, opts: LockOptions = {}): Promise<Release> {
  mkdirSync(dirname(path), { recursive: true });
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const started = Date.now();
  const seen = new Map<string, Observation>();
  let waited = false;
  for (;;) {
    const me: Holder = {
      pid: process.pid,
      host: hostname(),
      ...(bootId() !== undefined ? { boot: bootId()! } : {}),
      ...(processStart(process.pid) !== undefined ? { start: processStart(process.pid)! } : {}),
      since: Date.now(),
      token: randomBytes(6).toString('hex'),
      leaseMs,
    };
    if (tryCreate(path, me)) return holding(path, me, leaseMs);
    const h = readHolder(path);
    if (isStale(path, h, seen, Date.now())) {
      removeIf(path, h);
      seen.delete(path);
      continue;
    }
    if (!waited) {
      waited = true;
      opts.onWait?.(h);
    }
    opts.signal?.throwIfAborted();
    if (opts.timeoutMs !== undefined && Date.now() - started >= opts.timeoutMs) throw new LockTimeoutError(path, h, Date.now() - started);
    await sleep(opts.pollMs ?? 250);
  }
}

// The lease is renewed by touching the file (only while it is still ours), four times a lease, on
// an unref'd timer so a held lock never keeps a finished process alive.
function holding(path: string, me: Holder, leaseMs: number): Release {
  const lost = new AbortController();
  const timer = setInterval(
    () => {
      if (!sameHolding(readHolder(path), me)) {
        clearInterval(timer);
        lost.abort(new Error(`lock ${path} was taken over by ${describeHolder(readHolder(path))}`));
        return;
      }
      try {
        const t = new Date();
        utimesSync(path, t, t);
      } catch {
        // Gone between the read and the touch: the next tick reports it lost.
      }
    },
    Math.max(5, Math.floor(leaseMs / 4)),
  );
  timer.unref();
  const release = () => {
    clearInterval(timer);
    removeIf(path, me);
  };
  return Object.assign(release, { lost: lost.signal, holder: me });
}
