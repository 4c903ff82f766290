// `ablate predict`: apply a trained run (or a sweep's best run) to image files and folders.
import { createWriteStream } from 'node:fs';
import { relative } from 'node:path';
import { storeRoot } from '../sweep/records.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';

const HELP = `Usage: ablate predict <run-id | sweep-id --best> <image files or folders…> [options]

Loads the run's trained network and applies exactly the run's preprocessing (crop, size, fill,
centre fraction, resampling kernel, channels, normalisation, from its recorded spec) to every
image, a batch at a time through the preprocessing pool, on the backend the run trained on.
Prints each image's classes and probabilities, best first, or writes them as CSV. Files that
cannot be used (not an image, truncated, too many pixels) are listed and skipped.

  ablate predict 3f9c2a1b photos/                     # a run id or its first characters
  ablate predict crop-ablation-51ceb279 --best photos/ --out preds.csv --top 3

Options:
  --best          the first argument is a sweep: use its best run (best group by the sweep's
                  metric as \`ablate compare\` ranks it, then that group's best seed)
  --out file      write CSV: file,class,prob[,class_2,prob_2,…] (a header line, one row per image)
  --top k         classes per image (default 3, at most the number of classes)
  --store dir     tracking store (default: runs/, or MLFLOW_TRACKING_URI)
  --batch n       images per network call (default: the run's train.batchSize)
Exit codes: 0 predicted (some files may be skipped), 1 nothing could be predicted, 2 usage.`;

function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, {
    best: { type: 'boolean' },
    out: { type: 'string' },
    top: { type: 'string' },
    store: { type: 'string' },
    batch: { type: 'string' },
  });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.overrides.length) throw new UsageError(`predict uses the run's recorded spec; overrides (${args.overrides.join(' ')}) do not apply`);
  const [ref, ...paths] = args.positionals;
  if (!ref || paths.length === 0) throw new UsageError(`expected a run id (or a sweep id with --best) and image files or folders\n\n${HELP}`);
  const top = args.values.top === undefined ? 3 : Number(args.values.top);
  if (!Number.isInteger(top) || top < 1) throw new UsageError(`--top must be a positive integer, got "${args.values.top}"`);
  const batch = args.values.batch === undefined ? undefined : Number(args.values.batch);
  if (batch !== undefined && (!Number.isInteger(batch) || batch < 1)) throw new UsageError(`--batch must be a positive integer, got "${args.values.batch}"`);
  let root: string;
  try {
    root = storeRoot(args.values.store);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  const { bestOfSweep, findRun, TrainedRunError } = await import('../predict/trained-run.js');
  let trained: Awaited<ReturnType<typeof findRun>>;
  try {
    trained = args.values.best ? bestOfSweep(root, ref) : findRun(root, ref);
  } catch (e) {
    if (e instanceof TrainedRunError) {
      console.error(`ablate predict: ${e.message}`);
      return EXIT.failed;
    }
    throw e;
  }
  const { inputFiles, predictFiles } = await import('../predict/predict.js');
  const { files, missing } = await inputFiles(paths);
  const { BACKEND_ORDER, initBackend } = await import('../backend/index.js');
  // The run's own backend when it is here, so the arithmetic matches the recorded metrics.
  const backend = BACKEND_ORDER.find((b) => b === trained.backend) ?? trained.spec.train.backend;
  try {
    await initBackend(backend);
  } catch (e) {
    if (backend === trained.spec.train.backend) throw e;
    console.error(`predict: the run trained on ${backend}, not available here (${(e as Error).message.split('\n')[0]}); predicting on ${trained.spec.train.backend}: scores can differ in the last digits`);
    await initBackend(trained.spec.train.backend);
  }
  const { loadModel } = await import('../models/io.js');
  const { classTargetsTensor } = await import('../train/setup.js');
  const { createPool } = await import('../data/pool/pool.js');
  const model = await loadModel(trained.modelDir);
  const targets = await classTargetsTensor(trained.spec, trained.classes);
  const pool = createPool(trained.spec.preprocess.workers);
  const k = Math.min(top, trained.classes.length);
  console.error(`predict: ${trained.chosen}; ${files.length} file(s), ${trained.spec.preprocess.crop} ${runSize(trained.spec.preprocess.size)}px, normalize ${trained.spec.preprocess.normalize}`);

  const out = args.values.out ? createWriteStream(args.values.out) : undefined;
  const write = (line: string) => (out ? new Promise<void>((res, rej) => out.write(`${line}\n`, (e) => (e ? rej(e) : res()))) : Promise.resolve(void console.log(line)));
  const show = (f: string) => {
    const r = relative(process.cwd(), f);
    return r && !r.startsWith('..') ? r : f;
  };
  const skipped = [...missing];
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (out) await write(['file', 'class', 'prob', ...Array.from({ length: k - 1 }, (_, i) => [`class_${i + 2}`, `prob_${i + 2}`]).flat()].join(','));
    const r = await predictFiles({
      model,
      spec: trained.spec,
      classes: trained.classes,
      pool,
      files,
      top: k,
      classTargets: targets,
      batchSize: batch,
      signal: controller.signal,
      onBatch: async (preds, bad) => {
        skipped.push(...bad);
        for (const p of preds) {
          if (out) await write([csvCell(show(p.file)), ...p.top.flatMap((t) => [csvCell(t.label), t.p.toFixed(6)])].join(','));
          else await write(`${show(p.file)}  ${p.top.map((t) => `${t.label} ${t.p.toFixed(4)}`).join('  ')}`);
        }
      },
    });
    if (skipped.length) {
      console.error(`skipped ${skipped.length} of ${files.length + missing.length} file(s):`);
      for (const s of skipped) console.error(`  ${show(s.file)}: ${s.reason}`);
    }
    console.error(`predicted ${r.predicted} image(s)${out ? ` → ${args.values.out}` : ''}`);
    return r.predicted > 0 ? EXIT.ok : EXIT.failed;
  } catch (e) {
    if (!controller.signal.aborted) throw e;
    console.error('predict: interrupted; the rows written so far are complete');
    return EXIT.failed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (out) await new Promise<void>((res) => out.end(res));
    await pool.close();
    targets?.dispose();
    model.dispose();
  }
}

function runSize(size: number | number[]): string {
  return String(Array.isArray(size) ? size[0] : size);
}
