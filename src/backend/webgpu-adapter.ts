// What a WebGPU adapter is, without tfjs: loading Dawn (npm `webgpu`, optional), asking it for
// the high-performance adapter, its summary and label, whether it is software, and the same
// question asked of a child process (auto and a sweep's parent must not keep Dawn loaded, or
// print its driver warnings, only to learn that the adapter is a software one).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

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

/**
 * `NVIDIA H200, Vulkan`; a software adapter says so: `llvmpipe, Vulkan, software`. Dawn gives
 * `device` as a normalized identifier (`nvidia-h200`, `llvmpipe-llvm-15-0-6-256-bits-`) and
 * `description` as `driver name: driver info` (`llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)`), so the
 * name is rebuilt from those: a software renderer by its driver's name, a GPU by its device with
 * the driver's spelling of the vendor and model numbers in capitals.
 */
export function adapterLabel(a: AdapterSummary): string {
  const driver = a.description.split(':')[0]!.trim();
  const words = a.device.split('-').filter(Boolean);
  let name: string;
  if (a.software && driver) name = driver;
  else if (words.length) {
    name = words.map((w) => (w === driver.toLowerCase() ? driver : /\d/.test(w) && /[a-z]/.test(w) ? w.toUpperCase() : w)).join(' ');
  } else name = a.description || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  return `${name}, ${a.api}${a.software ? ', software' : ''}`;
}

// Just what is used of the WebGPU API, so the types do not depend on the optional package.
export interface GPUDeviceLike {
  readonly lost: Promise<{ reason?: string; message?: string }>;
  destroy(): void;
}
export interface GPUAdapterLike {
  readonly info: object;
  readonly features: { has(name: string): boolean };
  readonly limits: Record<string, number>;
  requestDevice(descriptor: object): Promise<GPUDeviceLike>;
}
export interface GPU {
  requestAdapter(options: { powerPreference: string }): Promise<GPUAdapterLike | null>;
}
interface WebgpuModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

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

// Where Debian/Ubuntu, Fedora and Arch put the Vulkan loader Dawn opens (libvulkan.so.1).
const LOADER_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];

/** Linux only: whether libvulkan.so.1 is in a standard place or on LD_LIBRARY_PATH. */
function hasVulkanLoader(): boolean {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LOADER_DIRS];
  return dirs.some((d) => existsSync(`${d}/libvulkan.so.1`));
}

const NO_ADAPTER_HINT =
  process.platform === 'linux'
    ? 'is a Vulkan driver installed? `vulkaninfo --summary` should list the GPU; on NVIDIA it comes with the driver'
    : 'no usable GPU';

/**
 * Loads Dawn and finds its high-performance adapter, in this process. Throws the skip reason when
 * there is none (package missing or broken, no Vulkan loader, no adapter). Sets WebGPU's enums
 * (GPUBufferUsage, GPUMapMode, ...) as globals, as a browser has them: tfjs uses them so.
 */
export async function requestAdapter(): Promise<{ gpu: GPU; adapter: GPUAdapterLike; summary: AdapterSummary }> {
  const dawn = await importDawn();
  if (process.platform === 'linux' && !hasVulkanLoader()) {
    throw new Error('no Vulkan loader (libvulkan.so.1): install libvulkan1 and the GPU\'s Vulkan driver (the NVIDIA driver ships one)');
  }
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  // create([]) picks Dawn's native API: Vulkan on Linux.
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(`no WebGPU adapter found (Dawn over ${nativeApi()}: ${NO_ADAPTER_HINT})`);
  return { gpu, adapter, summary: summarizeAdapter(adapter.info as unknown as Record<string, unknown>) };
}

export type AdapterProbe = { summary: AdapterSummary } | { reason: string };

/**
 * requestAdapter asked of a short child process, so the asking process never loads Dawn or holds
 * an adapter: `auto` (which on a software adapter does not use it) and a sweep's parent. Dawn's
 * driver warnings stay in the child's stderr. ~0.3–1 s, paid once per process that asks.
 * `env`: for tests (hide the Vulkan driver, or the package).
 */
export function probeAdapter(env: NodeJS.ProcessEnv = process.env): AdapterProbe {
  if (process.platform === 'linux' && !hasVulkanLoader()) {
    // Cheap, and the common case on a machine without a GPU: no process to start.
    return { reason: 'no Vulkan loader (libvulkan.so.1): install libvulkan1 and the GPU\'s Vulkan driver (the NVIDIA driver ships one)' };
  }
  try {
    // Without the package (installed with --omit=optional, or a platform npm skipped) there is
    // nothing to ask a child; the child's own import gives the reason when it is there but broken.
    createRequire(import.meta.url).resolve('webgpu');
  } catch {
    return { reason: 'not installed' };
  }
  const script = `const m = await import(${JSON.stringify(import.meta.url)});
let out;
try { out = { summary: (await m.requestAdapter()).summary }; } catch (e) { out = { reason: String(e?.message ?? e) }; }
process.stdout.write(JSON.stringify(out));
process.exit(0);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env });
  try {
    return JSON.parse(r.stdout) as AdapterProbe;
  } catch {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}: ${r.stderr.trim().split('\n').at(-1) ?? ''}`;
    return { reason: `the WebGPU probe failed (${why})` };
  }
}

/** Whether `auto` would pick webgpu here: Dawn finds a hardware adapter (probed in a child). */
export function probeHardwareAdapter(): boolean {
  const p = probeAdapter();
  return 'summary' in p && !p.summary.software;
}
