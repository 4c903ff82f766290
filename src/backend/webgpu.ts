// The tfjs WebGPU backend on Google's Dawn bindings (npm `webgpu`, an optional dependency): the
// GPU path that installs from npm on current Node versions, over Vulkan on Linux (the NVIDIA
// driver ships a Vulkan ICD; no CUDA toolkit). Loaded by select.ts like the native backends: a
// missing package, no Vulkan loader or no adapter throws a short reason that becomes a skip line.
import * as tf from '@tensorflow/tfjs';
import {
  type AdapterSummary,
  adapterLabel,
  type GPU,
  type GPUAdapterLike,
  type GPUDeviceLike,
  probeAdapter,
  requestAdapter,
} from './webgpu-adapter.js';
import { registerWebgpuKernels } from './webgpu-kernels.js';

export { type AdapterSummary, adapterLabel, probeAdapter, probeHardwareAdapter, requestAdapter, summarizeAdapter } from './webgpu-adapter.js';

export const WEBGPU_INSTALL_HINT =
  'npm install webgpu@0.6.2 (an optional dependency of ablate; Linux needs libvulkan1 and a Vulkan driver: the NVIDIA driver with its Vulkan ICD, check with `vulkaninfo --summary`; see docs/backends.md, "GPU with WebGPU")';

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
 * Starts tfjs on WebGPU and makes it current; returns the detail for the backend line. A software
 * adapter is refused unless `allowSoftware` (train.backend: webgpu forces it; `auto` does not).
 */
export async function loadWebgpu(allowSoftware: boolean): Promise<string> {
  if (state && !state.lost) {
    if (!allowSoftware && state.adapter.software) throw softwareOnly(state.adapter);
    await activateWebgpu();
    return adapterLabel(state.adapter);
  }
  if (!allowSoftware) {
    // auto: learn what the adapter is in a child first, so a machine with only a software one
    // (most machines without a GPU that have Mesa) never loads Dawn here.
    const probe = probeAdapter();
    if ('reason' in probe) throw new Error(probe.reason);
    if (probe.summary.software) throw softwareOnly(probe.summary);
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
  // finished `ablate run` exits (process.exit() ends the process whether or not it is released).
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
    '(check the driver with `nvidia-smi` and `vulkaninfo --summary`; train.backend: wasm trains on the CPU instead, from the start)'
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
