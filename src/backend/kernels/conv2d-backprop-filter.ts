// Conv2DBackpropFilter for wasm (tfjs-backend-wasm 4.22 ships none, so conv training fails there).
// dW[fh,fw,ci,co] = sum_{n,oh,ow} x[n, oh*s + fh*d - pad, ..., ci] * dy[n,oh,ow,co]
// is itself a forward convolution once batch and channels trade places: the input is x as
// [Cin,H,W,N], the "filter" is dy as [OH,OW,N,Cout], stride and dilation swap roles, and the
// output [Cin,FH,FW,Cout] is the gradient. That runs on XNNPACK at forward-conv speed, except when
// dy (the "filter") is large: stride-1 layers on 16×16 and larger go to conv2d-backprop-filter-gemm.ts.
import { backpropFilterGemm, gemmWins } from './conv2d-backprop-filter-gemm.js';
import { type Attrs, backpropKernel, conv2d, convGeometry, cropForPads, filterGradientPads, type Info, type Pads, pad, release, run, transpose, type WasmBackend } from './wasm-ops.js';

export function conv2dBackpropFilterVia(
  b: WasmBackend,
  x: Info,
  dy: Info,
  filterShape: [number, number, number, number],
  attrs: Attrs,
): Info {
  const { info, strides, dilations } = convGeometry('Conv2DBackpropFilter', x.shape, filterShape, attrs);
  const { outHeight: oh, outWidth: ow } = info;
  const pads = filterGradientPads(info, strides, dilations);
  if (filterShape[3] < 8 && filterShape[2] >= 8 && strides[0] * strides[1] * dilations[0] * dilations[1] === 1) {
    return viaDyAsInput(b, x, dy, filterShape, pads);
  }
  if (oh * ow * x.shape[0]! > 0 && gemmWins(filterShape, strides, dilations, ow)) {
    return backpropFilterGemm(b, x, dy, filterShape, pads, dilations);
  }
  const xT = transpose(b, x, [3, 1, 2, 0]);
  const dyT = transpose(b, dy, [1, 2, 0, 3]);
  const c = cropForPads(b, xT, pads);
  const g = conv2d(b, c.x, dyT, dilations, strides, c.pads);
  const dw = transpose(b, g, [1, 2, 0, 3]);
  release(b, xT, dyT, g);
  if (c.owned) release(b, c.x);
  return dw;
}

/**
 * Few output channels (G's last conv, 32→1): the swapped conv above would have Cout GEMM columns,
 * 1 of XNNPACK's 8. For stride 1 / dilation 1 the roles can trade once more: the conv input is dy as
 * [Cout, OH, OW, N] zero-padded by FH−1/FW−1, the filter is the padded x as [Hp, Wp, N, Cin], and
 * out[co, FH−1−a, FW−1−b, ci] = dW[a, b, ci, co]: Cin GEMM columns (18.6 → 13.5 ms CPU at 64×28×28×32).
 */
function viaDyAsInput(b: WasmBackend, x: Info, dy: Info, filterShape: [number, number, number, number], xPads: Pads): Info {
  const [fh, fw] = filterShape;
  const c = cropForPads(b, x, xPads);
  const p = c.pads;
  const xp = p.top + p.bottom + p.left + p.right > 0 ? pad(b, c.x, [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]]) : c.x;
  const filt = transpose(b, xp, [1, 2, 0, 3]);
  const dyT = transpose(b, dy, [3, 1, 2, 0]);
  const g = conv2d(b, dyT, filt, [1, 1], [1, 1], { top: fh - 1, bottom: fh - 1, left: fw - 1, right: fw - 1 });
  const r = run(b, 'Reverse', { x: g }, { dims: [1, 2] });
  const dw = transpose(b, r, [1, 2, 3, 0]);
  release(b, filt, dyT, g, r);
  if (xp !== c.x) release(b, xp);
  if (c.owned) release(b, c.x);
  return dw;
}

export const conv2dBackpropFilterConfig = backpropKernel('Conv2DBackpropFilter', conv2dBackpropFilterVia, ['x', 'dy'], 'filterShape');
