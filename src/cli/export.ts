// `ablate export`: a trained run's network plus preprocess.json, for serving it outside ablate.
import { relative } from 'node:path';
import { storeRoot } from '../sweep/records.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';

const HELP = `Usage: ablate export <run-id | sweep-id --best> <dir> [--store dir]

Writes the run's trained network as a TF.js LayersModel (model.json + weights.bin, load it with
tf.loadLayersModel) and preprocess.json: how to turn an image into the network's input exactly
as the run did (input size and layout, crop and its geometry, fill, kernel, normalisation) and
how to read the output (class names in order). Every field: docs/predict.md.

Options:
  --best          the first argument is a sweep: export its best run (as \`ablate predict --best\`)
  --store dir     tracking store (default: runs/, or MLFLOW_TRACKING_URI)
Exit codes: 0 written, 1 no such run or no trained model, 2 usage.`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, { best: { type: 'boolean' }, store: { type: 'string' } });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.positionals.length !== 2 || args.overrides.length) throw new UsageError(`expected a run id and an output folder\n\n${HELP}`);
  const [ref, dir] = args.positionals as [string, string];
  let root: string;
  try {
    root = storeRoot(args.values.store);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { bestOfSweep, findRun, TrainedRunError } = await import('../predict/trained-run.js');
  try {
    const trained = args.values.best ? bestOfSweep(root, ref) : findRun(root, ref);
    const { exportRun } = await import('../predict/export.js');
    const r = await exportRun(trained, dir);
    console.log(`exported ${trained.chosen} to ${relative(process.cwd(), dir) || '.'}/: ${r.files.map((f) => relative(dir, f)).join(', ')}`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof TrainedRunError) {
      console.error(`ablate export: ${e.message}`);
      return EXIT.failed;
    }
    throw e;
  }
}
