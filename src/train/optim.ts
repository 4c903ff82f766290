// Optimizers and learning-rate schedules from the spec's `train` section. The schedule is applied
// by the training loop before every step (setLearningRate), so any loop — the classifier's, the
// GAN's, super-resolution's — can use the same two functions.
import * as tf from '@tensorflow/tfjs';
import type { ExperimentSpec } from '../spec/schema.js';

export type TrainSpec = ExperimentSpec['train'];
export type OptimizerSpec = Pick<TrainSpec, 'optimizer' | 'lr' | 'momentum'> & { beta1?: number | undefined };
export type ScheduleSpec = TrainSpec['schedule'];

/** sgd (with momentum when momentum > 0), adam (β1 = `beta1`, default 0.9), or rmsprop (decay 0.9, with momentum). */
export function makeOptimizer(o: OptimizerSpec): tf.Optimizer {
  switch (o.optimizer) {
    case 'sgd':
      return o.momentum > 0 ? tf.train.momentum(o.lr, o.momentum) : tf.train.sgd(o.lr);
    case 'adam':
      return tf.train.adam(o.lr, o.beta1 ?? 0.9);
    case 'rmsprop':
      return tf.train.rmsprop(o.lr, 0.9, o.momentum);
  }
}

export interface ScheduleAt {
  /** Optimizer steps taken so far (0-based index of the step about to run). */
  step: number;
  /** Epochs completed so far (0-based index of the current epoch). */
  epoch: number;
  /** Steps the whole run will take. */
  totalSteps: number;
  /** `plateau`: what the rate is multiplied by now (PlateauState.factor; 1 before any reduction). */
  factor?: number;
}

/**
 * The learning rate for one step: linear warm-up over `warmupSteps`, then `constant`, `step`
 * (× gamma every `every` epochs), `exponential` (× gamma per epoch), `cosine` (half a cosine from
 * lr to 0 over the steps after warm-up) or `plateau` (× the factor plateau.ts keeps).
 */
export function learningRate(lr: number, s: ScheduleSpec, at: ScheduleAt): number {
  if (at.step < s.warmupSteps) return (lr * (at.step + 1)) / s.warmupSteps;
  switch (s.kind) {
    case 'constant':
      return lr;
    case 'plateau':
      return lr * (at.factor ?? 1);
    case 'step':
      return lr * s.gamma ** Math.floor(at.epoch / s.every);
    case 'exponential':
      return lr * s.gamma ** at.epoch;
    case 'cosine': {
      const span = Math.max(1, at.totalSteps - s.warmupSteps);
      const t = Math.min(1, (at.step - s.warmupSteps) / span);
      return 0.5 * lr * (1 + Math.cos(Math.PI * t));
    }
  }
}

/** Changes an optimizer's rate in place (tfjs's SGD family caches it as a tensor, the others read the field). */
export function setLearningRate(opt: tf.Optimizer, lr: number): void {
  const o = opt as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.learningRate === lr) return;
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}
