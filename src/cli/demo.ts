// `npm run demo` / `ablate demo`: the main job in one command. Runs the crop ablation on the
// generated shapes dataset (border / center / squish × 3 seeds; the ingest stage of each trial
// generates `shapes` into the shared cache), then prints the comparison and where the report is.
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare } from '../report/compare.js';
import { terminalTable } from '../report/tables.js';
import { buildSweep } from '../sweep/build.js';
import { runSweep } from '../sweep/run.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';
import { summary } from './sweep.js';

const SWEEP = fileURLToPath(new URL('../../../configs/crop-ablation.sweep.yaml', import.meta.url));
// A smoke-test scale: every stage runs, on a tenth of the data, in well under a minute per trial.
const QUICK = ['dataset.count=120', 'train.epochs=1'];

const HELP = `Usage: ablate demo [field.path=value ...] [options]

The founding question, answered on this machine: is a black border (letterbox), a center crop or
a squish resize better for an image classifier, and what does each cost? Runs
configs/crop-ablation.sweep.yaml (border / center / squish × seeds 0, 1, 2 on the generated
\`shapes\` dataset, each arm trained until it stops improving; about 6 minutes on 2 cores with the
wasm backend), then prints the comparison and writes report.html under runs/. Rerunning continues where it stopped.

Options:
  --jobs N     trials at once (default from cores and backend)
  --quick      a smoke-test scale (${QUICK.join(' ')})
Overrides and axes are passed to the sweep (e.g. seed=0,1 or track.uri=/tmp/runs).`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, { jobs: { type: 'string', short: 'j' }, quick: { type: 'boolean' } });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.positionals.length > 0) throw new UsageError(`ablate demo takes no file (it runs ${relative(process.cwd(), SWEEP)})\n\n${HELP}`);
  if (!existsSync(SWEEP)) throw new UsageError(`the demo sweep is missing: ${SWEEP}`);
  const jobs = args.values.jobs === undefined ? undefined : Number(args.values.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw new UsageError(`--jobs expects a positive integer, got "${args.values.jobs}"`);
  const sweep = buildSweep(SWEEP, [...(args.values.quick ? QUICK : []), ...args.overrides]);
  console.error(`ablate demo: ${sweep.trials.length} trials of ${relative(process.cwd(), SWEEP)} (shapes dataset, ${sweep.trials[0]!.spec.dataset.count} images, ${sweep.trials[0]!.spec.train.epochs} epochs)\n`);
  const result = await runSweep(sweep, jobs ? { jobs } : {});
  console.error(`\n${summary(result, sweep.sweep.metric)}\n`);
  if (result.status === 'KILLED') return 130;
  const c = await compare(result.storeRoot, result.id);
  console.log(terminalTable(c.groups, c.ctx));
  const show = (p: string) => {
    const r = relative(process.cwd(), p);
    return r && !r.startsWith('..') ? r : p;
  };
  console.log(`\nwall time of the sweep: ${(result.seconds / 60).toFixed(1)} min on ${result.jobs} job(s)`);
  console.log(`report: ${show(`${c.outDir}/report.html`)}  (plots: metric.png, curves.png, walltime.png beside it)`);
  return result.status === 'FINISHED' ? EXIT.ok : EXIT.failed;
}
