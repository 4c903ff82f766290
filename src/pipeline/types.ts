// The contract between the pipeline (plan + execute) and the stage implementations that the data,
// training and GAN modules provide. A stage never computes its own cache key: the planner does
// (src/pipeline/keys.ts), from the fields the stage declares it reads, its `identity`, the
// fingerprint of its built code, the versions of its libraries and the keys of its inputs.
import type { ExperimentSpec } from '../spec/schema.js';
import type { KeyParts } from './keys.js';
import type { StageKind } from './registry.js';

// The kinds are what the registrations provide (src/pipeline/registry.ts).
export type { StageKind };

/** One node of the compiled pipeline. */
export interface PlannedStage {
  kind: StageKind;
  /** Content key: hash of kind, spec slice, identity, code fingerprint, library versions and input keys. */
  key: string;
  /** The key's parts (shortened), recorded with the run so `sweep --dry-run` can say what changed. */
  parts: KeyParts;
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

/** A problem found from the spec alone, at a field (located in the file by the validator). */
export interface SpecProblem {
  path: (string | number)[];
  message: string;
  /** Point at the field's name rather than its value (a whole section that should not be there). */
  atKey?: boolean;
}

/** Libraries whose version shapes a stage's output (part of its key). */
export type Library = 'sharp' | 'tfjs';

/** Which spec fields a stage's output depends on. */
export interface KeyDeclaration {
  /** Dotted spec paths the stage reads: whole sections (`preprocess`) or single fields (`dataset.maxPixels`). */
  reads: string[];
  /** Fields inside `reads` that do not change the output, each with the reason (checked by a property test). */
  ignores?: Record<string, string>;
  /** Drops or rewrites fields that matter only in some configurations (e.g. centerFraction only for center). */
  refine?(slice: Record<string, unknown>, spec: ExperimentSpec): Record<string, unknown>;
}

export interface StageImpl extends KeyDeclaration {
  kind: StageKind;
  /** Upstream stages read through ctx.input(); those not enabled for a spec are dropped. */
  inputs: StageKind[];
  /** False for train/evaluate: they work in a folder of their run (checkpoints) and log to it. */
  cacheable: boolean;
  /** Libraries whose versions join the key (tfjs also brings the backend and our kernels' code). */
  libraries?: Library[];
  /**
   * Problems a run of this spec would hit in this stage, found from the spec alone: `ablate
   * validate`, `run` and `sweep` (and their --dry-run) report them, located at the field, before
   * anything runs. `written` is what the spec files and overrides set (before defaults), for
   * checks that depend on whether the user asked for something.
   */
  check?(spec: ExperimentSpec, written: Record<string, unknown>): SpecProblem[];
  /** Extra key material found by looking at the world (e.g. file list, sizes, mtimes). */
  identity?(spec: ExperimentSpec): Promise<unknown>;
  /** Whether this stage takes part for this spec (e.g. `features` only with a cut). */
  enabled?(spec: ExperimentSpec): boolean;
  run(ctx: StageContext): Promise<void>;
}
