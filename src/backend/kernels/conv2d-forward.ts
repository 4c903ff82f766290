// Conv2D and FusedConv2D for wasm.
// - One output channel (a generator's last conv to a grey image, 3×3 32→1 in the DCGAN): XNNPACK's
//   GEMM tiles are 8 outputs wide, so a 1-output conv costs as much as an 8-output one. As depthwise
//   conv + channel sum it takes less than half (8.3 → 3.7 ms CPU at 64×28×28×32).
// - Every other conv runs the shipped kernel, but with 'same' turned into explicit pads: the shipped
//   kernels hand 'same' to XNNPACK's TensorFlow-SAME flag, which returns all zeros for some shapes
//   (found by the cpu-equality test: x 3×4×6×2, filter 2×5, strides [4,3]).
import * as tf from '@tensorflow/tfjs';
import { type Attrs, type Info, type WasmBackend, conv2d, pair, release, run, singleOutputConv, wasmKernel } from './wasm-ops.js';

/** Explicit pads for 'same'/'valid' (see the header: the shipped SAME flag is wrong for some shapes). */
function explicitAttrs(x: Info, filter: Info, a: Attrs): { attrs: Attrs; info: tf.backend_util.Conv2DInfo } | null {
  if ((a.dataFormat != null && a.dataFormat !== 'NHWC') || a.dimRoundingMode != null) return null;
  if (a.pad !== 'same' && a.pad !== 'valid' && !Array.isArray(a.pad)) return null;
  const strides = pair(a.strides as number | number[]);
  const dilations = pair(a.dilations as number | number[] | undefined);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    a.pad as 'same',
  );
  const { top, bottom, left, right } = info.padInfo;
  const pad = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
  return { attrs: { ...a, strides, dilations, pad }, info };
}

/** Our route's output, or null when the shipped kernel should run as called (other formats/attrs). */
function forward(b: WasmBackend, x: Info, filter: Info, a: Attrs, shipped: string): Info | null {
  const e = explicitAttrs(x, filter, a);
  if (!e) return null;
  if (singleOutputConv(filter.shape) && x.dtype === 'float32') {
    const { top, bottom, left, right } = e.info.padInfo;
    return conv2d(b, x, filter, e.attrs.strides as [number, number], e.attrs.dilations as [number, number], { top, bottom, left, right });
  }
  return run(b, shipped, { x, filter }, e.attrs);
}

export const conv2dConfig: tf.KernelConfig = {
  kernelName: 'Conv2D',
  backendName: 'wasm',
  kernelFunc: (args) => {
    const { x, filter } = args.inputs as { x: Info; filter: Info };
    return forward(args.backend as unknown as WasmBackend, x, filter, args.attrs as Attrs, 'Conv2D') ?? wasmKernel('Conv2D')(args);
  },
};

export const fusedConv2dConfig: tf.KernelConfig = {
  kernelName: 'FusedConv2D',
  backendName: 'wasm',
  kernelFunc: (args) => {
    const b = args.backend as unknown as WasmBackend;
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, Info | undefined>;
    const a = args.attrs as Attrs;
    const e = explicitAttrs(x!, filter!, a);
    if (!e) return wasmKernel('FusedConv2D')(args);
    if (!singleOutputConv(filter!.shape) || x!.dtype !== 'float32') {
      return wasmKernel('FusedConv2D')({ ...args, attrs: e.attrs as tf.NamedAttrMap });
    }
    const { top, bottom, left, right } = e.info.padInfo;
    const y = conv2d(b, x!, filter!, e.attrs.strides as [number, number], e.attrs.dilations as [number, number], { top, bottom, left, right });
    if (bias == null && (a.activation == null || a.activation === 'linear')) return y;
    // Bias and activation: the shipped FusedConv2D as a 1×1 conv with weight 1 (y·1 is exact), so
    // every activation it supports keeps its exact semantics.
    const one = b.makeOutput([1, 1, 1, 1], 'float32');
    (b.typedArrayFromHeap(one) as Float32Array)[0] = 1;
    const inputs: Record<string, Info> = { x: y, filter: one };
    if (bias) inputs.bias = bias;
    if (preluActivationWeights) inputs.preluActivationWeights = preluActivationWeights;
    const out = wasmKernel('FusedConv2D')({
      inputs,
      attrs: { ...a, strides: [1, 1], dilations: [1, 1], pad: 'valid', dimRoundingMode: undefined } as unknown as tf.NamedAttrMap,
      backend: args.backend,
    }) as Info;
    release(b, y, one);
    return out;
  },
};
