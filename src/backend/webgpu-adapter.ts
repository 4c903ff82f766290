// What a WebGPU adapter is, without tfjs: its summary and label, whether it is software, and a
// probe run in a child process (for a sweep's parent, which must not load tfjs or hold a device).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** What the adapter says about itself (GPUAdapterInfo), plus the API Dawn drives it through. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Dawn marks CPU implementations (lavapipe/llvmpipe, SwiftShader) as fallback adapters. */
  software: boolean;
  api: string;
}

/**
 * Dawn's native API per platform. GPUAdapterInfo does not report it, and these are the only
 * core-feature-level backends Dawn builds for each (OpenGL ES is compatibility mode, not requested).
 */
export function nativeApi(): string {
  return process.platform === 'darwin' ? 'Metal' : process.platform === 'win32' ? 'D3D12' : 'Vulkan';
}

// Belt and braces next to isFallbackAdapter: older drivers/bindings may not set it, and picking a
// software rasteriser on a CPU-only machine would make `auto` ~4× slower than wasm (measured: a
// small convnet step 1.1–1.4 s on lavapipe vs ~0.3 s on wasm).
const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|software rasterizer|warp/i;

export function summarizeAdapter(info: Partial<Record<string, unknown>>): AdapterSummary {
  const s = (k: string) => (typeof info[k] === 'string' ? (info[k] as string) : '');
  const text = `${s('vendor')} ${s('architecture')} ${s('device')} ${s('description')}`;
  return {
    vendor: s('vendor'),
    architecture: s('architecture'),
    device: s('device'),
    description: s('description'),
    software: info.isFallbackAdapter === true || s('architecture') === 'software' || SOFTWARE_NAMES.test(text),
    api: nativeApi(),
  };
}

/** `NVIDIA H200, Vulkan`; a software adapter says so: `llvmpipe: Mesa 25.0.7 (LLVM 15.0.6), Vulkan, software`. */
export function adapterLabel(a: AdapterSummary): string {
  const name = a.description || a.device || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  return `${name.trim()}, ${a.api}${a.software ? ', software' : ''}`;
}

/**
 * Whether `auto` would pick webgpu here (Dawn finds a hardware adapter), asked of a short child
 * process so the asking process (a sweep's parent) never holds a device. False when the package
 * is missing. ~0.3 s; only sweeps deciding their default parallelism call it.
 */
export function probeHardwareAdapter(): boolean {
  let entry: string;
  try {
    entry = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch {
    return false;
  }
  const script = `const { create } = await import(${JSON.stringify(entry)});
const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = a?.info ?? {};
process.stdout.write(a ? JSON.stringify({ vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter }) : 'null');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  try {
    const info = JSON.parse(r.stdout) as Record<string, unknown> | null;
    return info !== null && !summarizeAdapter(info).software;
  } catch {
    return false;
  }
}

