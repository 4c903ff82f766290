// The tfjs WebGPU backend on Google's Dawn bindings (npm `webgpu`, an optional dependency): the
// GPU path that installs from npm on current Node versions, over Vulkan on Linux (the NVIDIA
// driver ships a Vulkan ICD; no CUDA toolkit). Loaded by select.ts like the native backends: a
// missing package, no Vulkan loader or no adapter throws a short reason that becomes a skip line.
import * as tf from '@tensorflow/tfjs';
import { type AdapterSummary, adapterLabel, nativeApi, summarizeAdapter } from './webgpu-adapter.js';
import { registerWebgpuKernels } from './webgpu-kernels.js';

export { type AdapterSummary, adapterLabel, probeHardwareAdapter, summarizeAdapter } from './webgpu-adapter.js';

export const WEBGPU_INSTALL_HINT =
  'npm install webgpu@0.6.2 (an optional dependency of ablate; Linux needs libvulkan1 and a Vulkan driver: the NVIDIA driver with its Vulkan ICD, check with `vulkaninfo --summary`; see docs/backends.md, "GPU with WebGPU")';

// Just what is used of the WebGPU API, so the types do not depend on the optional package.
interface GPUDeviceLike {
  readonly lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
}
interface GPUAdapterLike {
  readonly info: object;
  readonly features: { has(name: string): boolean };
  readonly limits: Record<string, number>;
  requestDevice(descriptor: object): Promise<GPUDeviceLike>;
}
interface GPU {
  requestAdapter(options: { powerPreference: string }): Promise<GPUAdapterLike | null>;
}

interface WebgpuModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** The live device; undefined until loaded. */
let state:
  | {
      device: GPUDeviceLike;
      adapter: AdapterSummary;
      /** Set when the device is lost for a reason other than our own release(). */
      lost?: { reason: string; message: string };
      releasing: boolean;
    }
  | undefined;

async function importDawn(): Promise<WebgpuModule> {
  try {
    // A variable specifier: an optional dependency that may be absent.
    const pkg = 'webgpu';
    return (await import(pkg)) as WebgpuModule;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (/MODULE_NOT_FOUND/.test(e?.code ?? '') && /'webgpu'/.test(e.message ?? '')) throw new Error('not installed');
    // Present but broken (no dawn.node for this platform, a libc mismatch): keep its own message.
    throw new Error(`the webgpu package does not load: ${String(e?.message ?? err).split('\n')[0]}`);
  }
}

/** tfjs's own device descriptor (tfjs-backend-webgpu base.ts): the limits its kernels rely on. */
function deviceDescriptor(adapter: GPUAdapterLike): object {
  const features: string[] = [];
  if (adapter.features.has('timestamp-query')) features.push('timestamp-query');
  const l = adapter.limits;
  return {
    requiredFeatures: features,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  };
}

function setNavigatorGpu(gpu: GPU): void {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  // Node ≥ 21 has a global navigator (without gpu); Node 20 has none.
  if (g.navigator && typeof g.navigator === 'object') {
    if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
}

/**
 * Finds Dawn's high-performance adapter without starting tfjs. Throws the skip reason when there
 * is none. `create([])` picks Vulkan on Linux; no Vulkan loader or ICD means no adapter.
 */
export async function requestAdapter(): Promise<{ gpu: GPU; adapter: GPUAdapterLike; summary: AdapterSummary }> {
  const dawn = await importDawn();
  // WebGPU's enums (GPUBufferUsage, GPUMapMode, ...) are globals in a browser; tfjs uses them so.
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error(
      `no WebGPU adapter found (Dawn over ${nativeApi()}: ${process.platform === 'linux' ? 'is libvulkan1 installed with a Vulkan driver? `vulkaninfo --summary` should list the GPU' : 'no usable GPU'})`,
    );
  }
  return { gpu, adapter, summary: summarizeAdapter(adapter.info as unknown as Record<string, unknown>) };
}

/**
 * Starts tfjs on WebGPU and makes it current; returns the detail for the backend line. A software
 * adapter is refused unless `allowSoftware` (train.backend: webgpu forces it; `auto` does not).
 */
export async function loadWebgpu(allowSoftware: boolean): Promise<string> {
  if (state && !state.lost) {
    if (!allowSoftware && state.adapter.software) throw softwareOnly(state.adapter);
    await activateWebgpu();
    return adapterLabel(state.adapter);
  }
  const { gpu, adapter, summary } = await requestAdapter();
  if (summary.software && !allowSoftware) throw softwareOnly(summary);
  // The backend module registers itself at import when navigator.gpu exists, with its own adapter
  // request; importing it before navigator.gpu is set keeps that from happening, so the device
  // (and its loss handler) is the one made here.
  const { WebGPUBackend, webgpu_util } = await import('@tensorflow/tfjs-backend-webgpu');
  setNavigatorGpu(gpu);
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  const s: NonNullable<typeof state> = { device, adapter: summary, releasing: false };
  state = s;
  void device.lost.then((info) => {
    if (s.releasing) return;
    s.lost = { reason: info.reason ?? 'unknown', message: info.message ?? '' };
    process.stderr.write(`${deviceLostMessage()}\n`);
  });
  if (tf.findBackend('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(device as never, adapter.info as never), 0);
  registerWebgpuKernels(webgpu_util as never);
  await activateWebgpu();
  // A process on Dawn keeps running until the device is released; release it on the way out so a
  // finished `ablate run` exits (process.exit paths are covered by 'exit').
  process.once('beforeExit', releaseWebgpu);
  return adapterLabel(summary);
}

async function activateWebgpu(): Promise<void> {
  const ok = await tf.setBackend('webgpu');
  if (!ok || tf.getBackend() !== 'webgpu') throw new Error("tf.setBackend('webgpu') failed to initialise");
}

function softwareOnly(a: AdapterSummary): Error {
  return new Error(
    `only a software adapter (${adapterLabel(a)}): slower than wasm, so auto skips it; set train.backend: webgpu to use it anyway`,
  );
}

/** The adapter in use, when webgpu was started. */
export function webgpuAdapter(): AdapterSummary | undefined {
  return state?.adapter;
}

/** Why the device was lost, if it was (driver reset, GPU removed, out of memory, watchdog). */
export function webgpuDeviceLost(): { reason: string; message: string } | undefined {
  return state?.lost;
}

export function deviceLostMessage(): string {
  const l = state?.lost;
  if (!l || !state) return '';
  return (
    `the GPU device was lost (${state ? adapterLabel(state.adapter) : 'webgpu'}; reason: ${l.reason}${l.message ? `, ${l.message}` : ''}): ` +
    'the run stops as FAILED; its last checkpoint is intact, so rerunning the same command resumes from it ' +
    '(check the driver with `nvidia-smi` / `vulkaninfo --summary`, or set train.backend: wasm)'
  );
}

/**
 * The error a run fails with: once the device is lost, whatever op noticed it first throws
 * something unhelpful (a rejected mapAsync, a validation error), so the loss is said first.
 */
export function deviceLostError(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  if (!state?.lost || e.message.startsWith('the GPU device was lost')) return e;
  const wrapped = new Error(`${deviceLostMessage()}\n  (the op that noticed: ${e.message.split('\n')[0]})`);
  wrapped.stack = `${wrapped.message}\n${(e.stack ?? '').split('\n').slice(1).join('\n')}`;
  return wrapped;
}

/**
 * Releases the device so the process can exit and the GPU's memory is returned. Afterwards the
 * webgpu backend is gone from tfjs; a later loadWebgpu starts a new device.
 */
export function releaseWebgpu(): void {
  const s = state;
  if (!s) return;
  s.releasing = true;
  state = undefined;
  if (tf.findBackend('webgpu')) {
    if (tf.getBackend() === 'webgpu') {
      // Leave tfjs on a working backend rather than a disposed one.
      const fallback = ['wasm', 'cpu'].find((b) => tf.findBackend(b));
      if (fallback) void tf.setBackend(fallback);
    }
    tf.removeBackend('webgpu');
  }
  s.device.destroy();
}

/** For tests: make the live device lost as a driver reset would (Dawn reports reason 'destroyed'). */
export function loseWebgpuDeviceForTest(): void {
  state?.device.destroy();
}
