// Tile for wasm. The batch-norm gradient tiles 1/sqrt(var) up to the full activation shape; the
// shipped kernel computes a source index per output element and took ~11% of a convnet step.
// Here each dimension is tiled by whole-block copies (TypedArray.copyWithin), innermost first.
import * as tf from '@tensorflow/tfjs';
import type { Info, WasmBackend } from './wasm-ops.js';

export function tile(b: WasmBackend, x: Info, reps: number[]): Info {
  const shape = x.shape;
  const outShape = shape.map((d, i) => d * reps[i]!);
  const out = b.makeOutput(outShape, x.dtype);
  const dst = b.typedArrayFromHeap(out);
  const src = b.typedArrayFromHeap(x);
  const rank = shape.length;
  if (rank === 0 || tf.util.sizeFromShape(outShape) === 0) {
    if (rank === 0) dst.set(src);
    return out;
  }
  // Lay the input out in the output's strides (scatter rows), then expand from the innermost axis
  // outwards: after processing axis k, every block of axis k is its tiled self.
  const outStrides = [...Array(rank).keys()].map((i) => outShape.slice(i + 1).reduce((p, d) => p * d, 1));
  const inner = shape[rank - 1]!;
  const rows = tf.util.sizeFromShape(shape) / inner;
  for (let r = 0; r < rows; r++) {
    let rem = r;
    let off = 0;
    for (let k = rank - 2; k >= 0; k--) {
      const i = rem % shape[k]!;
      rem = (rem - i) / shape[k]!;
      off += i * outStrides[k]!;
    }
    dst.set(src.subarray(r * inner, (r + 1) * inner), off);
  }
  for (let k = rank - 1; k >= 0; k--) {
    if (reps[k] === 1) continue;
    const block = shape[k]! * outStrides[k]!; // one untiled extent of axis k
    const outer = tf.util.sizeFromShape(shape.slice(0, k)); // blocks present before tiling axis k
    for (let o = 0; o < outer; o++) {
      // Position of the o-th outer block in the output (all outer axes still at untiled indices).
      let rem = o;
      let base = 0;
      for (let j = k - 1; j >= 0; j--) {
        const i = rem % shape[j]!;
        rem = (rem - i) / shape[j]!;
        base += i * outStrides[j]!;
      }
      for (let t = 1; t < reps[k]!; t++) dst.copyWithin(base + t * block, base, base + block);
    }
  }
  return out;
}

export const tileConfig: tf.KernelConfig = {
  kernelName: 'Tile',
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs, backend }) =>
    tile(backend as unknown as WasmBackend, inputs.x as Info, (attrs as { reps: number[] }).reps),
};
