// Copies between tensors and the shared buffers of a data-parallel step, without the intermediate
// arrays of dataSync() and slice(). On the 2-core machine a parallel step of the bench convnet
// (~554k weights, 2.2 MB) copied every weight, gradient and statistic through such arrays 5 times
// on the serial path (publish, the worker's load, both ranks' gradient write-out, the update's
// gradient tensors): ~1.3–1.5 ms each, measured, against ~0.1 ms for the plain copy. The wasm
// backend's tensors live in its heap, so a read is one set() from a view of it, and tf.tensor()
// copies a view into the heap at once; other backends (cpu) keep a reference to the array they are
// given, so they get their own copy.
import * as tf from '@tensorflow/tfjs';
import type { WasmBackend } from '../../backend/kernels/wasm-ops.js';

const onWasm = () => tf.getBackend() === 'wasm';

/** Writes `t`'s values (float32) into `dst` from offset `off`. */
export function readInto(t: tf.Tensor, dst: Float32Array, off: number): void {
  if (onWasm()) {
    // A fresh view every time: the heap's buffer is replaced when the wasm memory grows.
    dst.set((tf.backend() as unknown as WasmBackend).typedArrayFromHeap(t) as Float32Array, off);
  } else {
    dst.set(t.dataSync() as Float32Array, off);
  }
}

/** A float32 tensor of `shape` holding `src`'s values now (later writes to `src` do not reach it). */
export function tensorOf(src: Float32Array, shape: number[]): tf.Tensor {
  return tf.tensor(onWasm() ? src : src.slice(), shape, 'float32');
}
