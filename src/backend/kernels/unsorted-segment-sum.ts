// UnsortedSegmentSum for wasm (absent in tfjs-backend-wasm 4.22); it is the gradient of gather,
// so embedding lookups cannot train without it. One linear pass over the wasm heap: out[id[i], :] += x[i, :].
// Ids outside [0, numSegments) are dropped, as in TensorFlow.
import * as tf from '@tensorflow/tfjs';
import type { Info, WasmBackend } from './wasm-ops.js';

export function unsortedSegmentSum(b: WasmBackend, x: Info, segmentIds: Info, numSegments: number): Info {
  const idCount = tf.util.sizeFromShape(segmentIds.shape);
  const inner = idCount === 0 ? 0 : tf.util.sizeFromShape(x.shape) / idCount;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const dtype = x.dtype === 'int32' ? 'int32' : 'float32';
  const out = b.makeOutput(outShape, dtype);
  // Views are taken after makeOutput: allocating may grow (and detach) the wasm heap.
  const dst = b.typedArrayFromHeap(out);
  const src = b.typedArrayFromHeap(x);
  const ids = b.typedArrayFromHeap(segmentIds);
  dst.fill(0);
  for (let i = 0; i < idCount; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const so = i * inner;
    const d = s * inner;
    for (let j = 0; j < inner; j++) dst[d + j] += src[so + j];
  }
  return out;
}

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs, backend }) =>
    unsortedSegmentSum(
      backend as unknown as WasmBackend,
      inputs.x as Info,
      inputs.segmentIds as Info,
      (attrs as { numSegments: number }).numSegments,
    ),
};
