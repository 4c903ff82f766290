#!/usr/bin/env node
// Runs every compiled test file with node's own test runner. Node 20's --test does not expand
// globs, so the file list is built here; ABLATE_TEST_FILTER narrows it (a substring of the path).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
}
const filter = process.env.ABLATE_TEST_FILTER ?? '';
// tsc never deletes outputs, so a test whose source was removed or renamed would still run from
// dist/ (and fail against current code): only tests with a source file count.
const compiled = walk('dist/test').filter((f) => f.includes(filter)).sort();
const stale = compiled.filter((f) => !existsSync(f.replace(/^dist[\\/]/, '').replace(/\.js$/, '.ts')));
if (stale.length) console.error(`skipping ${stale.length} compiled test(s) with no source (stale dist/): ${stale.join(', ')}`);
const files = compiled.filter((f) => !stale.includes(f));
if (files.length === 0) {
  console.error(`no test files under dist/test matching "${filter}"`);
  process.exit(1);
}
// The same libuv pool size as `ablate` itself starts with (bin/uv-pool.cjs).
const { uvPoolSize } = createRequire(import.meta.url)('../bin/uv-pool.cjs');
// One line per file, failures in full (scripts/compact-reporter.js); a --test-reporter given on the
// command line (`npm test -- --test-reporter=spec`) or ABLATE_TEST_VERBOSE=1 brings back the full stream.
const extra = process.argv.slice(2);
const reporter = extra.some((a) => a.startsWith('--test-reporter')) || process.env.ABLATE_TEST_VERBOSE ? [] : ['--test-reporter=./scripts/compact-reporter.js'];
// Two test files run at once, so each gets half the cores, as a sweep's trials do: the cores a
// run may use decide its default number of data-parallel training workers (src/train/parallel).
const CONCURRENCY = 2;
const cores = process.env.ABLATE_CORES ?? String(Math.max(1, Math.floor(availableParallelism() / CONCURRENCY)));
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${CONCURRENCY}`, ...reporter, ...extra, ...files], {
  stdio: 'inherit',
  env: { ...process.env, UV_THREADPOOL_SIZE: uvPoolSize(), ABLATE_CORES: cores },
});
process.exit(r.status ?? 1);
