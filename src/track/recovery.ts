// A run whose process was killed -9 (or lost power) stays RUNNING in the store forever unless
// someone notices. Every tracker start looks for RUNNING runs written by a dead process on this
// host and closes them as FAILED, so `ls`, `compare` and sweep resume see the truth.
import { closeSync, ftruncateSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FileStore, isAlive, type ProcessInfo, RunFolder } from './file-store.js';
import { LIMITS } from './keys.js';
import { files } from './reader.js';
import { TAG } from './tags.js';
import { RUN_STATUS } from './types.js';

export interface RecoveredRun {
  runId: string;
  experimentId: string;
  dir: string;
  pid: number;
}

export function recoverDeadRuns(root: string, host = hostname(), alive: (p: ProcessInfo) => boolean = isAlive): RecoveredRun[] {
  const store = new FileStore(root);
  const out: RecoveredRun[] = [];
  for (const exp of store.experimentIds()) {
    for (const dir of store.runDirs(exp)) {
      const seen = RunFolder.open(dir);
      if (!seen || seen.meta.status !== RUN_STATUS.RUNNING) continue;
      const proc = seen.processInfo();
      if (!proc || proc.host !== host || alive(proc)) continue;
      // Read again now that the writer is known dead: it may have ended its run and exited between
      // the first read and the liveness check, and a dead process writes nothing more, so this
      // status is final (a FINISHED run was once closed as FAILED here by another job's start).
      const run = RunFolder.open(dir);
      if (!run || run.meta.status !== RUN_STATUS.RUNNING) continue;
      closeDeadRun(run, `process ${proc.pid} on ${proc.host} died without ending the run`);
      out.push({ runId: run.meta.run_id, experimentId: exp, dir, pid: proc.pid });
    }
  }
  return out;
}

/** Marks a dead run FAILED, with its end at the last sign of life and its torn metric lines cut. */
export function closeDeadRun(run: RunFolder, reason: string): void {
  let last = run.meta.start_time;
  for (const [, path] of files(join(run.dir, 'metrics'))) {
    // An empty metric file (killed between open and write) makes MLflow fail the whole run.
    if (repairTail(path) === 0) {
      safeUnlink(path);
      continue;
    }
    last = Math.max(last, Math.floor(statSync(path).mtimeMs));
  }
  for (const sub of ['params', 'tags', 'artifacts']) {
    for (const [, path] of files(join(run.dir, sub))) last = Math.max(last, Math.floor(statSync(path).mtimeMs));
  }
  // A temp file of an interrupted atomic write is garbage, never a half value.
  for (const name of readdirSync(run.dir)) if (name.startsWith('.ablate-tmp-')) safeUnlink(join(run.dir, name));
  run.setTag(TAG.error, reason.slice(0, LIMITS.tagValue));
  run.meta = { ...run.meta, status: RUN_STATUS.FAILED, end_time: last };
  run.writeMeta();
}

/**
 * Cuts a metric file after its last newline (a write cut short on a filesystem without page-atomic
 * writes) and returns the length kept.
 */
export function repairTail(path: string): number {
  const text = readFileSync(path);
  const end = text.lastIndexOf(0x0a) + 1;
  if (end === text.length) return end;
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, end);
  } finally {
    closeSync(fd);
  }
  return end;
}

function safeUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
