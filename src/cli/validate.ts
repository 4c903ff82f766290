import { checkSpec } from '../pipeline/check.js';
import { buildFromLoaded, checkTrials } from '../sweep/build.js';
import { CliAxisError } from '../sweep/cli-axes.js';
import { loadSpec, loadSweep, resolveSpec } from '../spec/load.js';
import { readYamlLayer } from '../spec/source.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';
import { summarize } from './summary.js';

const HELP = `Usage: ablate validate <spec.yaml> [field.path=value ...]

Checks an experiment or sweep spec, its \`extends\` bases and the overrides, and prints every
problem at once as  file:line:col  field.path  message: the schema's, and what each stage of the
task would fail on (or silently not do) from the spec alone, e.g. a loss term the task does not
take or a section no stage of the task reads. For a sweep, every trial is checked. Prints "ok" and
a summary when valid.
Exit codes: 0 valid, 2 invalid.`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, { quiet: { type: 'boolean', short: 'q' } });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.positionals.length !== 1) throw new UsageError(`expected one spec file\n\n${HELP}`);
  const file = args.positionals[0]!;
  const { layer } = readYamlLayer(file);
  const isSweep = layer !== undefined && typeof layer.data === 'object' && layer.data !== null && 'base' in layer.data;
  if (isSweep) {
    const sw = loadSweep(file);
    let built: ReturnType<typeof buildFromLoaded>;
    try {
      built = buildFromLoaded(sw, [...args.overrides]);
    } catch (e) {
      if (e instanceof CliAxisError) throw new UsageError(e.message);
      throw e;
    }
    await checkTrials(built);
    const loaded = resolveSpec(sw.base.data, sw.base.layers, [...args.overrides], sw.base.file);
    const axes = [...Object.keys(sw.sweep.grid), ...Object.keys(sw.sweep.random?.params ?? {})];
    if (sw.sweep.variants) axes.push(`variants(${Object.keys(sw.sweep.variants).length})`);
    if (sw.sweep.seeds) axes.push(`seeds(${sw.sweep.seeds.length})`);
    console.log(`ok  ${file}  sweep over ${axes.join(', ') || 'nothing'}; base ${summarize(loaded.spec)}`);
    return EXIT.ok;
  }
  const loaded = loadSpec(file, args.overrides);
  await checkSpec(loaded);
  console.log(`ok  ${file}  ${summarize(loaded.spec)}  hash=${loaded.hash.slice(0, 12)}`);
  return EXIT.ok;
}
