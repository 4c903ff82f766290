// The trained run that `ablate predict` and `ablate export` use: a run id (or its first characters)
// in the tracking store, or the best run of a sweep. What the run recorded is all that is read:
// its resolved spec (artifacts/spec.yaml), its final network (artifacts/final/model) and the
// class names (artifacts/final/info.json), so a prediction prepares images exactly as training did.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareData } from '../report/compare.js';
import { loadComparison } from '../report/load.js';
import { loadSpec } from '../spec/load.js';
import type { ExperimentSpec } from '../spec/schema.js';
import { listExperiments, listRuns } from '../track/reader.js';
import { TAG } from '../track/tags.js';
import type { RunRecord } from '../track/types.js';

export class TrainedRunError extends Error {}

export interface TrainedRun {
  runId: string;
  runName: string;
  dir: string;
  spec: ExperimentSpec;
  classes: string[];
  /** Folder with model.json + weights.bin: the whole network, input image → class scores. */
  modelDir: string;
  /** Backend the run trained on (tag ablate.backend), to predict with the same arithmetic. */
  backend: string | undefined;
  /** The run's final validation metrics, when recorded. */
  metrics: Record<string, number>;
  /** How the run was chosen (`run <id>` or `best of sweep <id> by <metric>`). */
  chosen: string;
}

function allRuns(root: string): RunRecord[] {
  if (!existsSync(root)) throw new TrainedRunError(`no tracking store at ${root} (pass --store)`);
  return listExperiments(root).flatMap((e) => listRuns(root, e.experimentId, { history: false }));
}

function fromRecord(r: RunRecord, chosen: string): TrainedRun {
  const art = join(r.dir, 'artifacts');
  const modelDir = join(art, 'final', 'model');
  const specFile = join(art, 'spec.yaml');
  if (!existsSync(specFile)) throw new TrainedRunError(`run ${r.info.runId} has no recorded spec (${specFile})`);
  if (!existsSync(join(modelDir, 'model.json'))) {
    throw new TrainedRunError(
      `run ${r.info.runId} (${r.info.status}) has no trained model at ${modelDir}${r.info.status === 'FINISHED' ? '' : ': only a finished classify run saves one; resume it with the same `ablate run` command'}`,
    );
  }
  const { spec } = loadSpec(specFile);
  if (spec.task !== 'classify') throw new TrainedRunError(`run ${r.info.runId} is a ${spec.task} run; predict and export apply classifiers`);
  const info = JSON.parse(readFileSync(join(art, 'final', 'info.json'), 'utf8')) as { classes: string[] };
  return { runId: r.info.runId, runName: r.info.runName, dir: r.dir, spec, classes: info.classes, modelDir, backend: r.tags[TAG.backend], metrics: r.metrics, chosen };
}

/** A run by id or unique id prefix. */
export function findRun(root: string, ref: string): TrainedRun {
  const runs = allRuns(root);
  const hits = runs.filter((r) => r.info.runId === ref || r.info.runId.startsWith(ref));
  if (hits.length === 0) {
    const sweep = runs.some((r) => r.tags[TAG.sweepId] === ref || r.tags[TAG.sweepId]?.startsWith(ref));
    throw new TrainedRunError(`no run "${ref}" in ${root}${sweep ? `; "${ref}" is a sweep: add --best to use its best run` : ' (`ablate ls` lists the runs)'}`);
  }
  if (hits.length > 1) throw new TrainedRunError(`run id "${ref}" is ambiguous in ${root}: ${hits.map((r) => r.info.runId).join(', ')}`);
  return fromRecord(hits[0]!, `run ${hits[0]!.info.runId}`);
}

/**
 * The best run of a sweep: the best group as `ablate compare` ranks them (the sweep's metric and
 * goal), and in it the seed with the best value, among finished runs that saved a model.
 */
export function bestOfSweep(root: string, sweepRef: string): TrainedRun {
  allRuns(root);
  let data: ReturnType<typeof loadComparison>;
  try {
    data = loadComparison(root, sweepRef);
  } catch (e) {
    throw new TrainedRunError((e as Error).message);
  }
  const { groups } = compareData(data);
  const best = groups.find((g) => g.best);
  if (!best || best.runs.length === 0) throw new TrainedRunError(`sweep ${data.id} has no finished trial with ${data.metric} yet`);
  const sign = data.goal === 'max' ? -1 : 1;
  const ranked = [...best.runs].sort((a, b) => sign * (a.value - b.value));
  const byId = new Map(allRuns(root).map((r) => [r.info.runId, r]));
  for (const trial of ranked) {
    for (const id of [...trial.runIds].reverse()) {
      const r = byId.get(id);
      if (r?.info.status === 'FINISHED' && existsSync(join(r.dir, 'artifacts', 'final', 'model', 'model.json'))) {
        return fromRecord(r, `run ${r.info.runId}, best of sweep ${data.id} by ${data.metric} (${best.label}, ${trial.seed !== undefined ? `seed ${trial.seed}, ` : ''}${data.metric} ${trial.value.toFixed(4)})`);
      }
    }
  }
  throw new TrainedRunError(`sweep ${data.id}: the best group (${best.label}) has no finished run with a saved model`);
}
