// Picks the tfjs backend once per process: tfjs-node-gpu, then WebGPU on Dawn when it finds a
// hardware adapter, then tfjs-node (these three are optional dependencies), then wasm with the
// project's kernels, then pure-JS cpu.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from './kernels/index.js';
import { loadWebgpu, WEBGPU_INSTALL_HINT, webgpuAdapter, adapterLabel } from './webgpu.js';

// tfjs's console notices ("Hi, looks like you are running TensorFlow.js in Node.js…" when the cpu
// backend first runs, kernel re-registration warnings) repeat what the backend line below says,
// with install hints; PROD silences only tfjs's own log/warn calls.
tf.env().set('PROD', true);

export type BackendName = 'node-gpu' | 'webgpu' | 'node' | 'wasm' | 'cpu';
export type BackendRequest = 'auto' | BackendName;
export const BACKEND_ORDER: readonly BackendName[] = ['node-gpu', 'webgpu', 'node', 'wasm', 'cpu'];

export interface BackendInfo {
  /** What to show and tag runs with (`backend` tag). */
  name: BackendName;
  /** tfjs's own name for it: 'tensorflow' for both native ones, 'webgpu', 'wasm' or 'cpu'. */
  tfBackend: string;
  requested: BackendRequest;
  /** Faster backends that were tried first and why each was skipped. */
  skipped: { name: BackendName; reason: string }[];
  /** Human-readable detail, e.g. "SIMD" for wasm, "NVIDIA H200, Vulkan" for webgpu. */
  detail: string;
  /** The GPU adapter for webgpu (`NVIDIA H200, Vulkan`), tagged on runs as `ablate.backend.device`. */
  device?: string;
}

/**
 * Loads one backend and makes it current; throws (anything) when it cannot. Returns a detail string.
 * `forced`: named by train.backend rather than tried by auto (webgpu then accepts a software adapter).
 */
export type BackendLoader = (forced: boolean) => Promise<string>;

export const INSTALL_HINTS: Record<BackendName, string> = {
  'node-gpu':
    'npm install @tensorflow/tfjs-node-gpu@4.22.0 (Linux x64 with an NVIDIA GPU, driver, CUDA 11.2 and cuDNN 8.1; see docs/backends.md)',
  webgpu: WEBGPU_INSTALL_HINT,
  node: 'npm install @tensorflow/tfjs-node@4.22.0 (prebuilt for Linux x64/arm64, macOS and Windows; see docs/backends.md)',
  wasm: 'npm install @tensorflow/tfjs-backend-wasm@4.22.0 (a regular dependency of ablate: reinstall node_modules)',
  cpu: 'npm install @tensorflow/tfjs@4.22.0',
};

export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: BackendName,
    readonly reason: string,
  ) {
    super(
      `train.backend is "${backend}" but that backend could not be started: ${reason}. ` +
        `Install it with: ${INSTALL_HINTS[backend]}; or set train.backend: auto to use the fastest available one.`,
    );
    this.name = 'BackendUnavailableError';
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string };
  return String(e?.message ?? err).split('\n')[0]!.slice(0, 300);
}

async function activate(name: string): Promise<void> {
  // setBackend resolves false (and tfjs silently keeps the previous backend) when init fails.
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) throw new Error(`tf.setBackend('${name}') failed to initialise`);
}

function nativeLoader(pkg: string, needsGpu = false): BackendLoader {
  return async (forced) => {
    try {
      // A variable specifier: these optional packages have no types installed here.
      await import(pkg);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      // "Not installed" only when the package itself is missing; a broken install (e.g. no
      // tfjs_binding.node, missing libcudart) keeps its own message.
      if (/MODULE_NOT_FOUND/.test(e?.code ?? '') && (e.message ?? '').includes(`'${pkg}'`)) {
        throw new Error('not installed');
      }
      throw err;
    }
    await activate('tensorflow');
    // tfjs-node-gpu without a visible GPU runs TensorFlow on the CPU: auto then prefers the next
    // backend (webgpu may still see the GPU through Vulkan when CUDA 11.2 is what is missing).
    const usingGpu = (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
    if (needsGpu && usingGpu === false) {
      if (!forced) throw new Error('started, but TensorFlow sees no GPU (check nvidia-smi and the CUDA 11.2 libraries)');
      return `${pkg}, no GPU visible: running on the CPU`;
    }
    return pkg;
  };
}

async function loadWasm(): Promise<string> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const req = createRequire(import.meta.url);
  // The .wasm binaries sit next to the package's main file; in Node a path prefix works.
  wasm.setWasmPaths(`${dirname(req.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  registerWasmKernels();
  await activate('wasm');
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  // One thread per backend: a run uses more cores through data-parallel workers (train.workers).
  return simd ? 'SIMD' : 'no SIMD';
}

export const defaultLoaders: Record<BackendName, BackendLoader> = {
  'node-gpu': nativeLoader('@tensorflow/tfjs-node-gpu', true),
  webgpu: (forced) => loadWebgpu(forced),
  node: nativeLoader('@tensorflow/tfjs-node'),
  wasm: loadWasm,
  cpu: async () => {
    // The wasm package registers its kernels at import; importing it first keeps that import
    // (when wasm is selected later in this process) from overwriting ours with the shipped ones.
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmKernels();
    await activate('cpu');
    return 'pure JS';
  },
};

/** Uncached selection; `loaders` lets tests simulate missing or broken backends. */
export async function selectBackend(
  requested: BackendRequest = 'auto',
  loaders: Partial<Record<BackendName, BackendLoader>> = {},
): Promise<BackendInfo> {
  const load = { ...defaultLoaders, ...loaders };
  if (requested !== 'auto' && !BACKEND_ORDER.includes(requested)) {
    throw new Error(`unknown train.backend "${String(requested)}"; use one of auto, ${BACKEND_ORDER.join(', ')}`);
  }
  const candidates = requested === 'auto' ? BACKEND_ORDER : [requested];
  const skipped: BackendInfo['skipped'] = [];
  for (const name of candidates) {
    try {
      const detail = await load[name](requested !== 'auto');
      const adapter = name === 'webgpu' ? webgpuAdapter() : undefined;
      return { name, tfBackend: tf.getBackend(), requested, skipped, detail, ...(adapter ? { device: adapterLabel(adapter) } : {}) };
    } catch (err) {
      if (requested !== 'auto') throw new BackendUnavailableError(name, describe(err));
      skipped.push({ name, reason: describe(err) });
    }
  }
  throw new Error(`no tfjs backend could be started: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

/**
 * Backends that spread one step over the hardware themselves: native TensorFlow over every core,
 * WebGPU over the GPU (one device, which worker threads with devices of their own would share).
 * They train as a single rank; data-parallel workers (train.workers) are for wasm and cpu.
 */
export function parallelisesItself(tfBackend: string): boolean {
  return tfBackend === 'tensorflow' || tfBackend === 'webgpu';
}

/** `backend: wasm (SIMD) × 2 workers [skipped …]`; the worker count only for the single-threaded backends. */
export function formatBackend(info: BackendInfo, workers?: number): string {
  const skipped = info.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  const ranks = workers !== undefined && !parallelisesItself(info.tfBackend) ? ` × ${workers} worker${workers === 1 ? '' : 's'}` : '';
  return `backend: ${info.name} (${info.detail})${ranks}${skipped ? ` [skipped ${skipped}]` : ''}`;
}

const cache = new Map<BackendRequest, Promise<BackendInfo>>();
let current: BackendInfo | undefined;

/**
 * Start-up entry point: `const { name } = await initBackend(spec.train.backend ?? 'auto')`, then tag
 * runs with `backend=name`. Selects, prints one line to stderr, and memoises: calling it again with
 * the same request returns the same result (and makes that backend current again if someone switched).
 * Rejects with BackendUnavailableError (message says how to install) for a forced backend that is missing.
 */
export async function initBackend(
  requested: BackendRequest = 'auto',
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  workers?: number,
): Promise<BackendInfo> {
  let p = cache.get(requested);
  if (!p) {
    p = selectBackend(requested).then((info) => {
      log(formatBackend(info, workers));
      return info;
    });
    cache.set(requested, p);
  }
  const info = await p;
  if (tf.getBackend() !== info.tfBackend) await activate(info.tfBackend);
  current = info;
  return info;
}

/** The backend chosen by the last successful initBackend, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}
