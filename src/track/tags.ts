// Tag names shared by the writer (executor, sweeps) and the readers (`ls`, `compare`, resume), and
// the MLflow system tags that make a run look like any other in the MLflow UI.
import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { safeKey } from './keys.js';

export const TAG = {
  runName: 'mlflow.runName',
  user: 'mlflow.user',
  sourceName: 'mlflow.source.name',
  sourceType: 'mlflow.source.type',
  gitCommit: 'mlflow.source.git.commit',
  parentRunId: 'mlflow.parentRunId',
  specHash: 'ablate.spec_hash',
  backend: 'ablate.backend',
  /** Data-parallel training workers the run trained with (train.workers, resolved). */
  workers: 'ablate.train.workers',
  /** The GPU adapter the webgpu backend ran on, e.g. `NVIDIA H200, Vulkan`. */
  backendDevice: 'ablate.backend.device',
  version: 'ablate.version',
  sweepId: 'ablate.sweep_id',
  /** Prefix: `ablate.axis.<dotted field>` = the sweep trial's value on that axis. */
  sweepAxis: 'ablate.axis.',
  /** Prefix: `ablate.stage.<kind>` = that stage's cache key. */
  stage: 'ablate.stage.',
  /** Prefix: `ablate.key.<kind>` = what that key was made of (spec/code hashes, libraries, data), as JSON. */
  keyParts: 'ablate.key.',
  error: 'ablate.error',
  /**
   * The process writing a run tracked to a server, as JSON {pid, host, procStart}: what the local
   * store keeps in process.json, so a reader on another machine (a queue worker sharing only the
   * server) can tell a live run from one whose process died.
   */
  process: 'ablate.process',
} as const;

export interface AblateTagInput {
  specHash?: string;
  /** Stage kind → cache key. */
  stages?: Record<string, string>;
  /** Stage kind → its key's parts, summarised (JSON). */
  keyParts?: Record<string, string>;
  backend?: string;
  version?: string;
  sweep?: { id: string; axes: Record<string, unknown> };
}

/** The ablate tags of a run, named as `ablate compare` and sweep resume expect them. */
export function ablateTags(input: AblateTagInput): Record<string, string> {
  const tags: Record<string, string> = {};
  if (input.specHash) tags[TAG.specHash] = input.specHash;
  if (input.backend) tags[TAG.backend] = input.backend;
  if (input.version) tags[TAG.version] = input.version;
  for (const [kind, key] of Object.entries(input.stages ?? {})) tags[safeKey(TAG.stage + kind)] = key;
  for (const [kind, parts] of Object.entries(input.keyParts ?? {})) tags[safeKey(TAG.keyParts + kind)] = parts;
  if (input.sweep) {
    tags[TAG.sweepId] = input.sweep.id;
    for (const [axis, value] of Object.entries(input.sweep.axes)) {
      tags[safeKey(TAG.sweepAxis + axis)] = typeof value === 'string' ? value : JSON.stringify(value);
    }
  }
  return tags;
}

export function currentUser(env: NodeJS.ProcessEnv = process.env): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.USERNAME ?? 'unknown';
  }
}

export function gitCommit(cwd: string): string | undefined {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim();
    return /^[0-9a-f]{40,64}$/.test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

export function systemTags(opts: { runName: string; cwd: string; source?: string; parentRunId?: string; env?: NodeJS.ProcessEnv }): Record<string, string> {
  const tags: Record<string, string> = {
    [TAG.runName]: opts.runName,
    [TAG.user]: currentUser(opts.env),
    [TAG.sourceName]: opts.source ?? process.argv[1] ?? 'ablate',
    [TAG.sourceType]: 'LOCAL',
  };
  const commit = gitCommit(opts.cwd);
  if (commit) tags[TAG.gitCommit] = commit;
  if (opts.parentRunId) tags[TAG.parentRunId] = opts.parentRunId;
  return tags;
}
