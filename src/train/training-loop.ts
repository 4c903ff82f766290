// The one training loop of every task, over "rounds": an epoch of batches for the epoch tasks
// (classifier, head, pretraining, super-resolution: epoch-loop.ts), one generator step with its
// critic steps for the GAN (gan/train-stage.ts). It owns what every task needs the same way: the
// learning-rate schedule per step, the step count, Ctrl-C (a checkpoint between two steps, then
// TrainingAborted), checkpoints (between rounds when the task says so, and by the clock,
// `train.checkpointMinutes`), resuming inside a round, the stop rule (`train.stop`, the budget,
// `gan.stop`), recording metrics into the checkpointed history, and the data-parallel ranks'
// lifetime (started and closed around the rounds). The task supplies its steps and what a round
// ends with (its validation, its quality score).
import type * as tf from '@tensorflow/tfjs';
import { setNoiseStep } from '../models/layers.js';
import type { StageLogger } from '../pipeline/types.js';
import type { CheckpointState, Checkpointable } from './checkpoint.js';
import { EpochProgress, LoopCheckpoints, type PartialEpoch } from './epoch-progress.js';
import { learningRate, type TrainSpec } from './optim.js';
import type { StopRule } from './stop-rule.js';

export class TrainingAborted extends Error {
  /** `reason`: the abort signal's reason; its message is the error's (a plain Ctrl-C says how to resume). */
  constructor(reason?: unknown) {
    super(reason instanceof Error && reason.name !== 'AbortError' ? reason.message : 'training aborted; rerun to resume from the last checkpoint');
    this.name = 'TrainingAborted';
  }
}

/** Where a step is: its 0-based index among all steps, its round, its learning rate. */
export interface StepAt {
  step: number;
  round: number;
  lr: number;
  /** The round's running sums (resumed with it from a checkpoint inside the round). */
  sums: Float64Array;
}

export interface RoundTask<I> {
  /** Rounds in the run: epochs, or the GAN's generator steps. */
  rounds: number;
  /** Optimizer steps in the run (the schedule's horizon; the loop stops there). */
  totalSteps: number;
  /**
   * What finishing round r counts: 'epochs' sets state.epoch to r + 1; 'steps' leaves it at 0,
   * each round being one step, so state.step counts rounds (the GAN's checkpoint layout).
   */
  counts: 'epochs' | 'steps';
  /** Running sums a round keeps (loss, terms, counts). */
  sums: number;
  /** The schedule's epoch of a round. */
  epochOf(round: number): number;
  /** The plateau schedule's factor now (1 or unset: none). */
  lrFactor?(): number | undefined;
  /** At a round's start (resumed inside it: `ep` says where), e.g. its progress bar. */
  beginRound?(round: number, ep: EpochProgress): void;
  /** The round's step inputs, in a seeded order (resuming inside a round skips those done). */
  items(round: number): AsyncIterable<I> | Iterable<I>;
  /** Starts what the steps run on (the data-parallel ranks); after resuming, so they get the restored weights. */
  start?(): Promise<void>;
  close?(): Promise<void>;
  setLearningRate(lr: number): void;
  /** Before each step (before the Ctrl-C check): e.g. the previous step's progress line. */
  beforeStep?(): void;
  /** One step: the task's step function, its step metrics; returns the samples trained. */
  step(item: I, at: StepAt): Promise<number>;
  /** After a step is counted (`done`: steps so far, 1-based; `ep`: the round so far). */
  afterStep?(done: number, ep: EpochProgress): Promise<void>;
  /** The round's metrics (its validation, when due), recorded at `done` rounds and seen by the stop rule. */
  roundEnd(round: number, ep: EpochProgress, final: boolean): Promise<Record<string, number>>;
  /** The key a round metric is recorded under (default: itself). */
  recordAs?(key: string): string;
  /** After the stop rule: progress lines, grids, the plateau schedule. */
  afterRound?(done: number, final: boolean, metrics: Record<string, number>, ep: EpochProgress): Promise<void>;
  /** Whether to checkpoint after `done` rounds (`final`: the last round, or stopped). */
  checkpointDue(done: number, final: boolean): boolean;
  /** The checkpoint's `extra` (default: the round's progress when inside one). */
  extra?(partial: PartialEpoch | undefined): unknown;
  /** After a round and its checkpoint (tests watch and interrupt here). */
  onRoundEnd?(done: number, metrics: Record<string, number>): void;
}

export interface RoundLoopOptions<I> {
  task: RoundTask<I>;
  /** The restored (or fresh) state; the loop advances it. */
  state: CheckpointState;
  /** Checkpoint folder (undefined: no checkpoints) and what is saved into it. */
  dir: string | undefined;
  what: Checkpointable;
  /** Records a round metric into the checkpointed history and the tracker (resumeOrStart's). */
  record(key: string, value: number, step: number): void;
  spec: Pick<TrainSpec, 'lr' | 'schedule'> & Partial<Pick<TrainSpec, 'checkpointMinutes'>>;
  /** The stop rule (its state in `state`) and the model whose best weights it keeps. */
  rule?: StopRule | undefined;
  model: tf.LayersModel;
  signal?: AbortSignal | undefined;
  log?: Pick<StageLogger, 'info'> | undefined;
}

/** Runs the task's rounds from where `state` stands; returns the last round's metrics. */
export async function trainRounds<I>(o: RoundLoopOptions<I>): Promise<Record<string, number>> {
  const { task, state, rule } = o;
  const checkpoints = new LoopCheckpoints(o.dir, o.what, state, o.spec.checkpointMinutes, task.extra?.bind(task));
  const roundsDone = () => (task.counts === 'epochs' ? state.epoch : state.step);
  let last: Record<string, number> = {};
  try {
    if (state.step < task.totalSteps && roundsDone() < task.rounds) await task.start?.();
    for (let round = roundsDone(); round < task.rounds && state.step < task.totalSteps && !rule?.stopped; round++) {
      const ep = new EpochProgress(state, round, task.sums, o.log);
      task.beginRound?.(round, ep);
      let stepsThisRound = 0;
      for await (const item of task.items(round)) {
        if (ep.skipping()) continue;
        task.beforeStep?.();
        if (o.signal?.aborted) {
          await checkpoints.keep(ep);
          throw new TrainingAborted(o.signal.reason);
        }
        if (state.step >= task.totalSteps || rule?.stopped) break;
        // By the clock between two steps of a round; a one-step round is checked at its end.
        if (stepsThisRound > 0) await checkpoints.keepIfDue(ep);
        const t0 = performance.now();
        const lr = learningRate(o.spec.lr, o.spec.schedule, { step: state.step, epoch: task.epochOf(round), totalSteps: task.totalSteps, ...(task.lrFactor?.() !== undefined ? { factor: task.lrFactor()! } : {}) });
        task.setLearningRate(lr);
        setNoiseStep(state.step);
        const samples = await task.step(item, { step: state.step, round, lr, sums: ep.sums });
        ep.trained(samples);
        stepsThisRound++;
        state.step++;
        rule?.stepped(samples, (performance.now() - t0) / 1000, round);
        await task.afterStep?.(state.step, ep);
      }
      const done = round + 1;
      let final = done >= task.rounds || state.step >= task.totalSteps || (rule?.stopped ?? false);
      last = await task.roundEnd(round, ep, final);
      for (const [k, v] of Object.entries(last)) o.record(task.recordAs?.(k) ?? k, v, done);
      if (task.counts === 'epochs') state.epoch = done;
      if (rule && (await rule.epochEnd(done, last, o.model))) final = true;
      await task.afterRound?.(done, final, last, ep);
      await checkpoints.epochEnd(task.checkpointDue(done, final) || (task.counts === 'steps' && !final && checkpoints.clock.due()));
      task.onRoundEnd?.(done, last);
    }
  } finally {
    await task.close?.();
  }
  return last;
}
