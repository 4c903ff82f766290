// BatchMatMul for wasm. The shipped kernel uses XNNPACK only when neither operand is transposed;
// with transposeA (every dense layer's weight gradient, x^T·dy) it falls back to a loop that was
// 22× slower, with transposeB (dy·W^T) 6× slower (128×2048·2048×300, see docs/benchmarks.md).
// Transposing the operand explicitly (a cheap copy) and calling the fast path fixes both.
import type * as tf from '@tensorflow/tfjs';
import { type Info, type WasmBackend, release, run, transpose } from './wasm-ops.js';

function swapLastTwo(b: WasmBackend, x: Info): Info {
  const r = x.shape.length;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return transpose(b, x, perm);
}

export function batchMatMul(b: WasmBackend, a: Info, bb: Info, transposeA: boolean, transposeB: boolean): Info {
  const at = transposeA ? swapLastTwo(b, a) : a;
  const bt = transposeB ? swapLastTwo(b, bb) : bb;
  const out = run(b, 'BatchMatMul', { a: at, b: bt }, { transposeA: false, transposeB: false });
  if (at !== a) release(b, at);
  if (bt !== bb) release(b, bt);
  return out;
}

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    return batchMatMul(backend as unknown as WasmBackend, inputs.a as Info, inputs.b as Info, transposeA, transposeB);
  },
};
