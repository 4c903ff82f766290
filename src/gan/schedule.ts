// The critic (discriminator) schedule as data: how many critic updates precede each generator step.
// Kept pure so the whole sequence can be table-tested against the WGAN reference rule.
import type { ExperimentSpec } from '../spec/schema.js';

export type CriticSchedule = Pick<ExperimentSpec['gan']['critic'], 'steps' | 'warmup' | 'periodic'>;

/**
 * Critic steps before generator step `g` (0-based). Warm-up and periodic counts replace the base
 * count (so any integers work, including a warm-up lighter than the base); where both apply (step 0)
 * the larger wins, which is the reference rule's `or` when both are 100.
 */
export function criticSteps(g: number, s: CriticSchedule): number {
  const warm = s.warmup && g < s.warmup.generatorSteps ? s.warmup.steps : undefined;
  const periodic = s.periodic && g % s.periodic.every === 0 ? s.periodic.steps : undefined;
  if (warm !== undefined && periodic !== undefined) return Math.max(warm, periodic);
  return warm ?? periodic ?? s.steps;
}

/** The first `count` entries of the schedule, e.g. for docs or a dry run. */
export function criticSequence(count: number, s: CriticSchedule): number[] {
  return Array.from({ length: count }, (_, g) => criticSteps(g, s));
}

/** The WGAN paper's schedule (Diters = 100 when g < 25 or g % 500 == 0, else 5) as a `gan.critic`. */
export const WGAN_REFERENCE: CriticSchedule = {
  steps: 5,
  warmup: { steps: 100, generatorSteps: 25 },
  periodic: { steps: 100, every: 500 },
};
