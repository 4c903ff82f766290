// The `ablate` entry point: only argv, stdout/stderr and exit codes live in src/cli. Verbs load
// lazily so `ablate --help` and `ablate validate` start fast (no TensorFlow, no sharp).
import { readFileSync } from 'node:fs';
import { SpecError } from '../spec/issues.js';
import { EXIT, UsageError } from './args.js';

interface Verb {
  summary: string;
  module: string;
}

const VERBS: Record<string, Verb> = {
  validate: { summary: 'check a spec (and its bases and overrides); print every problem with file:line:col', module: './validate.js' },
  run: { summary: 'run an experiment: compile to cached stages, train, log to the tracking store', module: './run.js' },
  sweep: { summary: 'launch an ablation sweep (grid, random, variants, seeds), resumable', module: './sweep.js' },
  worker: { summary: 'run the trials of queued sweeps (sweep --queue URL) on this machine', module: './worker.js' },
  compare: { summary: 'compare the runs of a sweep: table, plots, report.html', module: './compare.js' },
  preview: { summary: 'write PNGs of preprocessed images and a border/center/squish contact sheet', module: './preview.js' },
  predict: { summary: "apply a trained run (or a sweep's best) to image files and folders: classes, probabilities, CSV", module: './predict.js' },
  export: { summary: 'write a trained run as a TF.js model plus preprocess.json, to serve it elsewhere', module: './export.js' },
  ls: { summary: 'list experiments and runs, newest first', module: './ls.js' },
  sync: { summary: 'upload runs kept locally while an MLflow server was unreachable', module: './sync.js' },
  schema: { summary: 'write schemas/*.schema.json (editor completion) and docs/spec-reference.md', module: './schema.js' },
  demo: { summary: 'the main job: generate shapes, run the crop-ablation sweep, print the comparison', module: './demo.js' },
};

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function help(): string {
  const w = Math.max(...Object.keys(VERBS).map((v) => v.length));
  return [
    'ablate: declarative deep-learning experiments, cached stages and ablation sweeps',
    '',
    'Usage: ablate <verb> [args] [field.path=value ...]',
    '',
    'Verbs:',
    ...Object.entries(VERBS).map(([name, v]) => `  ${name.padEnd(w)}  ${v.summary}`),
    '',
    'Run `ablate <verb> --help` for the options of a verb.',
    'Exit codes: 0 ok, 1 run failed, 2 invalid spec or usage.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    console.log(help());
    return verb === undefined ? EXIT.usage : EXIT.ok;
  }
  if (verb === '--version' || verb === '-v') {
    console.log(version());
    return EXIT.ok;
  }
  const v = VERBS[verb];
  if (!v) {
    const { didYouMean } = await import('../spec/suggest.js');
    const m = didYouMean(verb, Object.keys(VERBS));
    console.error(`ablate: unknown verb "${verb}"${m ? `; did you mean "${m}"?` : ''}\n\n${help()}`);
    return EXIT.usage;
  }
  let mod: { run(argv: string[]): Promise<number> };
  try {
    mod = await import(v.module);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String(e).includes(v.module.slice(2))) {
      console.error(`ablate ${verb}: not available in this build yet`);
      return EXIT.failed;
    }
    throw e;
  }
  try {
    return await mod.run(rest);
  } catch (e) {
    // User mistakes print as messages; only real bugs get a stack trace.
    if (e instanceof SpecError) {
      console.error(e.message);
      return EXIT.usage;
    }
    if (e instanceof UsageError) {
      console.error(`ablate ${verb}: ${e.message}`);
      return EXIT.usage;
    }
    throw e;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
