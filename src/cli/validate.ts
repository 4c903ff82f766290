import { loadSpec, loadSweep, resolveSpec } from '../spec/load.js';
import { readYamlLayer } from '../spec/source.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';
import { summarize } from './summary.js';

const HELP = `Usage: ablate validate <spec.yaml> [field.path=value ...]

Checks an experiment or sweep spec, its \`extends\` bases and the overrides, and prints every
problem at once as  file:line:col  field.path  message. Prints "ok" and a summary when valid.
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
    const loaded = resolveSpec(sw.base.data, sw.base.layers, [...args.overrides], sw.base.file);
    const axes = [...Object.keys(sw.sweep.grid), ...Object.keys(sw.sweep.random?.params ?? {})];
    if (sw.sweep.variants) axes.push(`variants(${Object.keys(sw.sweep.variants).length})`);
    if (sw.sweep.seeds) axes.push(`seeds(${sw.sweep.seeds.length})`);
    console.log(`ok  ${file}  sweep over ${axes.join(', ') || 'nothing'}; base ${summarize(loaded.spec)}`);
    return EXIT.ok;
  }
  const loaded = loadSpec(file, args.overrides);
  console.log(`ok  ${file}  ${summarize(loaded.spec)}  hash=${loaded.hash.slice(0, 12)}`);
  return EXIT.ok;
}
