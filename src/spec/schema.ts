// The experiment and sweep schemas composed from the sections. `ExperimentInput` is what users
// write (z.input), `ExperimentSpec` the resolved spec that runs and is hashed (z.output).
import { z } from 'zod';
import { qualityApplies } from '../gan/quality-applies.js';
import {
  cacheSchema,
  datasetSchema,
  evaluateSchema,
  ganSchema,
  lossSchema,
  modelSchema,
  preprocessSchema,
  trackSchema,
  trainSchema,
} from './sections.js';

export const TASKS = ['classify', 'gan', 'super-resolution'] as const;

const extendsField = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .describe('Base spec(s) this one overrides, relative to this file; later ones win, this file wins over all.');

export const experimentSchema = z
  .strictObject({
    extends: extendsField,
    name: z.string().default('experiment').describe('Short name; the default MLflow experiment and run name.'),
    description: z.string().optional().describe('Free text, stored with the run.'),
    seed: z.number().int().min(0).default(0).describe('Seed for initialisation and shuffling: same spec + seed + backend gives the same numbers (the data has its own `dataset.seed`).'),
    task: z
      .enum(TASKS)
      .default('classify')
      .describe('`classify` (labels or embedding targets), `gan` (see `gan`), `super-resolution` (see `model.superres`, `preprocess.downscale`).'),
    dataset: datasetSchema.prefault({}),
    preprocess: preprocessSchema.prefault({}),
    model: modelSchema.prefault({}),
    loss: lossSchema.prefault({}),
    train: trainSchema.prefault({}),
    gan: ganSchema.prefault({}),
    evaluate: evaluateSchema.prefault({}),
    track: trackSchema.prefault({}),
    cache: cacheSchema.prefault({}),
  })
  .superRefine((spec, ctx) => {
    if (spec.task === 'super-resolution' && spec.preprocess.downscale === undefined) {
      ctx.addIssue({ code: 'custom', path: ['preprocess', 'downscale'], message: 'is required for task super-resolution (2 or 4)' });
    }
    if (spec.task === 'gan' && spec.gan.stop && !qualityApplies(spec)) {
      ctx.addIssue({
        code: 'custom',
        path: ['gan', 'stop'],
        message: 'needs the quality score, which is defined on 28×28×1 digits: preprocess.size 28, channels 1, normalize unit or symmetric, and evaluate.quality true',
      });
    }
    if (spec.train.schedule.kind === 'plateau') {
      if (spec.task === 'gan') ctx.addIssue({ code: 'custom', path: ['train', 'schedule', 'kind'], message: 'plateau watches a per-epoch validation metric, which a GAN has not: use constant, step, cosine or exponential' });
      // The stop must outwait the schedule, or training ends before the rate is ever lowered.
      else if (spec.train.stop && spec.train.stop.patience <= spec.train.schedule.patience) {
        ctx.addIssue({ code: 'custom', path: ['train', 'stop', 'patience'], message: `is ${spec.train.stop.patience}, not more than train.schedule.patience ${spec.train.schedule.patience}: training would stop before the plateau schedule ever lowers the rate` });
      }
    }
    // train.stop watches a per-epoch metric; a GAN has generator steps and its quality score.
    if (spec.task === 'gan' && spec.train.stop) ctx.addIssue({ code: 'custom', path: ['train', 'stop'], message: 'is per-epoch (classify, super-resolution); a GAN stops on its quality score: use gan.stop' });
  })
  .describe('An ablate experiment: one run of the pipeline.');

export type ExperimentInput = z.input<typeof experimentSchema>;
export type ExperimentSpec = z.output<typeof experimentSchema>;

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const value = z.unknown().describe('Any value the field accepts.');

export const distributionSchema = z.union([
  z.strictObject({ choice: z.array(value).min(1).describe('Pick uniformly from these values.') }),
  z.strictObject({ uniform: z.tuple([z.number(), z.number()]).describe('[low, high], uniform.') }),
  z.strictObject({ logUniform: z.tuple([z.number().positive(), z.number().positive()]).describe('[low, high], uniform in log space (learning rates).') }),
  z.strictObject({ int: z.tuple([z.number().int(), z.number().int()]).describe('[low, high], integers, both included.') }),
]);

// A discriminated union so that a third kind (Kubernetes Indexed Jobs) is one more member.
export const launcherSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('local').describe('Child processes on this machine, `jobs` at a time.') }),
  z.strictObject({
    kind: z.literal('queue').describe('Jobs on a BullMQ queue in Redis, run by `ablate worker` on any machine.'),
    redis: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').describe('Redis URL, e.g. redis://host:6379/0.'),
    queue: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').default('ablate').describe('Queue name (workers take jobs from the same name).'),
    retries: z.number().int().min(0).default(1).describe('Times a failed trial is run again before it is recorded FAILED.'),
  }),
]);

export const sweepSchema = z
  .strictObject({
    name: z.string().optional().describe('Sweep name (default: the file name).'),
    base: z.string().describe('The experiment spec every trial starts from, relative to this file.'),
    overrides: z.record(z.string(), value).default({}).describe('Field overrides (dotted paths) applied to every trial.'),
    grid: z.record(z.string(), z.array(value).min(1)).default({}).describe('Cartesian axes: dotted field path → list of values.'),
    random: z
      .strictObject({
        n: z.number().int().positive().describe('Number of random draws.'),
        seed: z.number().int().min(0).default(0).describe('Seed of the draws.'),
        params: z.record(z.string(), distributionSchema).describe('Dotted field path → distribution.'),
      })
      .optional()
      .describe('Random search, crossed with the grid.'),
    variants: z
      .record(z.string(), z.record(z.string(), value))
      .optional()
      .describe('Named variants: name → overrides; crossed with the grid.'),
    seeds: z.array(z.number().int().min(0)).optional().describe('Replicates: every trial runs once per seed (sets `seed`).'),
    jobs: z.number().int().positive().optional().describe('Trials run at once (default from cores and backend).'),
    launcher: launcherSchema.optional().describe('Where the trials run: child processes here (`local`, the default) or jobs on a BullMQ queue in Redis taken by `ablate worker` on any machine (`queue`). `--queue URL` or ABLATE_QUEUE choose `queue` too.'),
    metric: z.string().default('val_accuracy').describe('Main metric for progress lines and `ablate compare`.'),
    goal: z.enum(['max', 'min']).default('max').describe('Whether a larger or smaller metric is better.'),
    baseline: z
      .union([z.string(), z.record(z.string(), value)])
      .optional()
      .describe(
        'The reference arm of `ablate compare`: the value of the one varied axis (`center`) or axis → value (`{preprocess.crop: center}`). Its row is what the "vs" column and the forest plot measure every other arm against (default: the best arm).',
      ),
  })
  .describe('An ablate sweep: a base spec and the axes to vary.');

export type SweepInput = z.input<typeof sweepSchema>;
export type SweepSpec = z.output<typeof sweepSchema>;
export type LauncherSpec = z.output<typeof launcherSchema>;
export type Scalar = z.infer<typeof scalar>;
