// The libuv pool `ablate` starts with must hold every image the preprocess pool keeps in flight
// (bin/uv-pool.cjs is CommonJS and cannot import the TypeScript constant, so they are checked here).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { DEFAULT_INFLIGHT, uvPoolSize } from '../src/data/pool/threads.js';

const bin = createRequire(import.meta.url)('../../bin/uv-pool.cjs') as { INFLIGHT: number; uvPoolSize(env?: Record<string, string | undefined>): string };

test('the bin sizes libuv for one worker per core × DEFAULT_INFLIGHT, and a user setting wins', () => {
  assert.equal(bin.INFLIGHT, DEFAULT_INFLIGHT);
  const size = Number(bin.uvPoolSize({}));
  assert.ok(size >= availableParallelism() * DEFAULT_INFLIGHT && size >= 4, String(size));
  assert.equal(bin.uvPoolSize({ UV_THREADPOOL_SIZE: '6' }), '6');
  assert.equal(uvPoolSize({}), 4, "libuv's own default");
  assert.equal(uvPoolSize({ UV_THREADPOOL_SIZE: '12' }), 12);
  assert.equal(uvPoolSize({ UV_THREADPOOL_SIZE: 'lots' }), 4);
});
