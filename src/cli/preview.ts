import { join, relative } from 'node:path';
import { loadSpec } from '../spec/load.js';
import { localStoreRoot } from '../track/tracker.js';
import { EXIT, parseVerbArgs, UsageError } from './args.js';

const HELP = `Usage: ablate preview <spec.yaml> [field.path=value ...] [--n 16] [--out dir]

Writes the first N training images exactly as the model will see them (the spec's crop and
size, one PNG each) and contact-sheet.png: the same sources as border / center / squish side by
side. Overrides work as in \`ablate run\`, e.g.
  ablate preview configs/crop-ablation.yaml dataset.source=folder dataset.path=photos preprocess.crop=border preprocess.size=64

Options:
  --n <count>   images to write (default 16)
  --out <dir>   output folder (default runs/.preview/<spec name>/, inside the tracking store
                folder, which .gitignore already covers)
Exit codes: 0 written, 1 failed, 2 invalid spec or usage.`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, { n: { type: 'string' }, out: { type: 'string' } });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (args.positionals.length !== 1) throw new UsageError(`expected one spec file\n\n${HELP}`);
  const n = args.values.n === undefined ? 16 : Number(args.values.n);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--n must be a positive integer, got "${args.values.n}"`);
  const { spec } = loadSpec(args.positionals[0]!, args.overrides);
  // Not ./preview: a folder in the working tree that git would offer to commit. The local store
  // (runs/ or track.uri) is ignored already and holds ablate's other outputs (.reports too).
  const out = args.values.out ?? join(localStoreRoot(spec.track.uri), '.preview', spec.name.replace(/[^\w.-]+/g, '_'));
  // sharp loads only now, so `ablate preview --help` stays fast.
  const { preview } = await import('../data/preview.js');
  try {
    const r = await preview(spec, { n, out });
    for (const s of r.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
    console.log(`wrote ${r.images.length} images (${spec.preprocess.crop}, ${Array.isArray(spec.preprocess.size) ? spec.preprocess.size[0] : spec.preprocess.size}px) and ${r.sheet} to ${relative(process.cwd(), out) || '.'}/`);
    return r.images.length > 0 ? EXIT.ok : EXIT.failed;
  } catch (e) {
    console.error(`ablate preview: ${(e as Error).message}`);
    return EXIT.failed;
  }
}
