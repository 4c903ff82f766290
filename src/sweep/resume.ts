// What to do with each trial when a sweep starts, given what the store already holds for its id.
// A trial is the runs with its resolved-spec hash; it counts as done only when one of them
// FINISHED with the very stage keys the trial computes now (src/pipeline/keys.ts): after files were
// added to a class folder, ablate's code or sharp/tfjs changed, the keys differ and the trial runs
// again, with the reason. A FAILED run runs again; an interrupted one (KILLED, or RUNNING with its
// writer dead) continues from its checkpoints when its keys still match.

export type TrialAction = 'run' | 'skip' | 'resume' | 'rerun' | 'wait';

export interface PriorRun {
  runId: string;
  hash: string | undefined;
  status: 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
  startTime: number;
  /** RUNNING and its process is alive (a trial of an earlier sweep process that was killed -9). */
  live: boolean;
  error?: string;
  metric?: number;
  /** Stage kind → key, as the run recorded them (`ablate.stage.<kind>` tags). */
  stages?: Record<string, string>;
  /** Stage kind → the key's parts, JSON (`ablate.key.<kind>` tags), to explain a change. */
  keyParts?: Record<string, string>;
}

/** What the trial would compute now. */
export interface TrialKeys {
  hash: string;
  /** Stage kind → key, in pipeline order. */
  stages: Record<string, string>;
  /** Stage kind → the key's parts (as summariseParts writes them). */
  keyParts?: Record<string, string>;
}

export interface TrialDecision {
  action: TrialAction;
  /** The run that decided it (the finished one for `skip`, the latest otherwise). */
  prior?: PriorRun;
  /** Why a trial that ran before runs again (`dataset changed: 12 files added`). */
  reason?: string;
}

export function sameKeys(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  if (!a) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

export function decide(trial: TrialKeys, prior: readonly PriorRun[]): TrialDecision {
  const mine = prior.filter((r) => r.hash === trial.hash).sort((a, b) => b.startTime - a.startTime);
  const live = mine.find((r) => r.live);
  // An interrupted run that recorded no keys (the sweep wrote it for a child that died before
  // reporting) may continue: its checkpoints, if any, sit in the folders of the current keys.
  const same = mine.filter((r) => sameKeys(r.stages, trial.stages) || (r.status !== 'FINISHED' && Object.keys(r.stages ?? {}).length === 0));
  const finished = same.find((r) => r.status === 'FINISHED');
  if (finished) return { action: 'skip', prior: finished };
  if (live) return { action: 'wait', prior: live };
  const latestSame = same[0];
  if (latestSame) return { action: latestSame.status === 'FAILED' && !isInterruption(latestSame.error) ? 'rerun' : 'resume', prior: latestSame };
  // Runs of this trial exist, but with other keys: what they computed no longer holds.
  const stale = mine.find((r) => r.status === 'FINISHED') ?? mine[0];
  if (!stale) return { action: 'run' };
  return { action: 'rerun', prior: stale, reason: explainChange(stale, trial) };
}

// A run closed FAILED by crash recovery was interrupted, not wrong: it continues like a KILLED one.
function isInterruption(error: string | undefined): boolean {
  return error !== undefined && /died without ending the run|stopped \(|killed by SIG/.test(error);
}

interface Parts {
  spec?: string;
  code?: string;
  libs?: Record<string, string | null>;
  data?: unknown;
}

function parse(json: string | undefined): Parts | undefined {
  if (!json) return undefined;
  try {
    return JSON.parse(json) as Parts;
  } catch {
    return undefined;
  }
}

/**
 * The first stage (in pipeline order) whose own key material changed, in words. Later stages
 * changed only because their inputs did, so naming the first says why the trial reruns.
 */
export function explainChange(before: PriorRun, now: TrialKeys): string {
  if (!before.stages || Object.keys(before.stages).length === 0) return 'its earlier run recorded no stage keys (an older ablate)';
  for (const [kind, key] of Object.entries(now.stages)) {
    const old = before.stages[kind];
    if (old === key) continue;
    if (old === undefined) return `the pipeline gained the ${kind} stage`;
    const a = parse(before.keyParts?.[kind]);
    const b = parse(now.keyParts?.[kind]);
    if (!a || !b) return `${kind} key changed`;
    const why: string[] = [];
    if (JSON.stringify(a.data) !== JSON.stringify(b.data)) why.push(describeData(kind, a.data, b.data));
    if (a.code !== b.code) why.push(`ablate's ${kind} code changed`);
    const libs = describeLibs(a.libs ?? {}, b.libs ?? {});
    if (libs) why.push(libs);
    if (a.spec !== b.spec) why.push(`${kind} settings changed`);
    if (why.length) return why.join('; ');
    // Only the inputs changed: an earlier stage explains it (it was listed first) unless the
    // earlier run had a stage this one no longer has.
  }
  const gone = Object.keys(before.stages).filter((k) => !(k in now.stages));
  return gone.length ? `the pipeline lost the ${gone.join(', ')} stage` : 'stage keys changed';
}

function describeData(kind: string, a: unknown, b: unknown): string {
  const x = (a ?? {}) as { files?: number; bytes?: number; content?: string };
  const y = (b ?? {}) as { files?: number; bytes?: number; content?: string };
  if (kind === 'ingest' && typeof x.files === 'number' && typeof y.files === 'number') {
    const d = y.files - x.files;
    const n = (k: number) => `${k} file${k === 1 ? '' : 's'}`;
    if (d > 0) return `dataset changed: ${n(d)} added`;
    if (d < 0) return `dataset changed: ${n(-d)} removed`;
    if (x.content !== undefined && y.content !== undefined && x.content !== y.content) return 'dataset changed: file contents differ';
    return 'dataset changed: files replaced or modified (same count)';
  }
  const changed = Object.keys({ ...(a as object), ...(b as object) }).filter(
    (k) => JSON.stringify((a as Record<string, unknown> | null)?.[k]) !== JSON.stringify((b as Record<string, unknown> | null)?.[k]),
  );
  return `${kind} input files changed${changed.length ? ` (${changed.join(', ')})` : ''}`;
}

function describeLibs(a: Record<string, string | null>, b: Record<string, string | null>): string {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]);
  return names.map((k) => `${k} ${a[k] ?? 'none'} → ${b[k] ?? 'none'}`).join(', ');
}
