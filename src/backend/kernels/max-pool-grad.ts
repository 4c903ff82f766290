// MaxPoolGrad for wasm. The shipped 4.22 kernel mishandles ties: for a window of equal values it
// routes the gradient to the last position or drops it entirely (seen with all-equal negative or
// zero windows, e.g. after ReLU → BatchNorm), whereas TensorFlow and the cpu backend give it to the
// first maximum. That silently changed convnet training. One pass over the wasm heap, first max wins.
import * as tf from '@tensorflow/tfjs';
import type { Info, WasmBackend } from './wasm-ops.js';

export function maxPoolGrad(b: WasmBackend, dy: Info, x: Info, attrs: Record<string, unknown>): Info {
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize as [number, number],
    attrs.strides as [number, number],
    1,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = b.makeOutput(x.shape, 'float32');
  const dx = b.typedArrayFromHeap(out) as Float32Array;
  const xs = b.typedArrayFromHeap(x) as Float32Array;
  const g = b.typedArrayFromHeap(dy) as Float32Array;
  dx.fill(0);
  const best = new Int32Array(c);
  const bestVal = new Float32Array(c);
  for (let bi = 0; bi < n; bi++) {
    const xb = bi * h * w * c;
    for (let r = 0; r < oh; r++) {
      const r0 = Math.max(0, r * sh - top);
      const r1 = Math.min(h, r * sh - top + fh);
      for (let q = 0; q < ow; q++) {
        const q0 = Math.max(0, q * sw - left);
        const q1 = Math.min(w, q * sw - left + fw);
        best.fill(-1);
        bestVal.fill(Number.NEGATIVE_INFINITY);
        for (let i = r0; i < r1; i++) {
          for (let j = q0; j < q1; j++) {
            const base = xb + (i * w + j) * c;
            for (let k = 0; k < c; k++) {
              const v = xs[base + k];
              // Strict '>' keeps the first maximum; NaN never wins, as on the cpu backend.
              if (v > bestVal[k] || best[k] < 0) {
                bestVal[k] = v;
                best[k] = base + k;
              }
            }
          }
        }
        const go = ((bi * oh + r) * ow + q) * c;
        for (let k = 0; k < c; k++) if (best[k] >= 0) dx[best[k]] += g[go + k];
      }
    }
  }
  return out;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs, backend }) =>
    maxPoolGrad(backend as unknown as WasmBackend, inputs.dy as Info, inputs.input as Info, attrs as Record<string, unknown>),
};
