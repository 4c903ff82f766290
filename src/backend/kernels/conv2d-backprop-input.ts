// Conv2DBackpropInput for wasm on XNNPACK. The shipped wasm kernel is a scalar C++ loop and was
// ~45% of a DCGAN step once the filter gradient existed. dx is the correlation of dy (zero-upsampled
// by the stride) with the filter flipped in space and with in/out channels swapped, so it can run
// on the fast forward Conv2D. Stride-1 convs (most 3×3 layers) need no upsampling at all.
import * as tf from '@tensorflow/tfjs';
import {
  type Attrs,
  type Info,
  type WasmBackend,
  conv2d,
  cropForPads,
  pad,
  pair,
  release,
  reshape,
  run,
  transpose,
} from './wasm-ops.js';

/** Inserts stride-1 zeros after every row/column of dy: [N,OH,OW,C] -> [N,OH*sh,OW*sw,C]. */
function upsampleWithZeros(b: WasmBackend, dy: Info, sh: number, sw: number): Info {
  const [n, oh, ow, c] = dy.shape as [number, number, number, number];
  const r6 = reshape(b, dy, [n, oh, 1, ow, 1, c]);
  const p = pad(b, r6, [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  const out = reshape(b, p, [n, oh * sh, ow * sw, c]);
  release(b, r6, p);
  return out;
}

export function conv2dBackpropInputVia(
  b: WasmBackend,
  dy: Info,
  filter: Info,
  inputShape: [number, number, number, number],
  attrs: Attrs,
): Info {
  if (attrs.dataFormat != null && attrs.dataFormat !== 'NHWC') {
    throw new Error(`wasm Conv2DBackpropInput supports NHWC only, got ${String(attrs.dataFormat)}`);
  }
  const strides = pair(attrs.strides as number | number[]);
  const dilations = pair(attrs.dilations as number | number[] | undefined);
  const filterShape = filter.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    strides,
    dilations,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
  const [fh, fw] = filterShape;
  const [sh, sw] = strides;
  const [dh, dw] = dilations;
  const up = sh * sw > 1 ? upsampleWithZeros(b, dy, sh, sw) : dy;
  const uh = up.shape[1]!;
  const uw = up.shape[2]!;
  const top = (fh - 1) * dh - info.padInfo.top;
  const left = (fw - 1) * dw - info.padInfo.left;
  const pads = {
    top,
    left,
    bottom: info.inHeight - uh - top + (fh - 1) * dh,
    right: info.inWidth - uw - left + (fw - 1) * dw,
  };
  const flipped = run(b, 'Reverse', { x: filter }, { dims: [0, 1] });
  const swapped = transpose(b, flipped, [0, 1, 3, 2]);
  const c = cropForPads(b, up, pads);
  const dx = conv2d(b, c.x, swapped, [1, 1], [dh, dw], c.pads);
  release(b, flipped, swapped);
  if (c.owned) release(b, c.x);
  if (up !== dy) release(b, up);
  return dx;
}

export const conv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const a = attrs as Attrs;
    return conv2dBackpropInputVia(
      backend as unknown as WasmBackend,
      inputs.dy as Info,
      inputs.filter as Info,
      a.inputShape as [number, number, number, number],
      a,
    );
  },
};
