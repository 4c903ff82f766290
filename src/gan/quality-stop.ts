// `gan.stop`: early stopping of GAN training on the sample-quality score. A GAN has no epochs and
// its losses say little about sample quality, so the generator is scored every `every` generator
// steps (and after the last) on fixed noise, and training ends once the score has not improved for
// `patience` scores. The bookkeeping is the training loop's StopRule (best value, wait count, best
// weights in the work folder), counted in generator steps and scores; its state rides in the GAN
// checkpoint, so an interrupted run resumes mid-patience with the same best generator.
import type * as tf from '@tensorflow/tfjs';
import type { ExperimentSpec } from '../spec/schema.js';
import type { CheckpointState } from '../train/checkpoint.js';
import { StopRule, type StopSummary } from '../train/stop-rule.js';
import { localPass, type RowPass } from '../train/parallel/pass.js';
import { qualityMetrics } from './evaluate-stage.js';
import { loadScorer, qualityOf, type ScoreRows, scoreGenerated, scorerMaps } from './scorer.js';

type GanStop = NonNullable<ExperimentSpec['gan']['stop']>;

/** Lower Fréchet distance is better; higher class coverage is. */
export function stopMode(metric: GanStop['metric']): 'min' | 'max' {
  return metric === 'frechet_distance' ? 'min' : 'max';
}

export class QualityStop {
  private readonly rule: StopRule;

  private constructor(
    private readonly stop: GanStop,
    private readonly scorer: Awaited<ReturnType<typeof loadScorer>>,
    private readonly latent: number,
    private readonly seed: number,
    state: CheckpointState,
    dir: string,
    log: { info(line: string): void },
  ) {
    const { metric, patience, minDelta, restoreBest } = stop;
    this.rule = new StopRule({ metric, mode: stopMode(metric), patience, minDelta, restoreBest }, undefined, state, dir, log, { at: 'generator step', wait: 'score' });
  }

  /** `state` is the checkpoint state the training loop saves (the rule keeps its own part in it). */
  static async open(stop: GanStop, scorerDir: string, latent: number, seed: number, state: CheckpointState, dir: string, log: { info(line: string): void }): Promise<QualityStop> {
    return new QualityStop(stop, await loadScorer(scorerDir), latent, seed, state, dir, log);
  }

  /** The scorer network, for training ranks that score the generator (GanTrainer.startWorkers). */
  get scorerModel(): tf.LayersModel {
    return this.scorer.model;
  }

  get stopped(): boolean {
    return this.rule.stopped;
  }

  /** Whether the generator is scored after `done` generator steps of `steps`. */
  due(done: number, steps: number): boolean {
    return done % this.stop.every === 0 || done === steps;
  }

  /** The stop rule the training loop runs on the scores (its state rides in the GAN checkpoint). */
  get stopRule(): StopRule {
    return this.rule;
  }

  /**
   * Scores the generator after `done` steps (the same noise every time, so scores differ only by
   * the generator): the metrics the loop logs as `quality_<metric>` and the stop rule judges.
   * With `pass` (the training ranks, GanTrainer.scorePass), the samples are split across them.
   */
  async score(generator: tf.LayersModel, pass?: RowPass<ScoreRows>): Promise<Record<string, number>> {
    const run = pass ?? localPass(scorerMaps(this.scorer.model, generator, this.latent));
    return qualityMetrics(qualityOf(this.scorer.real, await scoreGenerated(run, this.latent, this.stop.samples, this.seed + 104723)));
  }

  /** After training: the best generator back in place (restoreBest), and how training ended. */
  async finish(steps: number, generator: tf.LayersModel): Promise<StopSummary> {
    this.scorer.model.dispose();
    return this.rule.finish(steps, generator);
  }
}
