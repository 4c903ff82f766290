// Thin wrappers that call the wasm backend's own registered kernel functions from inside another
// kernel. Going through tf ops instead would record the inner ops on the gradient tape and count
// them as separate kernels; calling kernelFuncs directly is how tfjs's own composite kernels work.
import * as tf from '@tensorflow/tfjs';

export type Info = tf.TensorInfo;
export type Attrs = Record<string, unknown>;

/** The slice of the wasm backend these kernels use (BackendWasm is not exported as a type). */
export interface WasmBackend {
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(info: Info): Float32Array | Int32Array | Uint8Array;
}

// Captured once so that replacing a kernel (Conv2DBackpropInput) can still reach the original.
const original = new Map<string, tf.KernelConfig>();

export function shippedWasmKernel(name: string): tf.KernelConfig {
  let k = original.get(name);
  if (!k) {
    k = tf.getKernel(name, 'wasm');
    if (!k) throw new Error(`wasm backend has no ${name} kernel`);
    original.set(name, k);
  }
  return k;
}

export function wasmKernel(name: string): tf.KernelFunc {
  return shippedWasmKernel(name).kernelFunc;
}

type Shape4 = [number, number, number, number];
type BackpropVia = (b: WasmBackend, first: Info, second: Info, shape: Shape4, attrs: Attrs) => Info;

/**
 * A wasm KernelConfig for the conv backprops, which all take two tensor inputs and a 4-D shape
 * attribute (filterShape or inputShape) and hand them to a `…Via` implementation.
 */
export function backpropKernel(kernelName: string, via: BackpropVia, inputs: [string, string], shapeAttr: string): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: ({ inputs: ins, attrs, backend }) => {
      const a = attrs as Attrs;
      return via(backend as unknown as WasmBackend, ins[inputs[0]] as Info, ins[inputs[1]] as Info, a[shapeAttr] as Shape4, a);
    },
  };
}

export function run(backend: WasmBackend, name: string, inputs: Record<string, Info>, attrs: Attrs = {}): Info {
  const out = wasmKernel(name)({ inputs, attrs: attrs as tf.NamedAttrMap, backend: backend as unknown as tf.KernelBackend });
  return out as Info;
}

/** Releases intermediates; reshape outputs share data with a refCount, so this is safe for them too. */
export function release(backend: WasmBackend, ...infos: Info[]): void {
  for (const i of infos) backend.disposeData(i.dataId);
}

export const transpose = (b: WasmBackend, x: Info, perm: number[]) => run(b, 'Transpose', { x }, { perm });
export const reshape = (b: WasmBackend, x: Info, shape: number[]) => run(b, 'Reshape', { x }, { shape });
export const slice = (b: WasmBackend, x: Info, begin: number[], size: number[]) =>
  run(b, 'Slice', { x }, { begin, size });
export const pad = (b: WasmBackend, x: Info, paddings: [number, number][]) =>
  run(b, 'PadV2', { x }, { paddings, constantValue: 0 });

export type Pads = { top: number; bottom: number; left: number; right: number };

const explicitPad = (p: Pads) => [
  [0, 0],
  [p.top, p.bottom],
  [p.left, p.right],
  [0, 0],
];

/**
 * Largest filter (FH·FW taps) sent to the depthwise path of a single-output-channel conv. XNNPACK's
 * one-pass depthwise microkernels cover up to 25 taps; a bigger window (e.g. the dy-as-filter of
 * Conv2DBackpropFilter) would leave them, so it stays on the GEMM conv.
 */
export const MAX_DEPTHWISE_TAPS = 25;

/**
 * True when a conv with this filter is faster as depthwise + channel sum than on XNNPACK's GEMM:
 * with one output channel the GEMM tiles (8 columns wide) are 1/8 full, so the dense conv costs as
 * much as one with 8 outputs (G's last conv 3×3 32→1 on 28×28×64: 8.3 ms GEMM vs 3.7 ms depthwise+sum).
 */
export function singleOutputConv(filterShape: readonly number[]): boolean {
  return filterShape[3] === 1 && filterShape[0]! * filterShape[1]! <= MAX_DEPTHWISE_TAPS;
}

/** Forward NHWC convolution with explicit pads, on XNNPACK (wasm Conv2D, or depthwise + sum for one output channel). */
export function conv2d(
  b: WasmBackend,
  x: Info,
  filter: Info,
  strides: [number, number],
  dilations: [number, number],
  pads: Pads,
): Info {
  if (singleOutputConv(filter.shape)) {
    // y[n,i,j] = sum_c depthwise_c(x)[n,i,j,c]: the [FH,FW,Cin,1] filter is already a multiplier-1
    // depthwise filter.
    const dw = run(b, 'DepthwiseConv2dNative', { x, filter }, { strides, dilations, pad: explicitPad(pads), dataFormat: 'NHWC' });
    if (dw.shape[3] === 1) return dw;
    const y = run(b, 'Sum', { x: dw }, { axis: [3], keepDims: true });
    release(b, dw);
    return y;
  }
  return run(
    b,
    'Conv2D',
    { x, filter },
    { strides, dilations, pad: explicitPad(pads), dataFormat: 'NHWC', dimRoundingMode: undefined },
  );
}

/** Crops `x` (NHWC) so that negative trailing/leading pads become positive-or-zero pads. */
export function cropForPads(
  b: WasmBackend,
  x: Info,
  pads: Pads,
): { x: Info; pads: Pads; owned: boolean } {
  const cutTop = Math.max(0, -pads.top);
  const cutBottom = Math.max(0, -pads.bottom);
  const cutLeft = Math.max(0, -pads.left);
  const cutRight = Math.max(0, -pads.right);
  const fixed = {
    top: Math.max(0, pads.top),
    bottom: Math.max(0, pads.bottom),
    left: Math.max(0, pads.left),
    right: Math.max(0, pads.right),
  };
  if (cutTop + cutBottom + cutLeft + cutRight === 0) return { x, pads: fixed, owned: false };
  const [n, h, w, c] = x.shape;
  const cropped = slice(
    b,
    x,
    [0, cutTop, cutLeft, 0],
    [n, h - cutTop - cutBottom, w - cutLeft - cutRight, c],
  );
  return { x: cropped, pads: fixed, owned: true };
}

export function pair(v: number | [number, number] | number[] | undefined, dflt = 1): [number, number] {
  if (v == null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  return [v[0]!, v[1] ?? v[0]!];
}

/**
 * What every conv gradient kernel starts with: the NHWC check, stride/dilation pairs and tfjs's
 * conv geometry (`depthwise` for depthwise filters [FH,FW,C,M]).
 */
export function convGeometry(kernel: string, xShape: readonly number[], filterShape: readonly number[], attrs: Attrs, depthwise = false) {
  if (attrs.dataFormat != null && attrs.dataFormat !== 'NHWC') {
    throw new Error(`wasm ${kernel} supports NHWC only, got ${String(attrs.dataFormat)}`);
  }
  const strides = pair(attrs.strides as number | number[]);
  const dilations = pair(attrs.dilations as number | number[] | undefined);
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
    depthwise,
  );
  return { info, strides, dilations };
}

/**
 * Pads that make a filter gradient's swapped conv (batch and channels trade places, stride and
 * dilation swap roles) produce exactly FH×FW outputs; negative means rows of x that no output
 * position reads (e.g. VALID with stride 2), which are cropped instead.
 */
export function filterGradientPads(info: tf.backend_util.Conv2DInfo, strides: [number, number], dilations: [number, number]): Pads {
  const { filterHeight: fh, filterWidth: fw, outHeight: oh, outWidth: ow, inHeight: h, inWidth: w } = info;
  const { top, left } = info.padInfo;
  return {
    top,
    left,
    bottom: (fh - 1) * dilations[0] + (oh - 1) * strides[0] + 1 - h - top,
    right: (fw - 1) * dilations[1] + (ow - 1) * strides[1] + 1 - w - left,
  };
}
