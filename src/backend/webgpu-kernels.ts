// Kernels replaced on the webgpu backend (tfjs-backend-webgpu 4.22) after test/webgpu.test.ts
// compared every op our models train with against the cpu backend. Only MaxPoolGrad differs:
// its position shader keeps the LAST maximum of a window (`value >= max`), so on ties (flat image
// regions, ReLU zeros, saturated pixels) the gradient goes to another pixel than on cpu, wasm and
// in TensorFlow, which take the first. Here the positions use `>`; the backprop shader is the
// shipped one (not exported, hence copied). A per-op CPU fallback is not an option in Node:
// reading a GPU tensor back is asynchronous there, and kernels run synchronously.
import * as tf from '@tensorflow/tfjs';

interface WebgpuProgram {
  variableNames: string[];
  uniforms: string;
  workgroupSize: [number, number, number];
  size: boolean;
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  shaderKey: string;
  getUserCode(): string;
}
interface WebgpuBackendLike {
  runWebGPUProgram(p: WebgpuProgram, inputs: tf.TensorInfo[], dtype: string, uniforms: { type: string; data: number[] }[]): tf.TensorInfo;
  disposeData(id: object): void;
}
interface DispatchUtil {
  flatDispatchLayout(shape: number[]): { x: number[] };
  computeDispatch(layout: { x: number[] }, shape: number[], wg: [number, number, number]): [number, number, number];
}

function program(util: DispatchUtil, shape: number[], wg: [number, number, number], o: Pick<WebgpuProgram, 'variableNames' | 'uniforms' | 'shaderKey' | 'getUserCode'>): WebgpuProgram {
  const dispatchLayout = util.flatDispatchLayout(shape);
  return { ...o, workgroupSize: wg, size: true, outputShape: shape, dispatchLayout, dispatch: util.computeDispatch(dispatchLayout, shape, wg) };
}

/** Index (wR·filterW + wC) of the first maximum in each pooling window. */
const FIRST_MAX_POSITIONS = `
  fn main(index : i32) {
    if (index < uniforms.size) {
      let coords = getCoordsFromIndex(index);
      let batch = coords[0];
      let d = coords[3];
      let corner = vec2<i32>(coords.yz) * uniforms.strides - uniforms.pads;
      var maxValue = 0.0;
      var found = false;
      var maxPosition = 0;
      for (var wR = 0; wR < uniforms.filterDims.x; wR = wR + uniforms.dilations.x) {
        let xR = corner.x + wR;
        if (xR < 0 || xR >= uniforms.convDims.x) { continue; }
        for (var wC = 0; wC < uniforms.filterDims.y; wC = wC + uniforms.dilations.y) {
          let xC = corner.y + wC;
          if (xC < 0 || xC >= uniforms.convDims.y) { continue; }
          let value = getX(batch, xR, xC, d);
          if (!found || value > maxValue) {
            maxValue = value;
            found = true;
            maxPosition = wR * uniforms.filterDims.y + wC;
          }
        }
      }
      setOutputAtIndexI32(index, maxPosition);
    }
  }`;

/** tfjs-backend-webgpu's MaxPool2DBackpropProgram shader, unchanged. */
const MAX_POOL_BACKPROP = `
  fn main(index : i32) {
    if (index < uniforms.size) {
      let coords = getCoordsFromIndex(index);
      let batch = coords[0];
      let d = coords[3];
      let dyRCCorner = vec2<i32>(coords.yz) - uniforms.pads;
      let dyRCorner = dyRCCorner.x;
      let dyCCorner = dyRCCorner.y;
      var dotProd = 0.0;
      let lastIndex = uniforms.filterDims[0] * uniforms.filterDims[1] - 1;
      for (var wR = 0; wR < uniforms.filterDims[0]; wR += uniforms.dilations[0]) {
        let dyR = f32(dyRCorner + wR) / f32(uniforms.strides[0]);
        if (dyR < 0.0 || dyR >= f32(uniforms.outHeight) || fract(dyR) > 0.0) { continue; }
        let idyR = i32(dyR);
        for (var wC = 0; wC < uniforms.filterDims[1]; wC += uniforms.dilations[1]) {
          let dyC = f32(dyCCorner + wC) / f32(uniforms.strides[1]);
          if (dyC < 0.0 || dyC >= f32(uniforms.outWidth) || fract(dyC) > 0.0) { continue; }
          let idyC = i32(dyC);
          let dyValue = getDy(batch, idyR, idyC, d);
          let maxPosValue = lastIndex - i32(getMaxPos(batch, idyR, idyC, d));
          let curPosValue = wR * uniforms.filterDims[1] + wC;
          dotProd += dyValue * select(0.0, 1.0, maxPosValue == curPosValue);
        }
      }
      setOutputAtIndex(index, dotProd);
    }
  }`;

function maxPoolGradConfig(util: DispatchUtil): tf.KernelConfig {
  return {
    kernelName: tf.MaxPoolGrad,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
      const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
      const b = backend as unknown as WebgpuBackendLike;
      const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
      const pos = b.runWebGPUProgram(
        program(util, info.outShape, [128, 1, 1], {
          variableNames: ['x'],
          uniforms: 'strides : vec2<i32>, pads : vec2<i32>, dilations : vec2<i32>, convDims : vec2<i32>, filterDims : vec2<i32>,',
          shaderKey: 'ablate_maxPoolFirstPositions',
          getUserCode: () => FIRST_MAX_POSITIONS,
        }),
        [input],
        'int32',
        [
          { type: 'int32', data: [info.strideHeight, info.strideWidth] },
          { type: 'int32', data: [info.padInfo.top, info.padInfo.left] },
          { type: 'int32', data: [info.dilationHeight, info.dilationWidth] },
          { type: 'int32', data: [info.inHeight, info.inWidth] },
          { type: 'int32', data: [info.effectiveFilterHeight, info.effectiveFilterWidth] },
        ],
      );
      const dx = b.runWebGPUProgram(
        program(util, info.inShape, [64, 1, 1], {
          variableNames: ['dy', 'maxPos'],
          uniforms: 'strides : vec2<i32>, pads : vec2<i32>, dilations : vec2<i32>, filterDims : vec2<i32>, outHeight : i32, outWidth : i32',
          shaderKey: 'ablate_maxPool2DBackprop',
          getUserCode: () => MAX_POOL_BACKPROP,
        }),
        [dy, pos],
        input.dtype,
        [
          { type: 'int32', data: [info.strideHeight, info.strideWidth] },
          { type: 'int32', data: [info.effectiveFilterHeight - 1 - info.padInfo.top, info.effectiveFilterWidth - 1 - info.padInfo.left] },
          { type: 'int32', data: [info.dilationHeight, info.dilationWidth] },
          { type: 'int32', data: [info.effectiveFilterHeight, info.effectiveFilterWidth] },
          { type: 'int32', data: [info.outHeight] },
          { type: 'int32', data: [info.outWidth] },
        ],
      );
      b.disposeData(pos.dataId);
      return dx;
    },
  };
}

/** Kernel name → why ours replaces the shipped one; docs/backends.md lists the same. */
export const WEBGPU_REPLACED: Record<string, string> = {
  MaxPoolGrad: 'the shipped one routes the gradient to the last maximum of a window on ties; cpu, wasm and TensorFlow use the first',
};

let registered = false;
/** Idempotent; `util` is tfjs-backend-webgpu's exported webgpu_util. */
export function registerWebgpuKernels(util: DispatchUtil): void {
  if (registered) return;
  registered = true;
  if (tf.getKernel(tf.MaxPoolGrad, 'webgpu')) tf.unregisterKernel(tf.MaxPoolGrad, 'webgpu');
  tf.registerKernel(maxPoolGradConfig(util));
}
