// Backend selection: fallback order, errors from broken optional native backends, forced
// backends that are not installed, and memoisation of initBackend.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { BackendUnavailableError, initBackend, selectBackend } from '../src/backend/index.js';
import { adapterLabel, probeAdapter } from '../src/backend/webgpu-adapter.js';

const missing = async (): Promise<string> => {
  const e = new Error("Cannot find package '@tensorflow/tfjs-node' imported from x") as Error & { code: string };
  e.code = 'ERR_MODULE_NOT_FOUND';
  throw e;
};
// What a half-installed tfjs-node looks like: not a MODULE_NOT_FOUND, and it must not crash start-up.
const brokenBinding = async (): Promise<string> => {
  throw new Error('The specified module could not be found. lib/napi-v8/tfjs_binding.node');
};

test('auto skips broken or missing native backends and lands on wasm', async () => {
  const info = await selectBackend('auto', { 'node-gpu': brokenBinding, webgpu: missing, node: missing });
  assert.equal(info.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(
    info.skipped.map((s) => s.name),
    ['node-gpu', 'webgpu', 'node'],
  );
  assert.match(info.skipped[0]!.reason, /tfjs_binding\.node/);
});

test('auto falls back to cpu when wasm fails to start', async () => {
  const info = await selectBackend('auto', {
    'node-gpu': missing,
    webgpu: missing,
    node: missing,
    wasm: async () => {
      throw new Error("tf.setBackend('wasm') failed to initialise");
    },
  });
  assert.equal(info.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(info.skipped.length, 4);
});

test('default loaders: auto picks the fastest backend installed here', async () => {
  const info = await selectBackend('auto');
  const has = async (p: string) =>
    import(p).then(
      () => true,
      () => false,
    );
  // webgpu only on a hardware adapter; in CI, lavapipe (software) is what Dawn finds.
  const probe = probeAdapter();
  const hardwareGpu = 'summary' in probe && !probe.summary.software;
  const expected = (await has('@tensorflow/tfjs-node-gpu'))
    ? 'node-gpu'
    : hardwareGpu
      ? 'webgpu'
      : (await has('@tensorflow/tfjs-node'))
        ? 'node'
        : 'wasm';
  assert.equal(info.name, expected);
  if (expected === 'wasm') {
    assert.equal(tf.getBackend(), 'wasm');
    const webgpuReason = 'summary' in probe ? `only a software adapter (${adapterLabel(probe.summary)})` : probe.reason;
    assert.deepEqual(
      info.skipped.map((s) => s.name),
      ['node-gpu', 'webgpu', 'node'],
    );
    assert.equal(info.skipped[0]!.reason, 'not installed');
    assert.ok(info.skipped[1]!.reason.startsWith(webgpuReason), info.skipped[1]!.reason);
    assert.equal(info.skipped[2]!.reason, 'not installed');
  }
});

test('forcing a backend that is not installed is a clear error saying how to install it', async (t) => {
  const gpu = await selectBackend('node-gpu').then(
    () => undefined,
    (e: unknown) => e,
  );
  if (gpu === undefined) return t.skip('tfjs-node-gpu is installed here');
  assert.ok(gpu instanceof BackendUnavailableError);
  assert.match(gpu.message, /npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/);
  assert.match(gpu.message, /CUDA 11\.2/);
  const nodeInstalled = await import('@tensorflow/tfjs-node' as string).then(
    () => true,
    () => false,
  );
  if (nodeInstalled) return;
  await assert.rejects(selectBackend('node'), (e: Error) => {
    assert.ok(e instanceof BackendUnavailableError);
    assert.match(e.message, /train\.backend is "node".*not installed.*npm install @tensorflow\/tfjs-node@4\.22\.0/);
    return true;
  });
  await assert.rejects(selectBackend('node', { node: brokenBinding }), /tfjs_binding\.node.*npm install/);
});

test('unknown backend names are rejected', async () => {
  await assert.rejects(selectBackend('tpu' as 'cpu'), /unknown train\.backend "tpu"/);
});

test('initBackend is idempotent: same result, printed once, backend restored', async () => {
  const lines: string[] = [];
  const a = await initBackend('auto', (l) => lines.push(l));
  await tf.setBackend('cpu');
  const b = await initBackend('auto', (l) => lines.push(l));
  assert.equal(a, b);
  assert.equal(tf.getBackend(), a.tfBackend);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, new RegExp(`^backend: ${a.name} `));
});
