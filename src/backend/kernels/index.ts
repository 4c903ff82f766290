// Registers the project's wasm kernels: the gradient kernels tfjs-backend-wasm 4.22 lacks, and
// faster replacements for shipped kernels that profiling showed to dominate a training step.
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input.js';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-backprop.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { resizeNearestGradCpuConfig, resizeNearestGradWasmConfig } from './resize-nearest-grad.js';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.js';
import { wasmKernel } from './wasm-ops.js';

/** Kernels wasm does not have at all. */
export const missingKernels: readonly tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  unsortedSegmentSumConfig,
];

/**
 * Shipped kernels that we replace: wasm's Conv2DBackpropInput is a scalar loop (ours runs on
 * XNNPACK, see docs/benchmarks.md); wasm's MaxPoolGrad routes gradients wrongly on ties; cpu's
 * ResizeNearestNeighborGrad is wrong for batch > 1 (see each file for the evidence).
 */
export const replacedKernels: readonly tf.KernelConfig[] = [
  conv2dBackpropInputConfig,
  maxPoolGradConfig,
  resizeNearestGradWasmConfig,
  resizeNearestGradCpuConfig,
];

let registered = false;

/**
 * Idempotent; call before or after the backends are initialised (none of these needs a setupFunc).
 * Also fixes the cpu fallback's ResizeNearestNeighborGrad, which is why selection always calls it.
 */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  for (const k of missingKernels) {
    // A future tfjs-backend-wasm may ship its own; keep it rather than shadow it.
    if (!tf.getKernel(k.kernelName, 'wasm')) tf.registerKernel(k);
  }
  for (const k of replacedKernels) {
    if (tf.getKernel(k.kernelName, k.backendName)) {
      if (k.backendName === 'wasm') wasmKernel(k.kernelName); // keep the shipped one reachable for benchmarks
      tf.unregisterKernel(k.kernelName, k.backendName);
    }
    tf.registerKernel(k);
  }
}

export {
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  maxPoolGradConfig,
  resizeNearestGradCpuConfig,
  resizeNearestGradWasmConfig,
  unsortedSegmentSumConfig,
};
