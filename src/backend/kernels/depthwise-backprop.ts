// Depthwise-conv gradients for wasm (absent in tfjs-backend-wasm 4.22), built, like the dense
// conv gradients, from the wasm forward DepthwiseConv2dNative (XNNPACK) plus layout shuffles.
import {
  type Attrs,
  backpropKernel,
  convGeometry,
  cropForPads,
  filterGradientPads,
  type Info,
  pad,
  release,
  reshape,
  run,
  transpose,
  type WasmBackend,
} from './wasm-ops.js';

type Pads = { top: number; bottom: number; left: number; right: number };

function depthwise(b: WasmBackend, x: Info, filter: Info, strides: number[], dilations: number[], p: Pads): Info {
  return run(
    b,
    'DepthwiseConv2dNative',
    { x, filter },
    {
      strides,
      dilations,
      pad: [
        [0, 0],
        [p.top, p.bottom],
        [p.left, p.right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
}


/**
 * dW[fh,fw,c,m] = sum_{n,oh,ow} x[n, oh*s+fh*d-pad, .., c] * dy[n,oh,ow,c*M+m]: a depthwise conv whose
 * channels are the (c,n) pairs, x as [1,H,W,C*N] and dy as the [OH,OW,C*N,M] filter, with stride and
 * dilation swapped; summing over n afterwards gives the gradient.
 */
export function depthwiseBackpropFilterVia(
  b: WasmBackend,
  x: Info,
  dy: Info,
  filterShape: [number, number, number, number],
  attrs: Attrs,
): Info {
  const { info, strides, dilations } = convGeometry('DepthwiseConv2dNativeBackpropFilter', x.shape, filterShape, attrs, true);
  const [fh, fw, c, m] = filterShape;
  const n = x.shape[0]!;
  const { outHeight: oh, outWidth: ow, inHeight: h, inWidth: w } = info;
  const pads = filterGradientPads(info, strides, dilations);
  const xT = transpose(b, x, [1, 2, 3, 0]);
  const xR = reshape(b, xT, [1, h, w, c * n]);
  const dy5 = reshape(b, dy, [n, oh, ow, c, m]);
  const dyT = transpose(b, dy5, [1, 2, 3, 0, 4]);
  const dyR = reshape(b, dyT, [oh, ow, c * n, m]);
  const cr = cropForPads(b, xR, pads);
  const g = depthwise(b, cr.x, dyR, dilations, strides, cr.pads);
  const g5 = reshape(b, g, [fh, fw, c, n, m]);
  const dw = run(b, 'Sum', { x: g5 }, { axis: [3], keepDims: false });
  release(b, xT, xR, dy5, dyT, dyR, g, g5);
  if (cr.owned) release(b, cr.x);
  return dw;
}

/**
 * dx is dy (zero-upsampled by the stride) correlated with the spatially flipped filter, channel by
 * channel; with a channel multiplier M the M partial results per input channel are summed.
 */
export function depthwiseBackpropInputVia(
  b: WasmBackend,
  dy: Info,
  filter: Info,
  inputShape: [number, number, number, number],
  attrs: Attrs,
): Info {
  const { info, strides, dilations } = convGeometry('DepthwiseConv2dNativeBackpropInput', inputShape, filter.shape, attrs, true);
  const [fh, fw, c, m] = filter.shape as [number, number, number, number];
  const [n, oh, ow] = dy.shape as [number, number, number, number];
  const [sh, sw] = strides;
  const [dh, dw] = dilations;
  let up = dy;
  if (sh * sw > 1) {
    const r6 = reshape(b, dy, [n, oh, 1, ow, 1, c * m]);
    const p = pad(b, r6, [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    up = reshape(b, p, [n, oh * sh, ow * sw, c * m]);
    release(b, r6, p);
  }
  const top = (fh - 1) * dh - info.padInfo.top;
  const left = (fw - 1) * dw - info.padInfo.left;
  const pads = {
    top,
    left,
    bottom: info.inHeight - up.shape[1]! - top + (fh - 1) * dh,
    right: info.inWidth - up.shape[2]! - left + (fw - 1) * dw,
  };
  const flipped = run(b, 'Reverse', { x: filter }, { dims: [0, 1] });
  const f = reshape(b, flipped, [fh, fw, c * m, 1]);
  const cr = cropForPads(b, up, pads);
  const y = depthwise(b, cr.x, f, [1, 1], [dh, dw], cr.pads);
  let dx = y;
  if (m > 1) {
    const y5 = reshape(b, y, [n, info.inHeight, info.inWidth, c, m]);
    dx = run(b, 'Sum', { x: y5 }, { axis: [4], keepDims: false });
    release(b, y5, y);
  }
  release(b, flipped, f);
  if (cr.owned) release(b, cr.x);
  if (up !== dy) release(b, up);
  return dx;
}

export const depthwiseBackpropFilterConfig = backpropKernel('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilterVia, ['x', 'dy'], 'filterShape');

export const depthwiseBackpropInputConfig = backpropKernel('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInputVia, ['dy', 'filter'], 'inputShape');
