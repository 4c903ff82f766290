#!/usr/bin/env node
// The TypeScript is compiled to dist/ by `npm ci` (the prepare script); this stub keeps the bin
// path stable and says what to do when dist/ is missing instead of printing a module stack.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const main = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('ablate: dist/ is missing; run `npm run build` (npm ci does it for you).');
  process.exit(2);
}
await import(main);
