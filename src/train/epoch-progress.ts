// Where the training loop is inside a round (an epoch), so that a stop keeps it. The loop
// checkpoints at round ends; on Ctrl-C between two batches, and every
// `train.checkpointMinutes` against a hard kill, they also save the epoch's progress (batches
// done, running sums), and the rerun skips those batches (the loader's order is a function of seed
// and epoch) and carries on with the sums: the epoch's metrics and the weights come out as if the
// run had never stopped.
import type { StageLogger } from '../pipeline/types.js';
import { type Checkpointable, type CheckpointState, saveCheckpoint } from './checkpoint.js';

/** A Ctrl-C checkpoint's `extra.partial`. */
export interface PartialEpoch {
  epoch: number;
  /** Batches of this epoch already trained. */
  batches: number;
  /** The epoch's running sums (loss, terms, hits: whatever the loop keeps) and sample count. */
  sums: number[];
  seen: number;
  seconds: number;
}

export class EpochProgress {
  readonly sums: Float64Array;
  seen: number;
  private done: number;
  private skip: number;
  private readonly t0: number;

  /** Starts `epoch`: fresh, or where a Ctrl-C checkpoint inside it stopped (consumes `state.extra`). */
  constructor(
    state: CheckpointState,
    private readonly epoch: number,
    nSums: number,
    log?: Pick<StageLogger, 'info'>,
  ) {
    const partial = (state.extra as { partial?: PartialEpoch } | undefined)?.partial;
    const p = partial?.epoch === epoch ? partial : undefined;
    state.extra = undefined;
    if (p?.batches) log?.info(`continuing epoch ${epoch + 1} after ${p.batches} batches`);
    this.sums = p ? Float64Array.from(p.sums) : new Float64Array(nSums);
    this.seen = p?.seen ?? 0;
    this.done = this.skip = p?.batches ?? 0;
    this.t0 = performance.now() - (p?.seconds ?? 0) * 1000;
  }

  /** True for each batch the checkpoint already covers: the loop drops it. */
  skipping(): boolean {
    if (this.skip === 0) return false;
    this.skip--;
    return true;
  }

  /** After a trained batch of `n` samples (the caller adds to `sums`). */
  trained(n: number): void {
    this.seen += n;
    this.done++;
  }

  seconds(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Whether a step of this round was trained (this session or before the checkpoint it resumed): a save now is mid-round. */
  inside(): boolean {
    return this.done > 0;
  }

  /** Where the epoch stands, for a checkpoint taken between two batches. */
  partial(): PartialEpoch {
    return { epoch: this.epoch, batches: this.done, sums: [...this.sums], seen: this.seen, seconds: this.seconds() };
  }
}

/**
 * Every checkpoint the training loop writes: at round ends (`train.checkpointEvery` epochs, GAN grids), between steps
 * on Ctrl-C, and between batches once `train.checkpointMinutes` have passed since the last save.
 * No work folder: saves nothing.
 */
export class LoopCheckpoints {
  private readonly stepAtStart: number;
  readonly clock: SaveClock;

  constructor(
    private readonly dir: string | undefined,
    private readonly what: Checkpointable,
    private readonly state: CheckpointState,
    minutes: number | undefined,
    /**
     * The checkpoint's `extra`: by default the epoch's progress when saved inside one; a task with
     * more to carry (the GAN's noise and real-image positions) supplies its own.
     */
    private readonly extra: (partial: PartialEpoch | undefined) => unknown = (partial) => (partial ? { partial } : undefined),
  ) {
    this.stepAtStart = state.step;
    this.clock = new SaveClock(minutes);
  }

  /** Between rounds (an epoch's end, a GAN generator step's), when `due`. */
  async epochEnd(due: boolean): Promise<void> {
    if (!this.dir || !due) return;
    await saveCheckpoint(this.dir, this.what, { ...this.state, extra: this.extra(undefined) });
    this.clock.saved();
  }

  /** Between steps, where the state is whole (unless nothing was trained since the rerun began). */
  async keep(ep: EpochProgress): Promise<void> {
    if (!this.dir || this.state.step <= this.stepAtStart) return;
    await saveCheckpoint(this.dir, this.what, { ...this.state, extra: this.extra(ep.inside() ? ep.partial() : undefined) });
    this.clock.saved();
  }

  async keepIfDue(ep: EpochProgress): Promise<void> {
    if (this.clock.due()) await this.keep(ep);
  }
}

/** When a periodic checkpoint inside an epoch is due (`train.checkpointMinutes`; 0 or unset: never). */
export class SaveClock {
  private last = performance.now();
  constructor(private readonly minutes: number | undefined) {}

  due(): boolean {
    return !!this.minutes && performance.now() - this.last >= this.minutes * 60_000;
  }

  /** After any checkpoint save. */
  saved(): void {
    this.last = performance.now();
  }
}
