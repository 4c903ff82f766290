// webgpu is optional: a missing or broken `webgpu` package, or no Vulkan driver, is a skipped
// backend with its reason under `auto` (never a crash) and, when train.backend names webgpu, an
// error that says what to install. Each case is a child process (test/fixtures/webgpu-select.ts)
// in which the package is hidden by a resolve hook or the driver by the Vulkan loader's variables.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');
const child = join(root, 'dist', 'test', 'fixtures', 'webgpu-select.js');
const hide = join(root, 'test', 'fixtures', 'webgpu-hide.mjs');

interface Selected {
  line: string;
  name: string;
  skipped: { name: string; reason: string }[];
  forced: string;
}

function select(env: NodeJS.ProcessEnv, forced = 'webgpu'): Selected {
  const r = spawnSync(process.execPath, [child, forced], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  assert.equal(r.status, 0, `child exited ${r.status ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Selected;
}

const webgpuSkip = (s: Selected) => s.skipped.find((k) => k.name === 'webgpu')?.reason;

function assertForcedSaysWhatToInstall(s: Selected, reason: RegExp) {
  assert.match(s.forced, /^train\.backend is "webgpu" but that backend could not be started: /);
  assert.match(s.forced, reason);
  assert.match(s.forced, /Install it with: npm install webgpu@0\.6\.2 .*libvulkan1.*NVIDIA driver.*vulkaninfo --summary.*docs\/backends\.md/);
}

test('webgpu package missing: auto skips it as not installed; forcing it says what to install', () => {
  const s = select({ NODE_OPTIONS: `--import=${hide}`, ABLATE_TEST_WEBGPU: 'missing' });
  assert.notEqual(s.name, 'webgpu');
  assert.equal(webgpuSkip(s), 'not installed');
  assert.match(s.line, /\[skipped .*webgpu: not installed/);
  assertForcedSaysWhatToInstall(s, /could not be started: not installed\./);
});

test('webgpu package broken (dawn.node does not load): a skip with its message, not a crash', () => {
  const s = select({ NODE_OPTIONS: `--import=${hide}`, ABLATE_TEST_WEBGPU: 'broken' });
  assert.notEqual(s.name, 'webgpu');
  assert.match(webgpuSkip(s) ?? '', /^the webgpu package does not load: .*dawn\.node: cannot open shared object file/);
  assertForcedSaysWhatToInstall(s, /does not load: .*dawn\.node/);
});

test('no Vulkan driver: auto skips webgpu with "no adapter"; forcing it says what to install', () => {
  // The Vulkan loader reads only these ICD manifests (none exist): Dawn sees no device at all.
  const s = select({ VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' });
  assert.notEqual(s.name, 'webgpu');
  const reason = /no WebGPU adapter found \(Dawn over Vulkan: is a Vulkan driver installed\? `vulkaninfo --summary`|no Vulkan loader \(libvulkan\.so\.1\)/;
  assert.match(webgpuSkip(s) ?? '', reason);
  assertForcedSaysWhatToInstall(s, reason);
});

test('tfjs-node-gpu that starts without a GPU: auto goes on to webgpu and the rest; forced, it says it runs on the CPU', () => {
  const s = select({ NODE_OPTIONS: `--import=${hide}`, ABLATE_TEST_NODE_GPU: 'nogpu' }, 'node-gpu');
  assert.notEqual(s.name, 'node-gpu');
  assert.match(s.skipped.find((k) => k.name === 'node-gpu')?.reason ?? '', /^started, but TensorFlow sees no GPU/);
  assert.ok(webgpuSkip(s) !== undefined || s.name === 'webgpu', 'webgpu was tried after node-gpu');
  assert.equal(s.forced, 'started: @tensorflow/tfjs-node-gpu, no GPU visible: running on the CPU');
});
