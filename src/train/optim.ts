// Optimizers and learning-rate schedules from the spec's `train` section, for every task: the
// classifier, super-resolution and both GAN networks get their optimizers here, so every field
// means the same everywhere (rmsprop once meant decay 0.9 for classify and 0.99 for GANs). The
// schedule is applied by the training loop before every step (setLearningRate).
import * as tf from '@tensorflow/tfjs';
import type { ExperimentSpec } from '../spec/schema.js';

export type TrainSpec = ExperimentSpec['train'];
export type OptimizerSpec = Pick<TrainSpec, 'optimizer' | 'lr' | 'momentum'> & Partial<Pick<TrainSpec, 'beta1' | 'decay' | 'epsilon'>>;
export type ScheduleSpec = TrainSpec['schedule'];

/** The defaults of the optional optimizer fields (also in the field descriptions and docs/training.md). */
export const OPTIMIZER_DEFAULTS = {
  /** Adam β1 (the GAN default is GAN_BETA1). */
  beta1: 0.9,
  /** Adam β2 (fixed). */
  beta2: 0.999,
  /** RMSprop ρ: decay of the moving average of squared gradients (Keras's rho; PyTorch calls it alpha and defaults to 0.99). */
  decay: 0.9,
  /** Added to the denominator by adam and rmsprop (Keras's default; PyTorch's is 1e-8). */
  epsilon: 1e-7,
} as const;

/** Adam β1 for task gan when `train.beta1` is unset: the DCGAN paper's 0.5 (0.9 carries momentum across a moving target). */
export const GAN_BETA1 = 0.5;

/** β1 when `train.beta1` is unset: 0.5 for GANs, 0.9 otherwise. */
export function defaultBeta1(task: ExperimentSpec['task']): number {
  return task === 'gan' ? GAN_BETA1 : OPTIMIZER_DEFAULTS.beta1;
}

/**
 * sgd (with momentum when momentum > 0), adam (β1 = `beta1`, β2 0.999, `epsilon`), or rmsprop
 * (`decay`, `momentum`, `epsilon`). Unset fields take OPTIMIZER_DEFAULTS; a caller with a
 * task-specific β1 default passes it as `beta1`.
 */
export function makeOptimizer(o: OptimizerSpec): tf.Optimizer {
  const eps = o.epsilon ?? OPTIMIZER_DEFAULTS.epsilon;
  switch (o.optimizer) {
    case 'sgd':
      return o.momentum > 0 ? tf.train.momentum(o.lr, o.momentum) : tf.train.sgd(o.lr);
    case 'adam':
      return tf.train.adam(o.lr, o.beta1 ?? OPTIMIZER_DEFAULTS.beta1, OPTIMIZER_DEFAULTS.beta2, eps);
    case 'rmsprop':
      return tf.train.rmsprop(o.lr, o.decay ?? OPTIMIZER_DEFAULTS.decay, o.momentum, eps);
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
