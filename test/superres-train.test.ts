// The super-resolution network and its training on the cpu backend with tiny images: fully
// convolutional (any input size), starts as the bicubic baseline, the spec's content weights
// drive the loss exactly, one step trains the network and never the feature network, nothing is
// read back to host memory inside a step, and a short fit logs PSNR/SSIM against the baseline,
// writes triptychs and resumes from its checkpoint.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { openArray, writeArray } from '../src/data/zarr.js';
import { convnet, featureNetwork, loadModel, saveModel } from '../src/models/index.js';
import { buildLoss, mse } from '../src/train/losses.js';
import { makeOptimizer } from '../src/train/optim.js';
import { bicubicUpscale } from '../src/superres/metrics.js';
import { superresNet } from '../src/superres/model.js';
import { evaluateSr, fitSr, loadSamples, type SrArrays, srShardTensors, triptychPng } from '../src/superres/train.js';
import { TrainingAborted } from '../src/train/loop.js';

let dir: string;
before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'ablate-sr-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const near = (got: number, want: number, tol: number, what = '') => assert.ok(Math.abs(got - want) <= tol, `${what} got ${got}, want ${want} (±${tol})`);
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]!);

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('network: fully convolutional, no transposed convolutions, untrained output is the bicubic upscale', () => {
  for (const factor of [2, 4] as const) {
    const m = superresNet({ channels: 3, factor, blocks: 2, filters: 8, seed: 1 });
    assert.ok(!m.layers.some((l) => l.getClassName() === 'Conv2DTranspose'));
    assert.equal(m.layers.filter((l) => l.getClassName() === 'UpSampling2D').length, Math.log2(factor));
    assert.ok(['res1_add', 'res2_add', 'out_conv', 'bicubic', 'output'].every((n) => m.layers.some((l) => l.name === n)));
    for (const [h, w] of [
      [4, 4],
      [6, 10],
    ]) {
      const x = tf.randomUniform([2, h, w, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const y = m.predict(x) as tf.Tensor4D;
      assert.deepEqual(y.shape, [2, h * factor, w * factor, 3]);
      near(maxAbsDiff(y, bicubicUpscale(x, factor)), 0, 1e-6, `factor ${factor} ${h}×${w}`);
    }
    m.dispose();
  }
});

test('network: saves and loads with its bicubic layer, same outputs at a new size', async () => {
  const m = superresNet({ channels: 1, factor: 2, blocks: 1, filters: 4, seed: 2 });
  // Non-zero output weights, so the comparison covers the residual branch too.
  const out = m.getLayer('out_conv');
  out.setWeights(out.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.1, 'float32', 10 + i)));
  await saveModel(m, join(dir, 'saved'));
  const back = await loadModel(join(dir, 'saved'));
  const x = tf.randomUniform([1, 7, 5, 1], 0, 1, 'float32', 4);
  near(maxAbsDiff(m.predict(x) as tf.Tensor, back.predict(x) as tf.Tensor), 0, 1e-6);
  assert.ok(maxAbsDiff(m.predict(x) as tf.Tensor, bicubicUpscale(x as tf.Tensor4D, 2)) > 1e-4);
});

/** A feature network: the built-in convnet on 16×16 RGB, cut at its three ReLUs. */
const LAYERS = ['stage1_relu', 'stage2_relu', 'stage3_relu'];
const base = () => convnet({ inputShape: [16, 16, 3], outputs: 4, width: 4, seed: 5 });

test('loss: the content term is 0.1·φ1 + 0.8·φ2 + 0.1·φ3 and the total is the spec-weighted sum', async () => {
  const net = base();
  const loss = await buildLoss(
    [
      { kind: 'pixel', weight: 0.5, distance: 'mse' },
      { kind: 'content', weight: 2, layers: LAYERS, weights: [0.1, 0.8, 0.1], distance: 'mse' },
    ],
    async () => net,
  );
  assert.deepEqual(loss.names, ['pixel', 'content']);
  const pred = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
  const target = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const { total, terms } = loss.compute(pred, { target });
  // Independently: one single-output cut per layer, distances weighted by hand.
  const per = LAYERS.map((l) => {
    const f = featureNetwork(net, [l]);
    return mse(f.predict(pred) as tf.Tensor, f.predict(target) as tf.Tensor).dataSync()[0]!;
  });
  assert.ok(per.every((v) => v > 0));
  const content = 0.1 * per[0]! + 0.8 * per[1]! + 0.1 * per[2]!;
  const pixel = mse(pred, target).dataSync()[0]!;
  near(terms[1]!.dataSync()[0]!, content, 1e-5 * content, 'content');
  near(terms[0]!.dataSync()[0]!, pixel, 1e-6, 'pixel');
  near(total.dataSync()[0]!, 0.5 * pixel + 2 * content, 1e-5 * (pixel + content), 'total');
  // Different layer weights give a different loss: the weights are really used.
  const other = await buildLoss([{ kind: 'content', weight: 1, layers: LAYERS, weights: [1, 0, 0], distance: 'mse' }], async () => net);
  near(other.compute(pred, { target }).terms[0]!.dataSync()[0]!, per[0]!, 1e-5 * per[0]!, '[1,0,0]');
});

test('one step: the network trains, the feature network does not, nothing is read to host inside the step', async () => {
  const net = base();
  const loss = await buildLoss(
    [
      { kind: 'content', weight: 1, layers: LAYERS, weights: [0.1, 0.8, 0.1], distance: 'mse' },
      { kind: 'style', weight: 1, layers: LAYERS.slice(0, 2), weights: [1, 1] },
    ],
    async () => net,
  );
  const m = superresNet({ channels: 3, factor: 2, blocks: 1, filters: 4, seed: 8 });
  const vars = m.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const opt = makeOptimizer({ optimizer: 'adam', lr: 0.001, momentum: 0 });
  const lr = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
  const hr = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 10) as tf.Tensor4D;
  const netBefore = net.getWeights().map((w) => w.clone());
  const lossNow = () => tf.tidy(() => loss.compute(m.apply(lr) as tf.Tensor, { target: hr }).total.dataSync()[0]!);
  const before0 = lossNow();
  const outBefore = m.getLayer('out_conv').getWeights()[0]!.clone();
  // Any download of tensor data to JavaScript goes through the backend's read/readSync.
  const backend = tf.backend() as unknown as Record<'read' | 'readSync', (...a: unknown[]) => unknown>;
  const orig = { read: backend.read, readSync: backend.readSync };
  let reads = 0;
  backend.read = (...a) => {
    reads++;
    return orig.read.apply(backend, a);
  };
  backend.readSync = (...a) => {
    reads++;
    return orig.readSync.apply(backend, a);
  };
  // One step as the epoch loop takes it, short of reading the loss: the gradient, applied.
  const trainStep = () => {
    const r = srShardTensors(m, loss, lr, hr, vars);
    opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: r.grads[i]! })));
    tf.dispose(r.grads);
    return { total: r.total, terms: r.terms };
  };
  // warm-up step (optimizer slots are created on the first one), then count tensors on the next
  tf.dispose(Object.values(trainStep()));
  const tensors = tf.memory().numTensors;
  let r: ReturnType<typeof trainStep>;
  try {
    r = trainStep();
  } finally {
    backend.read = orig.read;
    backend.readSync = orig.readSync;
  }
  assert.equal(reads, 0, 'host reads during training steps');
  const [total, terms] = [r.total.dataSync()[0]!, Array.from(r.terms.dataSync())];
  assert.equal(terms.length, 2);
  assert.ok(Number.isFinite(total) && total > 0 && terms.every((t) => Number.isFinite(t) && t > 0));
  tf.dispose([r.total, r.terms]);
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked by a step');
  assert.ok(maxAbsDiff(m.getLayer('out_conv').getWeights()[0]!, outBefore) > 0, 'the network did not change');
  assert.ok(lossNow() < before0, `two steps on one batch did not lower its loss (${before0} → ${lossNow()})`);
  for (const [i, w] of net.getWeights().entries()) near(maxAbsDiff(w, netBefore[i]!), 0, 0, `feature weight ${i}`);
});

/** Smooth random images (sums of a few low-frequency waves), target 16×16 and its 2×2 box-mean input. */
async function smoothSplit(path: string, n: number, seed: number): Promise<SrArrays> {
  const rand = lcg(seed);
  const S = 16;
  const hr = new Uint8Array(n * S * S * 3);
  const lr = new Uint8Array(n * 8 * 8 * 3);
  for (let i = 0; i < n; i++) {
    const waves = Array.from({ length: 3 }, () => [rand() * 0.8, rand() * 0.8, rand() * 6, rand()]);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let c = 0; c < 3; c++) {
          const v = waves.reduce((a, [fx, fy, ph, amp]) => a + amp! * Math.sin(fx! * x + fy! * y + ph! + c), 0);
          hr[((i * S + y) * S + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + 50 * v)));
        }
      }
    }
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (const [dy, dx] of [
            [0, 0],
            [0, 1],
            [1, 0],
            [1, 1],
          ]) {
            s += hr[((i * S + 2 * y + dy!) * S + 2 * x + dx!) * 3 + c]!;
          }
          lr[((i * 8 + y) * 8 + x) * 3 + c] = Math.round(s / 4);
        }
      }
    }
  }
  await writeArray(join(path, 'images'), hr, [S, S, 3], 'uint8', 8);
  await writeArray(join(path, 'inputs_lr'), lr, [8, 8, 3], 'uint8', 8);
  return { hr: await openArray(join(path, 'images')), lr: await openArray(join(path, 'inputs_lr')), normalize: 'unit' };
}

const pixelLoss = () => buildLoss([{ kind: 'pixel', weight: 1, distance: 'mse' }]);
/** Two epochs of Adam at a constant rate, every step logged, a checkpoint every epoch. */
const fitSpec = (batchSize: number) => ({
  epochs: 2,
  batchSize,
  optimizer: 'adam' as const,
  lr: 0.003,
  momentum: 0.9,
  schedule: { kind: 'constant' as const, every: 1, gamma: 0.5, patience: 2, warmupSteps: 0 },
  logEvery: 1,
  checkpointEvery: 1,
});

test('fit: logs PSNR/SSIM and the bicubic baseline, writes triptychs, resumes from its checkpoint', async () => {
  const train = await smoothSplit(join(dir, 'data', 'train'), 16, 1);
  const val = await smoothSplit(join(dir, 'data', 'val'), 8, 2);
  const loss = await pixelLoss();
  const spec = fitSpec(8);
  const build = () => superresNet({ channels: 3, factor: 2, blocks: 1, filters: 8, seed: 3 });

  // Before any step the network equals bicubic, so its PSNR is the baseline's.
  const m0 = build();
  const base = await evaluateSr(null, null, val, 8);
  near((await evaluateSr(m0, loss, val, 8)).psnr, base.psnr, 1e-3, 'untrained PSNR');
  assert.ok(base.psnr > 15 && base.psnr < 60 && base.ssim > 0 && base.ssim < 1);

  const logged: [string, number, number][] = [];
  const pngs: number[] = [];
  const samples = await loadSamples(val, 2);
  const r = await fitSr({
    model: build(),
    loss,
    train,
    val,
    spec,
    seed: 0,
    checkpointDir: join(dir, 'work'),
    metric: (k, v, s) => logged.push([k, v, s]),
    triptych: { samples, every: 2, write: async (_png, step) => void pngs.push(step) },
  });
  assert.equal(r.steps, 4);
  const keys = new Set(logged.map(([k]) => k));
  for (const k of ['train_loss', 'train_loss_pixel', 'val_loss', 'val_loss_pixel', 'val_psnr', 'val_ssim', 'val_psnr_bicubic', 'val_ssim_bicubic', 'train_step_loss_pixel']) {
    assert.ok(keys.has(k), `metric ${k} not logged`);
  }
  assert.deepEqual(pngs, [0, 2, 4]);
  near(r.last.val_psnr_bicubic!, base.psnr, 1e-9);
  assert.ok(Number.isFinite(r.last.val_psnr!) && r.last.val_psnr !== base.psnr, 'training did not change the predictions');

  // A longer run in the same folder resumes after epoch 2 and trains only the new epochs.
  const resumed = await fitSr({ model: build(), loss, train, val, spec: { ...spec, epochs: 3 }, seed: 0, checkpointDir: join(dir, 'work') });
  assert.equal(resumed.resumedFrom, 2);
  assert.equal(resumed.steps, 6);
  assert.ok(await readdir(join(dir, 'work', 'checkpoint')));

  const png = await triptychPng(build(), samples, 2);
  assert.deepEqual(png.subarray(1, 4).toString(), 'PNG');
});

test('fit: Ctrl-C inside an epoch keeps the batches done, and the rerun ends where an uninterrupted run does', async () => {
  const train = await smoothSplit(join(dir, 'data-mid', 'train'), 16, 4);
  const val = await smoothSplit(join(dir, 'data-mid', 'val'), 8, 5);
  const loss = await pixelLoss();
  const spec = fitSpec(4);
  const build = () => superresNet({ channels: 3, factor: 2, blocks: 1, filters: 8, seed: 4 });
  const noTime = (h: Record<string, [number, number][]>) => Object.fromEntries(Object.entries(h).filter(([k]) => !/time|per_s/.test(k)));
  const whole = await fitSr({ model: build(), loss, train, val, spec, seed: 0, checkpointDir: join(dir, 'mid-whole') });
  const stop = new AbortController();
  // 4 batches an epoch: stop after the third of the first epoch (no epoch checkpoint exists yet).
  const cut = fitSr({ model: build(), loss, train, val, spec, seed: 0, checkpointDir: join(dir, 'mid-cut'), signal: stop.signal, metric: (k, _v, step) => k === 'train_step_loss' && step === 3 && stop.abort() });
  await assert.rejects(cut, TrainingAborted);
  const logs: string[] = [];
  const resumed = await fitSr({ model: build(), loss, train, val, spec, seed: 0, checkpointDir: join(dir, 'mid-cut'), log: { info: (m) => logs.push(m), warn() {} } });
  assert.ok(logs.includes('continuing epoch 1 after 3 batches'), logs.join('\n'));
  assert.equal(resumed.steps, whole.steps);
  assert.deepEqual(noTime(resumed.history), noTime(whole.history));
});

test('fit: train.stop on val_psnr (mode max) stops on a plateau and restores the best epoch', async () => {
  const train = await smoothSplit(join(dir, 'data-stop', 'train'), 16, 6);
  const val = await smoothSplit(join(dir, 'data-stop', 'val'), 8, 7);
  const loss = await pixelLoss();
  // A learning rate of ~0 keeps the network at bicubic: epoch 1 is the best and nothing beats it.
  const spec = { ...fitSpec(8), epochs: 20, lr: 1e-12, stop: { metric: 'val_psnr', mode: 'max' as const, patience: 2, minDelta: 0.01, restoreBest: true } };
  const model = superresNet({ channels: 3, factor: 2, blocks: 1, filters: 8, seed: 5 });
  const r = await fitSr({ model, loss, train, val, spec, seed: 0, checkpointDir: join(dir, 'stop-work') });
  assert.equal(r.epochs, 3);
  assert.equal(r.stop.reason, 'patience');
  assert.equal(r.stop.bestEpoch, 1);
  assert.match(r.stop.message, /val_psnr did not improve by more than 0.01 for 2 epochs/);
});

test('fit: 2 data-parallel workers (the feature network sent to the worker) train what 1 worker trains', async () => {
  const train = await smoothSplit(join(dir, 'data-par', 'train'), 12, 8);
  const net = base();
  const loss = await buildLoss(
    [
      { kind: 'pixel', weight: 1, distance: 'mse' },
      { kind: 'content', weight: 0.5, layers: LAYERS, weights: [0.1, 0.8, 0.1], distance: 'mse' },
    ],
    async () => net,
  );
  const go = async (workers: number) => {
    const model = superresNet({ channels: 3, factor: 2, blocks: 1, filters: 8, seed: 9 });
    const steps: number[] = [];
    // 12 samples in batches of 8: 8 and 4 rows a step.
    await fitSr({ model, loss, train, spec: { ...fitSpec(8), epochs: 1, workers }, seed: 0, metric: (k, v) => void (k === 'train_step_loss_content' && steps.push(v)) });
    const w = model.getLayer('out_conv').getWeights()[0]!.clone();
    model.dispose();
    return { steps, w };
  };
  const one = await go(1);
  const two = await go(2);
  assert.equal(one.steps.length, 2);
  for (const [i, v] of one.steps.entries()) near(two.steps[i]!, v, 1e-4 * Math.abs(v), `content loss at step ${i + 1}`);
  assert.ok(maxAbsDiff(one.w, two.w) < 1e-4, `out_conv differs by ${maxAbsDiff(one.w, two.w)}`);
});
