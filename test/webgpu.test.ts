// The WebGPU backend (Dawn, npm `webgpu`) against tfjs's cpu backend, on whatever adapter Dawn
// finds: in CI that is Mesa's software Vulkan (lavapipe, installed by .ci/run), on a workstation
// the GPU. Gradients of every op our models train with, a few training steps of each task on tiny
// data, tensor memory across epochs and trials, selection (auto never takes a software adapter),
// and device loss as a failed run with a usable checkpoint. Skipped, with the reason printed, only
// when no adapter exists. Shapes are tiny: every new shape compiles shaders (~0.1 s each on lavapipe).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { BackendUnavailableError, formatBackend, initBackend, selectBackend } from '../src/backend/index.js';
import { dcganStep } from '../src/backend/reference.js';
import {
  adapterLabel,
  loseWebgpuDeviceForTest,
  releaseWebgpu,
  requestAdapter,
  summarizeAdapter,
  webgpuAdapter,
} from '../src/backend/webgpu.js';
import { openArray, writeArray } from '../src/data/zarr.js';
import { executePipeline } from '../src/pipeline/execute.js';
import { planPipeline } from '../src/pipeline/plan.js';
import { loadSpec } from '../src/spec/load.js';
import { readStore } from '../src/track/reader.js';
import { clipWeights, criticLoss, discriminatorCrossEntropy, generatorCrossEntropy } from '../src/gan/losses.js';
import { ArraySource } from '../src/gan/real-source.js';
import { GanTrainer, type GanTrainConfig } from '../src/gan/trainer.js';
import { buildHead, convnet } from '../src/models/index.js';
import { superresNet } from '../src/superres/model.js';
import { srShardTensors } from '../src/superres/train.js';
import { buildLoss, cosineDistance, crossEntropy, gramMatrix, mae, mse } from '../src/train/losses.js';
import { trainingWorkers } from '../src/train/epoch-loop.js';
import { fit, type FitOptions, type LabelledArrays } from '../src/train/loop.js';
import { makeOptimizer } from '../src/train/optim.js';
import { rng } from '../src/util/rng.js';

let noAdapter: string | undefined;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ablate-webgpu-'));
  // cpu first: selection registers the project's cpu kernel fixes the reference relies on.
  await initBackend('cpu', () => {});
  try {
    await initBackend('webgpu', (l) => console.log(`# ${l}`));
  } catch (e) {
    // Skipped only when there is no adapter at all; .ci/run installs lavapipe and sets
    // ABLATE_REQUIRE_WEBGPU so that a broken install fails CI instead of skipping.
    if (!(e instanceof BackendUnavailableError && /no WebGPU adapter found|no Vulkan loader/.test(e.reason))) throw e;
    if (process.env.ABLATE_REQUIRE_WEBGPU) throw new Error(`ABLATE_REQUIRE_WEBGPU is set but: ${e.reason}`);
    noAdapter = e.reason;
    console.log(`# webgpu tests skipped: ${e.reason}`);
  }
});
after(async () => {
  releaseWebgpu();
  await rm(dir, { recursive: true, force: true });
});

const R = rng(20261202);
const values = (shape: number[], lo = -1, hi = 1) => Float32Array.from({ length: tf.util.sizeFromShape(shape) }, () => lo + R() * (hi - lo));

function relErr(ref: ArrayLike<number>, got: ArrayLike<number>, floor = 1e-6): number {
  assert.equal(got.length, ref.length);
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ref[i]! - got[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff / scale;
}

type Inputs = Record<string, { shape: number[]; v: Float32Array }>;

/**
 * The value of f and its gradients with respect to every input, on one backend. The output is
 * weighted by a fixed random tensor before summing, so the incoming gradient is not all ones.
 */
async function valueAndGrads(backend: string, inputs: Inputs, f: (xs: tf.Tensor[]) => tf.Tensor, weight: Float32Array | undefined) {
  await tf.setBackend(backend);
  const names = Object.keys(inputs);
  const xs = names.map((n) => tf.tensor(inputs[n]!.v, inputs[n]!.shape));
  const y = tf.tidy(() => f(xs));
  const w = weight ? tf.tensor(weight.subarray(0, y.size), y.shape) : tf.onesLike(y);
  const { value, grads: gs } = tf.valueAndGrads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(a), w)))(xs);
  const out = { y: await y.data(), value: (await value.data())[0]!, grads: await Promise.all(gs.map((g) => g.data())) };
  tf.dispose([xs, y, w, value, gs]);
  return out;
}

async function checkOp(name: string, inputs: Inputs, f: (xs: tf.Tensor[]) => tf.Tensor, tol = 1e-4) {
  const weight = values([4096]);
  const cpu = await valueAndGrads('cpu', inputs, f, weight);
  const gpu = await valueAndGrads('webgpu', inputs, f, weight);
  const names = Object.keys(inputs);
  const ey = relErr(cpu.y, gpu.y);
  assert.ok(ey < tol, `${name}: forward differs from cpu by ${ey}`);
  cpu.grads.forEach((g, i) => {
    const e = relErr(g, gpu.grads[i]!);
    assert.ok(e < tol, `${name}: gradient for ${names[i]} differs from cpu by ${e}`);
  });
}

const x4 = (n: number, h: number, w: number, c: number) => ({ shape: [n, h, w, c], v: values([n, h, w, c]) });
const f4 = (h: number, w: number, a: number, b: number) => ({ shape: [h, w, a, b], v: values([h, w, a, b], -0.5, 0.5) });

/** Every op a model, loss or optimiser of ours trains with, as tfjs ops with their gradients. */
const OPS: [string, Inputs, (xs: tf.Tensor[]) => tf.Tensor][] = [
  ['conv2d 3×3 same', { x: x4(2, 5, 5, 3), f: f4(3, 3, 3, 4) }, ([x, f]) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same')],
  ['conv2d 4×4 stride 2 same', { x: x4(2, 8, 8, 2), f: f4(4, 4, 2, 3) }, ([x, f]) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same')],
  ['conv2d 1×1 to one channel', { x: x4(2, 4, 4, 3), f: f4(1, 1, 3, 1) }, ([x, f]) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'valid')],
  [
    'fused conv2d + bias + relu',
    { x: x4(2, 5, 5, 2), f: f4(3, 3, 2, 3), b: { shape: [3], v: values([3]) } },
    ([x, f, b]) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, bias: b, strides: 1, pad: 'same', activation: 'relu' }),
  ],
  ['depthwise conv2d', { x: x4(2, 6, 6, 3), f: f4(3, 3, 3, 1) }, ([x, f]) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'valid')],
  ['max pool 2×2', { x: x4(2, 6, 6, 3) }, ([x]) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid')],
  // Overlapping windows with padding: the replaced MaxPoolGrad's offsets and bounds.
  ['max pool 3×3 stride 2 same', { x: x4(2, 7, 7, 2) }, ([x]) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same')],
  // Ties inside a window: the gradient must go to one element only, as on cpu.
  ['max pool 2×2 with ties', { x: { shape: [1, 4, 4, 2], v: Float32Array.from({ length: 32 }, (_, i) => Math.floor(i / 8)) } }, ([x]) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid')],
  ['avg pool 2×2', { x: x4(2, 6, 6, 3) }, ([x]) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid')],
  ['global average pool', { x: x4(2, 3, 3, 4) }, ([x]) => tf.mean(x!, [1, 2])],
  ['global max pool', { x: x4(2, 3, 3, 4) }, ([x]) => tf.max(x!, [1, 2])],
  [
    'batch norm (training statistics)',
    { x: x4(3, 2, 2, 4), g: { shape: [4], v: values([4], 0.5, 1.5) }, b: { shape: [4], v: values([4]) } },
    ([x, g, b]) => {
      const { mean, variance } = tf.moments(x!, [0, 1, 2]);
      return tf.batchNorm(x!, mean, variance, b, g, 1e-3);
    },
  ],
  // Batch 2: cpu's shipped nearest-resize gradient was wrong after the first image (fixed in ours).
  ['resize nearest ×2 (upsampling)', { x: x4(2, 3, 3, 2) }, ([x]) => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [6, 6])],
  ['resize bilinear ×2', { x: x4(2, 3, 3, 2) }, ([x]) => tf.image.resizeBilinear(x as tf.Tensor4D, [6, 6])],
  ['dense: matMul + bias', { x: { shape: [5, 7], v: values([5, 7]) }, w: { shape: [7, 3], v: values([7, 3]) }, b: { shape: [3], v: values([3]) } }, ([x, w, b]) => tf.add(tf.matMul(x!, w!), b!)],
  ['gram matrix (style)', { x: x4(2, 3, 3, 4) }, ([x]) => gramMatrix(x!)],
  ['leaky relu, relu, elu, tanh, sigmoid', { x: { shape: [4, 6], v: values([4, 6], -2, 2) } }, ([x]) => tf.concat([tf.leakyRelu(x!, 0.2), tf.relu(x!), tf.elu(x!), tf.tanh(x!), tf.sigmoid(x!)])],
  ['softmax, log softmax', { x: { shape: [3, 5], v: values([3, 5], -3, 3) } }, ([x]) => tf.concat([tf.softmax(x!), tf.logSoftmax(x!)])],
  ['reshape, transpose, pad, slice, concat', { x: x4(1, 2, 3, 2) }, ([x]) => tf.concat([tf.pad(x!, [[0, 0], [1, 0], [0, 1], [0, 0]]).slice([0, 0, 0, 0], [1, 2, 3, 2]), tf.transpose(x!, [0, 2, 1, 3]).reshape([1, 2, 3, 2])], 3)],
];

const COSINE_TARGET = values([3, 4]);
/** Loss functions, differentiated with respect to the prediction. */
const LOSSES: [string, Inputs, (xs: tf.Tensor[]) => tf.Tensor][] = [
  ['cross-entropy with label smoothing', { p: { shape: [4, 5], v: values([4, 5], -3, 3) } }, ([p]) => crossEntropy(p!, tf.tensor1d([0, 3, 1, 4], 'int32'), 0.1)],
  ['mse, mae', { p: { shape: [3, 4], v: values([3, 4]) } }, ([p]) => tf.stack([mse(p!, tf.ones([3, 4])), mae(p!, tf.fill([3, 4], 0.3))])],
  ['cosine distance', { p: { shape: [3, 4], v: values([3, 4]) } }, ([p]) => cosineDistance(p!, tf.tensor2d(COSINE_TARGET, [3, 4]))],
  ['GAN cross-entropies', { s: { shape: [4, 1], v: values([4, 1], -3, 3) } }, ([s]) => tf.stack([discriminatorCrossEntropy(s!, 2), generatorCrossEntropy(s!)])],
  ['WGAN critic loss', { s: { shape: [4, 1], v: values([4, 1]) } }, ([s]) => criticLoss(s!.slice([0, 0], [2, 1]), s!.slice([2, 0], [2, 1]))],
];

for (const [name, inputs, f] of [...OPS, ...LOSSES]) {
  test(`gradient on webgpu equals cpu: ${name}`, async (t) => {
    if (noAdapter) return t.skip(noAdapter);
    await checkOp(name, inputs, f);
  });
}

test('WGAN weight clipping on webgpu equals cpu', async (t) => {
  if (noAdapter) return t.skip(noAdapter);
  const v = values([3, 4], -0.05, 0.05);
  const clipped: Float32Array[] = [];
  for (const b of ['cpu', 'webgpu']) {
    await tf.setBackend(b);
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 4 })] });
    m.layers[0]!.setWeights([tf.tensor2d(v, [3, 4]), tf.zeros([4])]);
    clipWeights(m, 0.01);
    clipped.push((await m.getWeights()[0]!.data()) as Float32Array);
    m.dispose();
  }
  assert.deepEqual(clipped[1], clipped[0]);
  assert.ok(clipped[0]!.every((x) => Math.abs(x) <= 0.01) && clipped[0]!.some((x) => Math.abs(x) === Math.fround(0.01)));
});

// ---- a few training steps of each task, on cpu and on webgpu ----

async function quadrants(path: string, n: number, seed: number): Promise<LabelledArrays> {
  const r = rng(seed);
  const x = new Uint8Array(n * 64);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    y[i] = c;
    for (let p = 0; p < 64; p++) {
      const inside = (p >> 3 < 4) === (c < 2) && ((p & 7) < 4) === (c % 2 === 0);
      x[i * 64 + p] = Math.min(255, (inside ? 160 : 20) + Math.floor(r() * 60));
    }
  }
  await writeArray(join(path, 'images'), x, [8, 8, 1], 'uint8', 16);
  await writeArray(join(path, 'labels'), y, [], 'int32', 16);
  return { x: await openArray(join(path, 'images')), y: await openArray(join(path, 'labels')), normalize: 'unit' };
}

/** Cached activations as the features stage writes them: float rows, one per image. */
async function activations(path: string, n: number, d: number, seed: number): Promise<LabelledArrays> {
  const r = rng(seed);
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  const x = Float32Array.from({ length: n * d }, (_, i) => (i % d === y[Math.floor(i / d)]! ? 1 : 0) + r() * 0.5);
  await writeArray(join(path, 'x'), x, [d], 'float32', 16);
  await writeArray(join(path, 'y'), y, [], 'int32', 16);
  return { x: await openArray(join(path, 'x')), y: await openArray(join(path, 'y')), normalize: 'none' };
}

const fitSpec: FitOptions['spec'] = {
  epochs: 2,
  batchSize: 16,
  optimizer: 'sgd',
  lr: 0.05,
  momentum: 0.9,
  schedule: { kind: 'constant', every: 1, gamma: 0.5, patience: 2, warmupSteps: 0 },
  logEvery: 1,
  checkpointEvery: 1,
  // One rank on both backends (webgpu always trains as one): the same sums in the same order.
  workers: 1,
};
const numbers = (h: Record<string, [number, number][]>) => Object.fromEntries(Object.entries(h).filter(([k]) => !/time|per_s/.test(k)));

function assertClose(cpu: Record<string, [number, number][]>, gpu: Record<string, [number, number][]>, tol: number, what: string) {
  assert.deepEqual(Object.keys(gpu).sort(), Object.keys(cpu).sort());
  for (const [k, rows] of Object.entries(cpu)) {
    rows.forEach(([step, v], i) => {
      const [gs, gv] = gpu[k]![i]!;
      assert.equal(gs, step);
      assert.ok(Math.abs(gv - v) <= tol * Math.max(1, Math.abs(v)), `${what} ${k} at step ${step}: cpu ${v}, webgpu ${gv}`);
    });
  }
}

let classifier: { train: LabelledArrays; val: LabelledArrays } | undefined;
async function classifierData() {
  classifier ??= { train: await quadrants(join(dir, 'q-train'), 32, 1), val: await quadrants(join(dir, 'q-val'), 16, 2) };
  return classifier;
}

async function fitClassifier(backend: string, extra: Partial<FitOptions> = {}) {
  await tf.setBackend(backend);
  const { train, val } = await classifierData();
  const model = convnet({ inputShape: [8, 8, 1], outputs: 4, width: 2, seed: 3 });
  const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0.1 }]);
  try {
    return await fit({ model, loss, train, val, spec: fitSpec, seed: 3, topK: 2, ...extra });
  } finally {
    model.dispose();
  }
}

test('classifier: two epochs of the training loop on webgpu match cpu', async (t) => {
  if (noAdapter) return t.skip(noAdapter);
  const cpu = await fitClassifier('cpu');
  const gpu = await fitClassifier('webgpu');
  assertClose(numbers(cpu.history), numbers(gpu.history), 1e-4, 'classifier');
});

test('head on cached activations: webgpu matches cpu', async (t) => {
  if (noAdapter) return t.skip(noAdapter);
  const train = await activations(join(dir, 'a-train'), 32, 6, 3);
  const val = await activations(join(dir, 'a-val'), 16, 6, 4);
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const model = buildHead([6], { kind: 'mlp', units: 8, activation: 'relu', dropout: 0.2, outputs: 3, seed: 2 });
    const loss = await buildLoss([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]);
    try {
      return await fit({ model, loss, train, val, spec: fitSpec, seed: 2, topK: 2 });
    } finally {
      model.dispose();
    }
  };
  const cpu = await run('cpu');
  assertClose(numbers(cpu.history), numbers((await run('webgpu')).history), 1e-4, 'head');
});

test('super-resolution with content and style losses: two steps on webgpu match cpu', async (t) => {
  if (noAdapter) return t.skip(noAdapter);
  const LAYERS = ['stage1_relu', 'stage2_relu', 'stage3_relu'];
  const lrV = values([2, 4, 4, 3], 0, 1);
  const hrV = values([2, 8, 8, 3], 0, 1);
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const net = convnet({ inputShape: [8, 8, 3], outputs: 4, width: 2, seed: 5 });
    const loss = await buildLoss(
      [
        { kind: 'pixel', weight: 1, distance: 'mse' },
        { kind: 'content', weight: 1, layers: LAYERS, weights: [0.1, 0.8, 0.1], distance: 'mse' },
        { kind: 'style', weight: 1, layers: LAYERS.slice(0, 2), weights: [1, 1] },
      ],
      async () => net,
    );
    const m = superresNet({ channels: 3, factor: 2, blocks: 1, filters: 4, seed: 8 });
    const vars = m.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const opt = makeOptimizer({ optimizer: 'sgd', lr: 0.05, momentum: 0 });
    const lr = tf.tensor4d(lrV, [2, 4, 4, 3]);
    const hr = tf.tensor4d(hrV, [2, 8, 8, 3]);
    const out: number[] = [];
    for (let i = 0; i < 2; i++) {
      // One step as the epoch loop takes it: the loss and its gradient, then the update.
      const r = srShardTensors(m, loss, lr, hr, vars);
      opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: r.grads[i]! })));
      out.push(...(await r.terms.data()), (await r.total.data())[0]!);
      tf.dispose([r.total, r.terms, r.grads]);
    }
    const w = (await m.getLayer('out_conv').getWeights()[0]!.data()) as Float32Array;
    tf.dispose([lr, hr]);
    m.dispose();
    net.dispose();
    opt.dispose();
    return { out, w };
  };
  const cpu = await run('cpu');
  const gpu = await run('webgpu');
  assert.ok(relErr(cpu.out, gpu.out) < 1e-4, `losses: cpu ${cpu.out} webgpu ${gpu.out}`);
  assert.ok(relErr(cpu.w, gpu.w, 1e-2) < 1e-4, 'weights after two steps');
});

for (const kind of ['gan', 'dcgan', 'wgan'] as const) {
  test(`${kind}: discriminator and generator steps on webgpu match cpu`, async (t) => {
    if (noAdapter) return t.skip(noAdapter);
    const shape = { height: 8, width: 8, channels: 1 };
    const config: GanTrainConfig = {
      kind,
      latent: 4,
      shape,
      output: 'tanh',
      batchSize: 4,
      optimizer: 'sgd',
      lr: 1e-2,
      momentum: 0,
      critic: kind === 'wgan' ? { steps: 2, warmup: { steps: 0, generatorSteps: 1 }, clip: 0.01 } : { steps: 1 },
      seed: 1,
    };
    const real = Float32Array.from({ length: 16 * 64 }, (_, i) => Math.sin(i) * 0.9);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const g = new GanTrainer(config);
      const src = new ArraySource(real, shape, 3);
      const losses = [(await g.discriminatorStep(src)).loss, await g.generatorStep(), (await g.discriminatorStep(src)).loss];
      const w = await Promise.all(g.discriminator.getWeights().map((x) => x.data()));
      g.dispose();
      return { losses, w };
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    assert.ok(relErr(cpu.losses, gpu.losses) < 1e-4, `${kind} losses: cpu ${cpu.losses} webgpu ${gpu.losses}`);
    cpu.w.forEach((w, i) => {
      assert.ok(relErr(w, gpu.w[i]!, 1e-2) < 1e-4, `${kind} discriminator weight ${i}`);
    });
  });
}

test('reference step (bench:train) runs on webgpu through the async reader', async (t) => {
  if (noAdapter) return t.skip(noAdapter);
  const losses: number[][] = [];
  for (const b of ['cpu', 'webgpu']) {
    await tf.setBackend(b);
    const s = dcganStep({ batch: 2, grid: 2, width: 4, latent: 3, optimizer: 'sgd' });
    losses.push([...(await s.stepAsync(0)), ...(await s.stepAsync(1))]);
    s.dispose();
  }
  assert.ok(relErr(losses[0]!, losses[1]!) < 1e-4, `cpu ${losses[0]} webgpu ${losses[1]}`);
});

// ---- memory ----

test('no tensors or GPU buffers leak across epochs and across trials', async (t) => {
  if (noAdapter) return t.skip(noAdapter);
  await tf.setBackend('webgpu');
  const start = tf.memory().numTensors;
  const perEpoch: number[] = [];
  const bytes: number[] = [];
  const afterTrial: number[] = [];
  for (let trial = 0; trial < 3; trial++) {
    // Adam: tfjs 4.22's momentum optimizer leaks its learning-rate scalar on dispose (on every
    // backend), which is not what this test is after.
    await fitClassifier('webgpu', {
      spec: { ...fitSpec, epochs: 3, optimizer: 'adam', lr: 0.01 },
      onEpochEnd: () => {
        perEpoch.push(tf.memory().numTensors);
        bytes.push((tf.memory() as { numBytesInGPU?: number }).numBytesInGPU ?? -1);
      },
    });
    afterTrial.push(tf.memory().numTensors);
  }
  assert.deepEqual(afterTrial, [start, start, start], `tensors after each trial (before: ${start})`);
  assert.equal(perEpoch.length, 9);
  assert.ok(perEpoch.every((n) => n === perEpoch[0]), `numTensors at each epoch end: ${perEpoch.join(', ')}`);
  assert.ok(bytes[0]! >= 0 && bytes.every((b) => b === bytes[0]), `bytes on the GPU at each epoch end: ${bytes.join(', ')}`);
});

// ---- selection ----

test('a software adapter is never chosen by auto, and is when webgpu is forced', async (t) => {
  if (noAdapter) return t.skip(noAdapter);
  const a = webgpuAdapter()!;
  assert.match(adapterLabel(a), /, (Vulkan|Metal|D3D12)/);
  const missing = async (): Promise<string> => {
    throw new Error('not installed');
  };
  if (a.software) {
    const auto = await selectBackend('auto', { 'node-gpu': missing, node: missing });
    assert.equal(auto.name, 'wasm');
    const skip = auto.skipped.find((s) => s.name === 'webgpu');
    assert.match(skip?.reason ?? '', /only a software adapter \(.*software\).*train\.backend: webgpu/);
  } else {
    const auto = await selectBackend('auto', { 'node-gpu': missing });
    assert.equal(auto.name, 'webgpu');
  }
  const forced = await selectBackend('webgpu');
  assert.equal(forced.name, 'webgpu');
  assert.equal(forced.device, adapterLabel(a));
  assert.equal(tf.getBackend(), 'webgpu');
  // One GPU: no data-parallel worker threads (each would open a device of its own).
  assert.equal(trainingWorkers(4).workers, 1);
  assert.equal(formatBackend(forced, 4), `backend: webgpu (${adapterLabel(a)})`);
});

test('adapter summaries: fallback flag, software names and labels', () => {
  // What Dawn reports on Vulkan: a normalized device identifier, `driver: info` as the description.
  const h200 = summarizeAdapter({ vendor: 'nvidia', architecture: 'hopper', device: 'nvidia-h200', description: 'NVIDIA: 550.54.15', isFallbackAdapter: false });
  assert.equal(h200.software, false);
  assert.match(adapterLabel(h200), /^NVIDIA H200, (Vulkan|Metal|D3D12)$/);
  const lavapipe = summarizeAdapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) 0.0.1' });
  assert.equal(lavapipe.software, true);
  assert.match(adapterLabel(lavapipe), /^llvmpipe, (Vulkan|Metal|D3D12), software$/);
  assert.equal(adapterLabel(summarizeAdapter({ description: 'A GPU' })), `A GPU, ${h200.api}`);
  assert.equal(summarizeAdapter({ vendor: 'google', description: 'SwiftShader Device (Subzero)' }).software, true);
  assert.equal(summarizeAdapter({ vendor: 'x', description: 'A GPU', isFallbackAdapter: true }).software, true);
});

test('requestAdapter reports the adapter Dawn finds', async (t) => {
  if (noAdapter) return t.skip(noAdapter);
  const { summary } = await requestAdapter();
  assert.equal(adapterLabel(summary), adapterLabel(webgpuAdapter()!));
});

// ---- whole runs: `ablate run` in a fresh process, and device loss mid-run ----

const root = join(import.meta.dirname, '..', '..');
const baseSpec = join(root, 'test', 'fixtures', 'sweep-basic', 'base.yaml');
// 24 images of 8×8 and a width-4 convnet: the run's cost is mostly shader compilation.
const runArgs = (...over: string[]) => [
  `track.uri=${join(dir, 'runs')}`,
  `cache.dir=${join(dir, 'cache')}`,
  'dataset.count=24',
  'preprocess.size=8',
  'model.base.width=4',
  'train.backend=webgpu',
  ...over,
];
// No timeout would catch a process that Dawn keeps alive after the run (the device not released).
const cli = (...over: string[]) =>
  spawnSync(process.execPath, [join(root, 'bin', 'ablate.js'), 'run', baseSpec, ...runArgs(...over)], { encoding: 'utf8', timeout: 180_000 });
const runs = () => readStore(join(dir, 'runs')).experiments.flatMap((e) => e.runs);

test('ablate run on webgpu: the backend line names the adapter, the run is tagged with it, the process exits', (t) => {
  if (noAdapter) return t.skip(noAdapter);
  const r = cli('train.epochs=1');
  assert.equal(r.status, 0, `exit ${r.status ?? r.signal}: ${r.stderr}`);
  const label = adapterLabel(webgpuAdapter()!);
  assert.ok(r.stderr.includes(`backend: webgpu (${label})`), r.stderr);
  const [run] = runs();
  assert.equal(run?.info.status, 'FINISHED');
  assert.equal(run.tags['ablate.backend'], 'webgpu');
  assert.equal(run.tags['ablate.backend.device'], label);
  assert.ok(run.metrics.eval_accuracy !== undefined);
});

// Last: it ends this process's device.
test('device lost mid-run: the run fails saying so, its checkpoint resumes in the next run', async (t) => {
  if (noAdapter) return t.skip(noAdapter);
  const loaded = loadSpec(baseSpec, runArgs('train.epochs=4'));
  const trainDir = (await planPipeline(loaded.spec)).find((s) => s.kind === 'train')!.dir;
  // As a driver reset would: the device goes away from outside the training loop, once the
  // checkpoint after the first epoch is on disk.
  const poll = setInterval(() => {
    // The run's work folder: the first, w0, in a fresh cache (one folder per run, src/cache/workdir.ts).
    if (!existsSync(join(trainDir, 'w0', 'checkpoint', 'state.json'))) return;
    clearInterval(poll);
    loseWebgpuDeviceForTest();
  }, 20);
  const lines: string[] = [];
  const out = { write: (l: string) => lines.push(l) } as unknown as NodeJS.WriteStream;
  const result = await executePipeline(loaded, { out }).finally(() => clearInterval(poll));
  assert.equal(result.status, 'FAILED', lines.join(''));
  assert.match(result.error!.message, /^the GPU device was lost \(.*; reason: destroyed.*\): the run stops as FAILED; its last checkpoint is intact, so rerunning the same command resumes from it/);
  const failed = runs().find((r) => r.info.runId === result.runId);
  assert.equal(failed?.info.status, 'FAILED');
  releaseWebgpu();

  const again = cli('train.epochs=4');
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /resuming from the checkpoint after epoch [123] /);
  assert.equal(runs().filter((r) => r.info.status === 'FINISHED').length, 2);
});
