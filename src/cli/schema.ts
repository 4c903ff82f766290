import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from '../spec/jsonschema.js';
import { EXIT, parseVerbArgs } from './args.js';

const HELP = `Usage: ablate schema [--check] [--root dir]

(Re)writes schemas/experiment.schema.json and schemas/sweep.schema.json from the zod schemas
(VS Code completes and checks specs that start with a yaml-language-server $schema line) and
docs/spec-reference.md. With --check, writes nothing and exits 1 when a file is out of date.`;

export async function run(argv: string[]): Promise<number> {
  const args = parseVerbArgs(argv, { check: { type: 'boolean' }, root: { type: 'string' } });
  if (args.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  const root = args.values.root ?? process.cwd();
  let stale = 0;
  for (const [rel, text] of Object.entries(generatedFiles())) {
    const path = join(root, rel);
    let current: string | undefined;
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === text) {
      console.log(`up to date  ${rel}`);
      continue;
    }
    if (args.values.check) {
      stale++;
      console.error(`out of date  ${rel}  (run \`npx ablate schema\`)`);
    } else {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, text);
      console.log(`wrote  ${rel}`);
    }
  }
  return stale > 0 ? EXIT.failed : EXIT.ok;
}
