// bench:train — median training-step time of the three reference steps (src/backend/reference.ts)
// on every backend available here, side by side in one run; next to PyTorch CPU (bench/torch_peer.py,
// the same layers) when python3 can import torch (Debian: apt-get install python3-torch).
// Then every core: the convnet and DCGAN steps as ablate trains them (bench/reference-parallel.ts:
// the shard gradient, DataParallel over train.workers) with 1 worker and with all cores, and
// PyTorch with 1 thread and with all threads, interleaved round by round (the four columns share
// each minute of this machine's drifting load).
// Last stdout line: one JSON object with the best backend's step times (wall and process-CPU
// medians) and, with PyTorch, ratio_<step> = tfjs wall / mean of the PyTorch runs just before and
// just after the best backend's column, and ratio_<step>_cpu = tfjs CPU / PyTorch CPU medians; and
// workers, <step>_step_ms_1w / <step>_step_ms_all (ablate), torch_<step>_step_ms_1t / _all,
// ratio_<step>_all = ablate all cores / PyTorch all threads, scaling_<step> = 1 worker / all cores.
// Without torch, the torch_* and ratio_* fields are null and "torch" says why.
//   node dist/bench/train.js [--full] [--profile] [--steps N] [--backend NAME[,NAME...]] [--rounds R] [--workers W]
//   --full     also time the conv steps on the pure-JS cpu backend (~1.5–3 min per step)
//   --profile  per-kernel CPU-time breakdown on the best backend
//   --backend  only these backends, in this order, each forced (webgpu then also runs on a
//              software adapter, ~1 s per small step on lavapipe); a backend that cannot start
//              is an error; no shipped-kernel wasm column. Without it: every backend that
//              starts, webgpu only on a hardware GPU.
//   --rounds   interleaved rounds of the all-cores comparison (default 5, 3 timed steps each)
//   --workers  ablate's "all cores" (default: os.availableParallelism())
// With webgpu the JSON also has `adapter` and `step_ms` (every column's medians): what
// bench/gpu-check.sh prints. The all-cores comparison runs only when the best backend is wasm or
// cpu (the backends that train as several ranks).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { BACKEND_ORDER, type BackendInfo, type BackendName, selectBackend } from '../src/backend/index.js';
import { useShippedWasmKernel } from '../src/backend/kernels/index.js';
import { shippedWasmKernel } from '../src/backend/kernels/wasm-ops.js';
import { REFERENCE_STEPS, type ReferenceStep } from '../src/backend/reference.js';
import { type ReferenceKind, referenceTrainer } from './reference-parallel.js';

const args = process.argv.slice(2);
const full = args.includes('--full');
const profile = args.includes('--profile');
const stepsArg = args.indexOf('--steps');
const TIMED = stepsArg >= 0 ? Number(args[stepsArg + 1]) : 7;
const backendArg = args.indexOf('--backend');
const only = backendArg >= 0 ? (args[backendArg + 1] ?? '').split(',').filter(Boolean) : undefined;
for (const b of only ?? []) {
  if (!(BACKEND_ORDER as readonly string[]).includes(b)) throw new Error(`--backend ${b}: use one or more of ${BACKEND_ORDER.join(', ')}, comma-separated`);
}
const numArg = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROUNDS = numArg('--rounds', 5);
const ALL = numArg('--workers', availableParallelism());
const PER_ROUND = 3;
// The first python3 on PATH may be a virtual environment without torch; Debian's python3-torch is /usr/bin's.
const PYTHONS = ['python3', '/usr/bin/python3'];
const PEER = process.env.ABLATE_TORCH_PEER ?? fileURLToPath(new URL('../../bench/torch_peer.py', import.meta.url));
const WARMUP = 2;
type StepName = keyof typeof REFERENCE_STEPS;
const STEP_NAMES = Object.keys(REFERENCE_STEPS) as StepName[];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Process CPU time in ms (user + system): on a loaded machine it moves far less than wall time. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const cpuTimes: Partial<Record<StepName, number>> = {};

/**
 * Median wall time of `timed` steps after `warmup`. `async`: read the losses back with data()
 * (webgpu in Node has no synchronous readback); either way the step has fully finished.
 */
async function timeSteps(make: () => ReferenceStep, warmup: number, timed: number, cpuOf?: StepName, async = false): Promise<number> {
  const s = make();
  const step = async (i: number) => (async ? await s.stepAsync(i) : s.step(i));
  try {
    for (let i = 0; i < warmup; i++) await step(i);
    const ts: number[] = [];
    const cs: number[] = [];
    for (let i = 0; i < timed; i++) {
      const t0 = performance.now();
      const c0 = cpuMs();
      await step(warmup + i);
      ts.push(performance.now() - t0);
      cs.push(cpuMs() - c0);
    }
    if (cpuOf) cpuTimes[cpuOf] = median(cs);
    return median(ts);
  } finally {
    s.dispose();
  }
}

const started = new Map<BackendName, BackendInfo>();

async function available(): Promise<BackendName[]> {
  if (only) {
    // Forced: a backend that cannot start says why (selectBackend's install hint), nothing is skipped.
    for (const name of only as BackendName[]) started.set(name, await selectBackend(name));
    return only as BackendName[];
  }
  const out: BackendName[] = [];
  for (const name of BACKEND_ORDER) {
    try {
      // webgpu as auto would take it: on a hardware adapter only.
      const info = name === 'webgpu' ? await selectBackend('auto', autoUpTo('webgpu')) : await selectBackend(name);
      if (info.name !== name) continue;
      started.set(name, info);
      out.push(name);
    } catch {}
  }
  return out;
}

/** Loaders for auto that refuse everything but `name`, so auto's rules for it apply alone. */
function autoUpTo(name: BackendName): Partial<Record<BackendName, () => Promise<string>>> {
  const refuse = async (): Promise<string> => {
    throw new Error('not measured here');
  };
  return Object.fromEntries(BACKEND_ORDER.filter((b) => b !== name).map((b) => [b, refuse]));
}

interface Column {
  label: string;
  backend: BackendName;
  ms: Partial<Record<StepName, number>>;
}

/**
 * Per-kernel process-CPU time of one step (median-free: the mean of PROFILE_STEPS steps), measured by
 * wrapping every registered kernel of the backend. CPU time, unlike tf.profile's wall-clock kernel
 * times, barely moves with the load of this shared machine. Kernels that our kernels call directly
 * (not through the engine) count inside ours; conv rows are split by input/filter shape.
 */
async function profileSteps(backend: BackendName): Promise<void> {
  if (backend === 'webgpu') {
    // Kernels there only enqueue GPU work: their CPU time says nothing about the step.
    console.log('\nprofile: not on webgpu (GPU kernels run asynchronously; use the step times)');
    return;
  }
  await selectBackend(backend);
  const PROFILE_STEPS = 3;
  const kernels = tf.getKernelsForBackend(backend);
  // Pin the shipped kernels our kernels delegate to before wrapping, so they keep calling the originals.
  if (backend === 'wasm') {
    for (const k of kernels) {
      try {
        shippedWasmKernel(k.kernelName);
      } catch {}
    }
  }
  const acc = new Map<string, { ms: number; n: number }>();
  const wrap = (k: tf.KernelConfig): tf.KernelConfig => ({
    ...k,
    setupFunc: undefined,
    kernelFunc: (args) => {
      const c0 = cpuMs();
      const out = k.kernelFunc(args);
      const ms = cpuMs() - c0;
      let key = k.kernelName;
      if (key.includes('Conv2D')) {
        const shapes = Object.values(args.inputs).map((t) => t?.shape);
        key += ` ${JSON.stringify(shapes.slice(0, 2)).replace(/"/g, '')}`;
      }
      const e = acc.get(key) ?? { ms: 0, n: 0 };
      e.ms += ms;
      e.n += 1;
      acc.set(key, e);
      return out;
    },
  });
  const swap = (configs: tf.KernelConfig[]) => {
    for (const k of configs) {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    }
  };
  swap(kernels.map(wrap));
  try {
    for (const name of STEP_NAMES) {
      const s = REFERENCE_STEPS[name]();
      s.step(0);
      s.step(1);
      acc.clear();
      const c0 = cpuMs();
      for (let i = 0; i < PROFILE_STEPS; i++) s.step(2 + i);
      const step = (cpuMs() - c0) / PROFILE_STEPS;
      s.dispose();
      const inKernels = [...acc.values()].reduce((p, e) => p + e.ms, 0) / PROFILE_STEPS;
      console.log(
        `\nprofile ${name} on ${backend}: ${step.toFixed(1)} ms CPU per step, ${inKernels.toFixed(1)} ms in kernels (mean of ${PROFILE_STEPS} steps)`,
      );
      const rows = [...acc.entries()].sort((p, q) => q[1].ms - p[1].ms).slice(0, 16);
      for (const [k, e] of rows) {
        const ms = e.ms / PROFILE_STEPS;
        console.log(`  ${k.padEnd(50)} ${ms.toFixed(1).padStart(7)} ms ${((100 * ms) / step).toFixed(1).padStart(5)}%  ×${e.n / PROFILE_STEPS}`);
      }
    }
  } finally {
    swap(kernels);
  }
}

/**
 * Runs the PyTorch peer (one thread) and returns its per-step medians. `cpu`: the peer's clock
 * (time.perf_counter) is swapped for time.process_time, so it reports process-CPU medians, the
 * counterpart of <step>_step_cpu_ms.
 */
function torchPeer(cpu = false): Partial<Record<StepName, number>> | undefined {
  const script = PEER;
  if (!existsSync(script)) return undefined;
  for (const py of PYTHONS) {
    const probe = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (probe.status !== 0) continue;
    const argv = cpu
      ? ['-c', 'import runpy, sys, time; time.perf_counter = time.process_time; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")', script, '1']
      : [script, '1'];
    const r = spawnSync(py, argv, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    if (r.status !== 0) return undefined;
    const map: Record<string, StepName> = { dcgan_upsample_b64: 'dcgan', convnet32_b64: 'convnet', dense2048x300_b128: 'dense' };
    const out: Partial<Record<StepName, number>> = {};
    for (const line of r.stdout.trim().split('\n')) {
      const j = JSON.parse(line) as { case: string; median_ms: number };
      const k = map[j.case];
      if (k) out[k] = j.median_ms;
    }
    return out;
  }
  return undefined;
}

const fmt = (ms: number | undefined) => (ms === undefined ? '—' : ms >= 10000 ? `${(ms / 1000).toFixed(0)} s` : `${ms.toFixed(0)} ms`);

const backends = await available();
// PyTorch runs right before and right after the best backend's column, and the ratio uses the mean
// of the two: the load on this shared machine drifts within minutes, and a single PyTorch run at the
// end (after the slower comparison columns) made the ratio depend on that drift.
const torchBefore = torchPeer();
let torchAfter: Partial<Record<StepName, number>> | undefined;
let torchCpu: Partial<Record<StepName, number>> | undefined;
const columns: Column[] = [];
for (const backend of backends) {
  await selectBackend(backend);
  const col: Column = { label: backend, backend, ms: {} };
  const first = columns.length === 0;
  for (const n of STEP_NAMES) {
    if (backend === 'cpu' && n !== 'dense' && !full) continue;
    const slow = backend === 'cpu' && n !== 'dense';
    col.ms[n] = await timeSteps(REFERENCE_STEPS[n], slow ? 0 : WARMUP, slow ? 1 : TIMED, first ? n : undefined, backend === 'webgpu');
  }
  if (first && torchBefore) {
    torchAfter = torchPeer();
    torchCpu = torchPeer(true);
  }
  if (backend === 'wasm' && !only) {
    // What the replaced Conv2DBackpropInput is worth: same run, shipped kernel swapped back in.
    useShippedWasmKernel('Conv2DBackpropInput', true);
    const shipped: Column = { label: 'wasm, shipped BackpropInput', backend, ms: {} };
    for (const n of ['dcgan', 'convnet'] as const) shipped.ms[n] = await timeSteps(REFERENCE_STEPS[n], WARMUP, TIMED);
    useShippedWasmKernel('Conv2DBackpropInput', false);
    columns.push(shipped);
  }
  columns.push(col);
}
// Best = the first (fastest by selection order) backend that ran every step.
const best = columns.find((c) => c.label === c.backend && STEP_NAMES.every((n) => c.ms[n] !== undefined))!;
let torch: Partial<Record<StepName, number>> | undefined;
if (torchBefore) {
  torch = {};
  for (const n of STEP_NAMES) {
    const runs = [torchBefore[n], torchAfter?.[n]].filter((v): v is number => v !== undefined);
    if (runs.length) torch[n] = Number((runs.reduce((p, q) => p + q, 0) / runs.length).toFixed(2));
  }
  columns.push({ label: 'pytorch cpu (1 thread)', backend: 'cpu', ms: torch });
}
const header = ['step', ...columns.map((c) => c.label)];
if (torch) header.push(`${best.label} / pytorch`);
const rows = STEP_NAMES.map((n) => {
  const r = [n, ...columns.map((c) => fmt(c.ms[n]))];
  if (torch) r.push(torch[n] ? `${(best.ms[n]! / torch[n]!).toFixed(2)}×` : '—');
  return r;
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`median step time, ${WARMUP} warm-up + ${TIMED} timed steps (cpu conv: 1 step, only with --full)`);
if (torch) {
  const runs = (t: Partial<Record<StepName, number>> | undefined) => STEP_NAMES.map((n) => fmt(t?.[n])).join(' / ');
  console.log(`pytorch before / after the ${best.label} column: ${runs(torchBefore)} | ${runs(torchAfter)} (${STEP_NAMES.join(' / ')})`);
  const cpuRatio = (n: StepName) => (cpuTimes[n] && torchCpu?.[n] ? `${(cpuTimes[n]! / torchCpu[n]!).toFixed(2)}×` : '—');
  console.log(
    `process-CPU medians, ${best.label} vs pytorch: ${STEP_NAMES.map((n) => `${n} ${fmt(cpuTimes[n])} vs ${fmt(torchCpu?.[n])} = ${cpuRatio(n)}`).join(', ')}`,
  );
}
const webgpu = started.get('webgpu');
if (webgpu) console.log(`webgpu adapter: ${webgpu.device ?? webgpu.detail}`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
if (profile) await profileSteps(best.backend);

const result: Record<string, unknown> = {
  backend: best.backend,
  dcgan_step_ms: Number(best.ms.dcgan!.toFixed(1)),
  convnet_step_ms: Number(best.ms.convnet!.toFixed(1)),
  dense_step_ms: Number(best.ms.dense!.toFixed(1)),
  steps_timed: TIMED,
};
for (const n of STEP_NAMES) if (cpuTimes[n] !== undefined) result[`${n}_step_cpu_ms`] = Number(cpuTimes[n]!.toFixed(1));
if (webgpu) {
  result.adapter = webgpu.device ?? webgpu.detail;
  result.step_ms = Object.fromEntries(
    columns.filter((c) => c.label === c.backend).map((c) => [c.label, Object.fromEntries(STEP_NAMES.map((n) => [n, c.ms[n] === undefined ? null : Number(c.ms[n]!.toFixed(1))]))]),
  );
}
if (torch) {
  for (const n of STEP_NAMES) {
    if (torch[n]) {
      result[`torch_${n}_step_ms`] = torch[n];
      result[`torch_${n}_step_ms_runs`] = [torchBefore?.[n], torchAfter?.[n]].filter((v) => v !== undefined);
      result[`ratio_${n}`] = Number((best.ms[n]! / torch[n]!).toFixed(2));
      if (torchCpu?.[n] && cpuTimes[n]) {
        result[`torch_${n}_step_cpu_ms`] = torchCpu[n];
        result[`ratio_${n}_cpu`] = Number((cpuTimes[n]! / torchCpu[n]!).toFixed(2));
      }
    }
  }
}
if (best.backend === 'wasm' || best.backend === 'cpu') Object.assign(result, await allCores(best.backend));
else result.workers = `not measured: ${best.backend} spreads a step over the cores itself`;
console.log(JSON.stringify(result));

/** The peer in --serve mode: one python process, asked for a few steps at a time. */
async function torchServer(): Promise<{ ask(kind: ReferenceKind, threads: number, n: number): Promise<number[]>; close(): void } | string> {
  if (!existsSync(PEER)) return `no peer script at ${PEER}`;
  const python = PYTHONS.find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
  if (!python) return `no python3 here can import torch (${PYTHONS.join(', ')}); apt-get install python3-torch`;
  const py = spawn(python, [PEER, '--serve'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, OMP_NUM_THREADS: String(ALL) } });
  const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse(((await lines.next()).value as string | undefined) ?? 'null') as { ms?: number[] } | null;
  if (!(await next())) return 'the torch peer did not start';
  return {
    async ask(kind, threads, n) {
      py.stdin.write(`${kind} ${threads} ${n}\n`);
      const r = await next();
      if (!r?.ms) throw new Error('the torch peer stopped answering');
      return r.ms;
    },
    close: () => py.stdin.end(),
  };
}

/**
 * ablate with 1 worker and with ALL workers, PyTorch with 1 and ALL threads, interleaved: each round
 * times PER_ROUND steps of each of the four (after warm-up steps in round 0), so slow minutes of
 * this shared machine fall on all columns alike; the medians are over all rounds' steps.
 */
async function allCores(backend: string): Promise<Record<string, unknown>> {
  await selectBackend(backend as BackendName);
  const load0 = loadavg()[0]!;
  const torch = await torchServer();
  const kinds: ReferenceKind[] = ['convnet', 'dcgan'];
  const out: Record<string, unknown> = { workers: ALL, rounds: ROUNDS, load_1min: [Number(load0.toFixed(2))] };
  if (typeof torch === 'string') out.torch = `missing: ${torch}`;
  for (const kind of kinds) {
    const trainers = { one: await referenceTrainer(kind, 1), all: await referenceTrainer(kind, ALL) };
    const ms: Record<'one' | 'all' | 't1' | 'tall', number[]> = { one: [], all: [], t1: [], tall: [] };
    let i = 0;
    const time = async (t: { step(i: number): Promise<void> }, n: number, into?: number[]) => {
      for (let k = 0; k < n; k++) {
        const t0 = performance.now();
        await t.step(i++);
        into?.push(performance.now() - t0);
      }
    };
    await time(trainers.one, WARMUP);
    await time(trainers.all, WARMUP);
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which side goes first, so neither always runs right after the other.
      const order = r % 2 === 0 ? ['ablate', 'torch'] : ['torch', 'ablate'];
      for (const side of order) {
        if (side === 'ablate') {
          await time(trainers.one, PER_ROUND, ms.one);
          await time(trainers.all, PER_ROUND, ms.all);
        } else if (typeof torch !== 'string') {
          ms.t1.push(...(await torch.ask(kind, 1, PER_ROUND)));
          ms.tall.push(...(await torch.ask(kind, ALL, PER_ROUND)));
        }
      }
    }
    await trainers.one.close();
    await trainers.all.close();
    const med = (xs: number[]) => (xs.length ? Number(median(xs).toFixed(1)) : null);
    const [one, all, t1, tall] = [med(ms.one), med(ms.all), med(ms.t1), med(ms.tall)];
    Object.assign(out, {
      [`${kind}_step_ms_1w`]: one,
      [`${kind}_step_ms_all`]: all,
      [`scaling_${kind}`]: one && all ? Number((one / all).toFixed(2)) : null,
      [`torch_${kind}_step_ms_1t`]: t1,
      [`torch_${kind}_step_ms_all`]: tall,
      [`ratio_${kind}_1`]: one && t1 ? Number((one / t1).toFixed(2)) : null,
      [`ratio_${kind}_all`]: all && tall ? Number((all / tall).toFixed(2)) : null,
    });
    console.log(
      `${kind}, all cores (${ALL}), medians of ${ROUNDS}×${PER_ROUND} interleaved steps: ablate 1 worker ${fmt(one ?? undefined)}, ${ALL} workers ${fmt(all ?? undefined)} (×${out[`scaling_${kind}`] ?? '—'}); pytorch 1 thread ${fmt(t1 ?? undefined)}, ${ALL} threads ${fmt(tall ?? undefined)}; ablate/pytorch all ${out[`ratio_${kind}_all`] ?? '—'}`,
    );
  }
  if (typeof torch !== 'string') torch.close();
  (out.load_1min as number[]).push(Number(loadavg()[0]!.toFixed(2)));
  return out;
}
