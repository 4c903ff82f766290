#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): libuv sizes its thread pool from UV_THREADPOOL_SIZE the
// first time it is used, and loading an ES module entry already uses it, so only a CommonJS entry
// can set the size in time. sharp runs every image on that pool: with libuv's default of 4
// threads a machine with more cores would preprocess on 4 of them (bin/uv-pool.cjs).
// The TypeScript is compiled to dist/ by `npm ci` (the prepare script); this stub keeps the bin
// path stable and says what to do when dist/ is missing instead of printing a module stack.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { uvPoolSize } = require('./uv-pool.cjs');
const { watchNpmShell } = require('./npm-wrapper.cjs');

// In process.env, so the trials a sweep starts inherit it.
process.env.UV_THREADPOOL_SIZE = uvPoolSize();

// `npx ablate` / `npm run …` with sh as npm's script shell: see bin/npm-wrapper.cjs.
watchNpmShell();

const main = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  console.error('ablate: dist/ is missing; run `npm run build` (npm ci does it for you).');
  process.exit(2);
}
import(pathToFileURL(main).href).catch((err) => {
  console.error(err);
  process.exit(1);
});
