// When an epoch loop stops before its epoch limit: early stopping on a validation metric
// (`train.stop`) and an equal-compute budget (`train.budget`). Shared by every epoch loop (the
// training core and super-resolution); its state lives in the checkpoint, so a run interrupted
// mid-patience resumes with the same best value, wait count, budget spent and best weights.
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel } from '../models/io.js';
import type { StageLogger, StageRun } from '../pipeline/types.js';
import type { CheckpointState } from './checkpoint.js';

export interface StopSpec {
  metric: string;
  mode: 'min' | 'max';
  patience: number;
  minDelta: number;
  maxEpochs?: number | undefined;
  restoreBest: boolean;
}

export interface BudgetSpec {
  seconds?: number | undefined;
  samples?: number | undefined;
}

/** What the checkpoint keeps of the rule (`state.rule`). */
export interface StopState {
  best?: number;
  bestEpoch?: number;
  /** Epochs since the best one. */
  wait: number;
  /** Training samples and seconds of optimizer steps so far (the budget's currency). */
  samples: number;
  seconds: number;
  stopped?: { epoch: number; reason: string };
}

/** How the run ended, for logs, run tags and compare. */
export interface StopSummary {
  /** Epochs trained. */
  epochs: number;
  reason: 'patience' | 'budget' | 'epochs';
  message: string;
  bestEpoch?: number;
  best?: number;
  restored: boolean;
}

type StateWithRule = CheckpointState & { rule?: StopState };

export class StopRule {
  readonly state: StopState;
  private memoryBest: tf.Tensor[] | undefined;

  constructor(
    private readonly stop: StopSpec | undefined,
    private readonly budget: BudgetSpec | undefined,
    checkpoint: CheckpointState,
    /** Work folder: best weights go to `<dir>/best` (kept in memory without one). */
    private readonly dir: string | undefined,
    private readonly log?: Pick<StageLogger, 'info'> | undefined,
    /** What the loop counts in messages: epochs here; generator steps and quality scores for the GAN. */
    private readonly unit: { at: string; wait: string } = { at: 'epoch', wait: 'epoch' },
  ) {
    const c = checkpoint as StateWithRule;
    c.rule ??= { wait: 0, samples: 0, seconds: 0 };
    this.state = c.rule;
  }

  /** The epoch limit: `train.stop.maxEpochs` when early stopping, else `train.epochs`. */
  static epochLimit(epochs: number, stop: StopSpec | undefined): number {
    return stop?.maxEpochs ?? epochs;
  }

  get stopped(): boolean {
    return this.state.stopped !== undefined;
  }

  /** After every optimizer step; true once the budget is spent (the loop ends the epoch there). */
  stepped(samples: number, seconds: number, epoch: number): boolean {
    this.state.samples += samples;
    this.state.seconds += seconds;
    const b = this.budget;
    if (!b || this.stopped) return this.stopped;
    if (b.samples !== undefined && this.state.samples >= b.samples) this.state.stopped = { epoch: epoch + 1, reason: `budget of ${b.samples} training samples spent` };
    else if (b.seconds !== undefined && this.state.seconds >= b.seconds) this.state.stopped = { epoch: epoch + 1, reason: `budget of ${b.seconds} s of training steps spent` };
    return this.stopped;
  }

  /** After an epoch's metrics (1-based epoch): keeps the best weights; true when training should stop. */
  async epochEnd(epoch: number, metrics: Record<string, number>, model: tf.LayersModel): Promise<boolean> {
    const s = this.stop;
    if (this.stopped) return true;
    if (!s) return false;
    const v = metrics[s.metric];
    if (v === undefined) return false; // not evaluated this epoch (evaluate.every > 1)
    const st = this.state;
    const improved = Number.isFinite(v) && (st.best === undefined || (s.mode === 'min' ? v < st.best - s.minDelta : v > st.best + s.minDelta));
    if (improved) {
      st.best = v;
      st.bestEpoch = epoch;
      st.wait = 0;
      if (s.restoreBest) await this.keepBest(model);
    } else {
      st.wait++;
      if (st.wait >= s.patience) {
        st.stopped = {
          epoch,
          reason: `${s.metric} did not improve by more than ${s.minDelta} for ${s.patience} ${this.unit.wait}${s.patience === 1 ? '' : 's'} (best ${st.best?.toFixed(4)} at ${this.unit.at} ${st.bestEpoch})`,
        };
      }
    }
    return this.stopped;
  }

  /** At the end of training: restores the best weights (`restoreBest`) and says how the run ended. */
  async finish(epochs: number, model: tf.LayersModel): Promise<StopSummary> {
    const st = this.state;
    const s = this.stop;
    let restored = false;
    if (s?.restoreBest && st.bestEpoch !== undefined && st.bestEpoch !== epochs) restored = await this.restoreBest(model);
    const reason: StopSummary['reason'] = st.stopped ? (st.stopped.reason.startsWith('budget') ? 'budget' : 'patience') : 'epochs';
    const head = st.stopped ? `stopped after ${this.unit.at} ${st.stopped.epoch}: ${st.stopped.reason}` : `ran all ${epochs} ${this.unit.at}s`;
    const tail = restored ? `; weights of ${this.unit.at} ${st.bestEpoch} restored` : '';
    const message = `${head}${tail}`;
    return { epochs, reason, message, restored, ...(st.bestEpoch !== undefined ? { bestEpoch: st.bestEpoch, best: st.best! } : {}) };
  }

  private async keepBest(model: tf.LayersModel): Promise<void> {
    if (this.dir) {
      const dst = join(this.dir, 'best');
      const tmp = `${dst}.partial`;
      await rm(tmp, { recursive: true, force: true });
      await saveModel(model, tmp);
      await rm(dst, { recursive: true, force: true });
      await rename(tmp, dst);
      return;
    }
    tf.dispose(this.memoryBest ?? []);
    this.memoryBest = model.getWeights().map((w) => tf.keep(w.clone()));
  }

  private async restoreBest(model: tf.LayersModel): Promise<boolean> {
    if (this.memoryBest) {
      model.setWeights(this.memoryBest);
      tf.dispose(this.memoryBest);
      this.memoryBest = undefined;
      return true;
    }
    if (!this.dir) return false;
    try {
      const saved = await loadModel(join(this.dir, 'best'));
      model.setWeights(saved.getWeights());
      saved.dispose();
      return true;
    } catch (e) {
      this.log?.info(`train.stop: the best weights could not be restored (${(e as Error).message}); keeping the last epoch's`);
      return false;
    }
  }
}

/**
 * Records how training ended on the run: tags `ablate.train.end` (the message) and
 * `ablate.train.stop_reason`, metrics `epochs_trained` and `best_epoch` (for the GAN, counted in
 * generator steps: `generator_steps_trained` and `best_step`).
 */
export function recordStop(run: Pick<StageRun, 'setTag' | 'logMetric'> | null | undefined, stop: StopSummary, names = { trained: 'epochs_trained', best: 'best_epoch' }): void {
  if (!run) return;
  run.setTag('ablate.train.end', stop.message);
  run.setTag('ablate.train.stop_reason', stop.reason);
  run.logMetric(names.trained, stop.epochs, stop.epochs);
  if (stop.bestEpoch !== undefined) run.logMetric(names.best, stop.bestEpoch, stop.epochs);
}
