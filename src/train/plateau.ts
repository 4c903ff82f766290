// `train.schedule.kind: plateau` (Keras's ReduceLROnPlateau, fastai's ReduceLROnPlateau callback):
// the learning rate is multiplied by `gamma` once the watched validation metric has not improved
// for `patience` epochs. Unlike cosine or step schedules, it does not tie the rate to the epoch
// limit: with `train.stop` it trains every arm until it stops improving at a low rate, however
// long that takes, instead of stopping on the noise of a still-high rate (measured: the demo at
// train.epochs=30 with cosine stopped border after 9 epochs at 0.69, below its 10-epoch 0.76).
// The state lives in the checkpoint, so a resumed run continues with the same rate.
import type { ExperimentSpec } from '../spec/schema.js';

type Train = ExperimentSpec['train'];

export interface PlateauState {
  /** What the base rate is multiplied by now (1, gamma, gamma², …). */
  factor: number;
  best?: number;
  /** Epochs since the best one (or since the last reduction). */
  wait: number;
}

/** The metric the schedule watches: train.stop's when set, else val_loss. */
export function plateauMetric(train: Pick<Train, 'stop'>): { metric: string; mode: 'min' | 'max'; minDelta: number } {
  return train.stop ? { metric: train.stop.metric, mode: train.stop.mode, minDelta: train.stop.minDelta } : { metric: 'val_loss', mode: 'min', minDelta: 0 };
}

/**
 * After an epoch's validation: updates the state and returns the new factor when the rate was
 * lowered (undefined otherwise, or when the metric was not measured this epoch).
 */
export function plateauEpochEnd(state: PlateauState, metrics: Record<string, number>, train: Pick<Train, 'stop' | 'schedule'>): number | undefined {
  const { metric, mode, minDelta } = plateauMetric(train);
  const v = metrics[metric];
  if (v === undefined || !Number.isFinite(v)) return undefined;
  if (state.best === undefined || (mode === 'min' ? v < state.best - minDelta : v > state.best + minDelta)) {
    state.best = v;
    state.wait = 0;
    return undefined;
  }
  state.wait++;
  if (state.wait < train.schedule.patience) return undefined;
  state.wait = 0;
  state.factor *= train.schedule.gamma;
  return state.factor;
}
