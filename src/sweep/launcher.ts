// Where a sweep's trials run, apart from what a sweep is (axes, identity, resume decisions,
// records, aggregation: src/sweep/run.ts). A launcher is handed the trials to run and reports back
// per trial: started, its run events, how it ended. `local` runs child processes here (the process
// pool), `queue` puts jobs on a BullMQ queue for `ablate worker` (src/sweep/queue.ts); a third kind
// (Kubernetes Indexed Jobs) would be one more implementation of this interface.
import type { RunEvent } from '../pipeline/events.js';
import type { BuiltTrial } from './build.js';
import { type PoolOptions, ProcessPool, type TrialCommand, type TrialOutcome } from './pool.js';

/** The queue name `ablate sweep --queue` and `ablate worker` use unless told otherwise. */
export const DEFAULT_QUEUE = 'ablate';

/** What a trial's child needs besides its spec: the sweep's ids, tags, run name, log file. */
export interface LaunchContext {
  sweep: import('./build.js').BuiltSweep;
  parentRunId: string;
  /**
   * The parent's id on the MLflow server, once uploaded: a worker whose mirror has no copy of the
   * parent names it so on the server (the trial's `mlflow.parentRunId`).
   */
  parentRemoteId?: string;
  tags: Record<string, string>;
  runName: string;
  logFile: string;
  /** The local store (or mirror) the sweep reads and records into. */
  storeRoot: string;
  /**
   * The cores each trial may use (its data-parallel workers): this machine's share per concurrent
   * trial. Local only: a queue worker gives its children its own machine's share.
   */
  cores: number;
}

export interface LaunchItem {
  trial: BuiltTrial;
  ctx: LaunchContext;
}

export interface LaunchHooks {
  onStart(index: number): void;
  onEvent(index: number, event: RunEvent): void;
  /** `outcome.reported` false: nobody ended the trial's run; the sweep records it. */
  onEnd(index: number, outcome: TrialOutcome): void | Promise<void>;
  /** A trial went back to waiting (a retry, a worker that died or handed it back). */
  onRequeue?(index: number, note: string): void;
}

export interface Launcher {
  readonly kind: string;
  /** Shown in the sweep's first line: where and how many at a time. */
  readonly where: string;
  /** Trials at once, for the progress board's ETA. */
  readonly slots: number;
  /**
   * Whether trials found RUNNING in the store from an earlier sweep process are waited for before
   * launching (local: they are orphans of this machine) or simply followed again (queue: the job
   * id is the trial, so launching it again finds the same job).
   */
  readonly waitsForOrphans: boolean;
  readonly isStopping: boolean;
  /** `detach`: hand the trials over and return without following them (where the launcher can). */
  run(items: readonly LaunchItem[], hooks: LaunchHooks, detach?: boolean): Promise<void>;
  /** First call: stop cleanly; second: at once. */
  stop(): void;
  /** What Ctrl-C prints. */
  stopMessage(signal: NodeJS.Signals): string;
}

/** Today's behaviour: `jobs` child processes at a time on this machine. */
export class LocalLauncher implements Launcher {
  readonly kind = 'local';
  readonly waitsForOrphans = true;
  readonly pool: ProcessPool;
  private hooks: LaunchHooks | undefined;

  constructor(
    private readonly opts: Omit<PoolOptions, 'onStart' | 'onEvent' | 'onEnd'>,
    private readonly command: (item: LaunchItem) => TrialCommand,
  ) {
    this.pool = new ProcessPool({
      ...opts,
      onStart: (task) => this.hooks?.onStart(task.id),
      onEvent: (task, e) => this.hooks?.onEvent(task.id, e),
      onEnd: (task, outcome) => this.hooks?.onEnd(task.id, outcome),
    });
  }

  get where(): string {
    return `${this.slots} at a time`;
  }

  get slots(): number {
    return this.opts.jobs;
  }

  get isStopping(): boolean {
    return this.pool.isStopping;
  }

  async run(items: readonly LaunchItem[], hooks: LaunchHooks): Promise<void> {
    this.hooks = hooks;
    await this.pool.run(items.map((it) => ({ id: it.trial.index, command: this.command(it) })));
  }

  stop(): void {
    this.pool.stop();
  }

  stopMessage(sig: NodeJS.Signals): string {
    return this.pool.isStopping
      ? `\n${sig} again: killing the running trials now\n`
      : `\n${sig}: stopping; running trials end their runs as KILLED (again to kill now). Rerun the same command to continue.\n`;
  }
}
