// Registers the project's wasm kernels: the gradient kernels tfjs-backend-wasm 4.22 lacks, and
// faster replacements for shipped kernels that profiling showed to dominate a training step.
import * as tf from '@tensorflow/tfjs';
import { installTrainingLayers } from '../training-layers.js';
import { batchMatMulConfig } from './batch-mat-mul.js';
import { batchNormTrainConfig, batchNormTrainGradConfig, batchNormTrainGradient } from './batch-norm-train.js';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input.js';
import { conv2dConfig, fusedConv2dConfig } from './conv2d-forward.js';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-backprop.js';
import { greaterConfig, identityConfig, leakyReluConfig } from './elementwise.js';
import { maxPoolGradConfig } from './max-pool-grad.js';
import { meanConfig, sumConfig } from './reduce.js';
import { resizeNearestGradCpuConfig, resizeNearestGradWasmConfig } from './resize-nearest-grad.js';
import { tileConfig } from './tile.js';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.js';
import { shippedWasmKernel } from './wasm-ops.js';

/** Kernels wasm does not have at all. */
export const missingKernels: readonly tf.KernelConfig[] = [
  batchNormTrainConfig,
  batchNormTrainGradConfig,
  conv2dBackpropFilterConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  unsortedSegmentSumConfig,
];

/**
 * Shipped kernels that we replace: wasm's Conv2DBackpropInput, BatchMatMul (transposed operands),
 * Tile, LeakyRelu, scalar Greater, the copying Identity, Sum/Mean over leading axes and
 * one-output-channel Conv2D/FusedConv2D are slow paths (see docs/benchmarks.md); the shipped Conv2D/FusedConv2D return zeros for 'same' on some shapes (ours pass explicit pads); wasm's
 * MaxPoolGrad routes gradients wrongly on ties; cpu's ResizeNearestNeighborGrad is wrong for
 * batch > 1 (see each file for the evidence).
 */
export const replacedKernels: readonly tf.KernelConfig[] = [
  conv2dBackpropInputConfig,
  conv2dConfig,
  fusedConv2dConfig,
  leakyReluConfig,
  greaterConfig,
  identityConfig,
  sumConfig,
  meanConfig,
  batchMatMulConfig,
  tileConfig,
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
  tf.registerGradient(batchNormTrainGradient);
  installTrainingLayers();
  for (const k of replacedKernels) {
    const shipped = tf.getKernel(k.kernelName, k.backendName);
    // Keep the shipped one reachable (ours may delegate to it) before unregistering it.
    if (shipped && k.backendName === 'wasm') shippedWasmKernel(k.kernelName);
    if (shipped) tf.unregisterKernel(k.kernelName, k.backendName);
    if (shipped && k.backendName === 'wasm') {
      // Setup funcs (cwrap of the C++ entry point) run only at backend init and only for registered
      // kernels, so ours carries the shipped one's setup along.
      tf.registerKernel({ ...k, setupFunc: shipped.setupFunc });
    } else {
      tf.registerKernel(k);
    }
  }
}

export {
  batchMatMulConfig,
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  conv2dConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  fusedConv2dConfig,
  greaterConfig,
  identityConfig,
  leakyReluConfig,
  maxPoolGradConfig,
  meanConfig,
  resizeNearestGradCpuConfig,
  resizeNearestGradWasmConfig,
  sumConfig,
  tileConfig,
  unsortedSegmentSumConfig,
};

/**
 * For benchmarks only: switch one replaced wasm kernel back to the shipped implementation (true)
 * or to ours (false), to measure what each replacement is worth. Call after registerWasmKernels.
 */
export function useShippedWasmKernel(kernelName: string, shipped: boolean): void {
  const ours = replacedKernels.find((k) => k.kernelName === kernelName && k.backendName === 'wasm');
  if (!ours) throw new Error(`${kernelName} is not a replaced wasm kernel`);
  const original = shippedWasmKernel(kernelName);
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel(shipped ? original : ours);
  // Setup funcs (cwrap of the C++ entry point) only run at backend init, when ours was registered.
  if (shipped) original.setupFunc?.(tf.findBackend('wasm') as tf.KernelBackend);
}
