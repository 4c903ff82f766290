// Thin wrappers that call the wasm backend's own registered kernel functions from inside another
// kernel. Going through tf ops instead would record the inner ops on the gradient tape and count
// them as separate kernels; calling kernelFuncs directly is how tfjs's own composite kernels work.
import * as tf from '@tensorflow/tfjs';

export type Info = tf.TensorInfo;
export type Attrs = Record<string, unknown>;

/** The slice of the wasm backend these kernels use (BackendWasm is not exported as a type). */
export interface WasmBackend {
  disposeData(dataId: object, force?: boolean): boolean;
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

/** Forward NHWC convolution with explicit pads, on XNNPACK via the wasm Conv2D kernel. */
export function conv2d(
  b: WasmBackend,
  x: Info,
  filter: Info,
  strides: [number, number],
  dilations: [number, number],
  pads: { top: number; bottom: number; left: number; right: number },
): Info {
  return run(
    b,
    'Conv2D',
    { x, filter },
    {
      strides,
      dilations,
      pad: [
        [0, 0],
        [pads.top, pads.bottom],
        [pads.left, pads.right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
    },
  );
}

/** Crops `x` (NHWC) so that negative trailing/leading pads become positive-or-zero pads. */
export function cropForPads(
  b: WasmBackend,
  x: Info,
  pads: { top: number; bottom: number; left: number; right: number },
): { x: Info; pads: typeof pads; owned: boolean } {
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
