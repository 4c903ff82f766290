// The contract between the pipeline (plan + execute) and the stage implementations that the data,
// training and GAN modules provide. A stage never computes its own cache key: the planner does,
// from the stage's `slice` of the spec, its `identity` and the keys of its inputs.
import type { ExperimentSpec } from '../spec/schema.js';

// `scorer` is the small MNIST classifier behind the GAN quality score (a cached stage like pretrain).
export const STAGE_KINDS = ['ingest', 'preprocess', 'pretrain', 'scorer', 'features', 'train', 'evaluate'] as const;
export type StageKind = (typeof STAGE_KINDS)[number];

/** One node of the compiled pipeline. */
export interface PlannedStage {
  kind: StageKind;
  /** Content key: hash of kind, slice, identity, input keys and the stage's code version. */
  key: string;
  /** Upstream stages whose committed output folders this stage reads. */
  inputs: StageKind[];
  /** Whether the output is kept in the shared cache (train/evaluate live in the run instead). */
  cacheable: boolean;
  /** Final folder of the output (`<cache.dir>/<kind>/<key>` for cacheable stages). */
  dir: string;
  /** The part of the spec the key was computed from, for --dry-run and the run's tags. */
  slice: unknown;
}

export interface StageLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** A progress sink for long loops; the CLI renders it as a bar on a TTY, plain lines otherwise. */
export interface Progress {
  start(total: number, unit: string): void;
  tick(n?: number, extra?: string): void;
  done(summary?: string): void;
}

/** Minimal view of the active tracked run that stages may log to (implemented in src/track). */
export interface StageRun {
  logMetric(key: string, value: number, step?: number): void;
  setTag(key: string, value: string): void;
  logArtifact(localPath: string, artifactPath?: string): Promise<void>;
  /** Folder where checkpoints and artifacts of this run may be written before upload. */
  readonly localDir: string;
}

export interface StageContext {
  spec: ExperimentSpec;
  stage: PlannedStage;
  /** Where to write: a temp folder renamed to stage.dir on success (cacheable stages). */
  out: string;
  /** Committed output folder of an upstream stage. */
  input(kind: StageKind): string;
  log: StageLogger;
  progress: Progress;
  run: StageRun | null;
  signal: AbortSignal;
}

export interface StageImpl {
  kind: StageKind;
  /** Bumped when the stage's code changes what it writes; part of the key. */
  version: number;
  /** Upstream stages read through ctx.input(); those not enabled for a spec are dropped. */
  inputs: StageKind[];
  /** False for train/evaluate: they work in a stable folder (checkpoints) and log to the run. */
  cacheable: boolean;
  /** The part of the resolved spec that determines this stage's output. */
  slice(spec: ExperimentSpec): unknown;
  /** Extra key material found by looking at the world (e.g. file list, sizes, mtimes). */
  identity?(spec: ExperimentSpec): Promise<unknown>;
  /** Whether this stage takes part for this spec (e.g. `features` only with a cut). */
  enabled?(spec: ExperimentSpec): boolean;
  run(ctx: StageContext): Promise<void>;
}
