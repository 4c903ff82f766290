// Conv2DBackpropFilter for wasm (tfjs-backend-wasm 4.22 ships none, so conv training fails there).
// dW[fh,fw,ci,co] = sum_{n,oh,ow} x[n, oh*s + fh*d - pad, ..., ci] * dy[n,oh,ow,co]
// is itself a forward convolution once batch and channels trade places: the input is x as
// [Cin,H,W,N], the "filter" is dy as [OH,OW,N,Cout], stride and dilation swap roles, and the
// output [Cin,FH,FW,Cout] is the gradient. That runs on XNNPACK at forward-conv speed.
import * as tf from '@tensorflow/tfjs';
import { type Attrs, type Info, type WasmBackend, conv2d, cropForPads, pair, release, transpose } from './wasm-ops.js';

export function conv2dBackpropFilterVia(
  b: WasmBackend,
  x: Info,
  dy: Info,
  filterShape: [number, number, number, number],
  attrs: Attrs,
): Info {
  if (attrs.dataFormat != null && attrs.dataFormat !== 'NHWC') {
    throw new Error(`wasm Conv2DBackpropFilter supports NHWC only, got ${String(attrs.dataFormat)}`);
  }
  const strides = pair(attrs.strides as number | number[]);
  const dilations = pair(attrs.dilations as number | number[] | undefined);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
  const [fh, fw] = filterShape;
  const { outHeight: oh, outWidth: ow, inHeight: h, inWidth: w } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Pads that make the swapped conv produce exactly FH×FW outputs; negative means rows of x
  // that no output position reads (e.g. VALID with stride 2), which are cropped instead.
  const pads = {
    top,
    left,
    bottom: (fh - 1) * dilations[0] + (oh - 1) * strides[0] + 1 - h - top,
    right: (fw - 1) * dilations[1] + (ow - 1) * strides[1] + 1 - w - left,
  };
  const xT = transpose(b, x, [3, 1, 2, 0]);
  const dyT = transpose(b, dy, [1, 2, 0, 3]);
  const c = cropForPads(b, xT, pads);
  const g = conv2d(b, c.x, dyT, dilations, strides, c.pads);
  const dw = transpose(b, g, [1, 2, 0, 3]);
  release(b, xT, dyT, g);
  if (c.owned) release(b, c.x);
  return dw;
}

export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, attrs, backend }) => {
    const a = attrs as Attrs;
    return conv2dBackpropFilterVia(
      backend as unknown as WasmBackend,
      inputs.x as Info,
      inputs.dy as Info,
      a.filterShape as [number, number, number, number],
      a,
    );
  },
};
