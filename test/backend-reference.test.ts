// The three reference training steps on wasm give the cpu backend's results on a tiny case, and a
// step leaves nothing behind (no tensors, no wasm heap buffers).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { type OptimizerKind, type ReferenceStep, convnetStep, dcganStep, denseStep } from '../src/backend/reference.js';

const TINY: Record<string, (optimizer?: OptimizerKind) => ReferenceStep> = {
  dcgan: (optimizer) => dcganStep({ batch: 3, grid: 2, width: 8, latent: 6, optimizer }),
  convnet: (optimizer) =>
    convnetStep({ batch: 3, side: 8, widths: [4, 4, 6], hidden: 8, classes: 5, dropout: 0.25, optimizer }),
  dense: (optimizer) => denseStep({ batch: 5, inputs: 12, outputs: 7, optimizer }),
};
const STEPS = 3;

async function trainOn(backend: string, make: () => ReferenceStep) {
  await tf.setBackend(backend);
  const s = make();
  const losses: number[][] = [];
  for (let i = 0; i < STEPS; i++) losses.push(s.step(i));
  const weights = s.variables().map((v) => v.dataSync().slice() as Float32Array);
  s.dispose();
  return { losses, weights };
}

before(async () => {
  await initBackend('wasm', () => {});
});

for (const [name, make] of Object.entries(TINY)) {
  test(`${name}: ${STEPS} training steps on wasm equal the cpu backend`, async () => {
    // SGD: updates are linear in the gradients, so any kernel difference shows up undamped.
    const cpu = await trainOn('cpu', () => make('sgd'));
    const wasm = await trainOn('wasm', () => make('sgd'));
    for (let i = 0; i < STEPS; i++) {
      for (let j = 0; j < cpu.losses[i]!.length; j++) {
        const a = cpu.losses[i]![j]!;
        const b = wasm.losses[i]![j]!;
        assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a)), `step ${i} loss ${j}: cpu ${a} wasm ${b}`);
      }
    }
    assert.equal(wasm.weights.length, cpu.weights.length);
    for (let k = 0; k < cpu.weights.length; k++) {
      // Floor of 1e-2: a conv bias followed by batch norm has an exactly-zero true gradient and
      // moves only by float noise, so its own scale is no yardstick.
      const e = relErr(cpu.weights[k]!, wasm.weights[k]!, 1e-2);
      assert.ok(e < 1e-4, `${name} variable ${k}: relative difference ${e}`);
    }
  });

  test(`${name}: with Adam as benchmarked, wasm tracks cpu`, async () => {
    const cpu = await trainOn('cpu', () => make('adam'));
    const wasm = await trainOn('wasm', () => make('adam'));
    // Step 0 is computed before any update; later steps may differ by Adam's ±lr on weights whose
    // gradient is pure float noise (see OptimizerKind), so they get a looser bound.
    for (let i = 0; i < STEPS; i++) {
      for (let j = 0; j < cpu.losses[i]!.length; j++) {
        const a = cpu.losses[i]![j]!;
        const b = wasm.losses[i]![j]!;
        const tol = (i === 0 ? 1e-5 : 2e-2) * Math.max(1, Math.abs(a));
        assert.ok(Math.abs(a - b) <= tol, `step ${i} loss ${j}: cpu ${a} wasm ${b}`);
      }
    }
  });
}

function relErr(a: Float32Array, b: Float32Array, floor = 1e-12): number {
  let d = 0;
  let s = floor;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(a[i]!));
  }
  return d / s;
}

test('a training step on wasm leaks no tensor and no wasm buffer', async () => {
  await tf.setBackend('wasm');
  const be = tf.backend() as unknown as { numDataIds(): number };
  for (const make of Object.values(TINY)) {
    const s = make();
    s.step(0); // creates Adam's slot variables
    const tensors = tf.memory().numTensors;
    const buffers = be.numDataIds();
    for (let i = 1; i < 4; i++) s.step(i);
    assert.equal(tf.memory().numTensors, tensors, `${s.name}: tensors`);
    assert.equal(be.numDataIds(), buffers, `${s.name}: wasm buffers`);
    s.dispose();
  }
});
