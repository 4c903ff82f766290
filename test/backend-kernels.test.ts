// The project's wasm kernels against tfjs's cpu kernels on random shapes, strides, paddings and
// dilations, plus a check that no intermediate buffer is left behind on the wasm heap.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { gemmWins } from '../src/backend/kernels/conv2d-backprop-filter-gemm.js';
import { rng } from '../src/util/rng.js';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

const R = rng(20240605);
const int = (lo: number, hi: number) => lo + Math.floor(R() * (hi - lo + 1));
const values = (n: number) => Float32Array.from({ length: n }, () => R() * 2 - 1);

async function on<T extends tf.TensorContainer>(backend: string, f: () => T): Promise<T> {
  await tf.setBackend(backend);
  return tf.tidy(f);
}

function kernel(name: string, inputs: Record<string, tf.Tensor>, attrs: object): Float32Array {
  const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  const v = out.dataSync() as Float32Array;
  out.dispose();
  return v;
}

function relErr(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  assert.equal(got.length, ref.length);
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ref[i]! - got[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

/** A dilated filter is a dense one with zeros between the taps; lets cpu kernels without dilation support act as reference. */
function dilateFilter(f: Float32Array, shape: number[], d: [number, number]): { v: Float32Array; shape: number[] } {
  const [fh, fw, a, b] = shape as [number, number, number, number];
  const eh = (fh - 1) * d[0] + 1;
  const ew = (fw - 1) * d[1] + 1;
  const v = new Float32Array(eh * ew * a * b);
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++)
      for (let k = 0; k < a * b; k++) v[(i * d[0] * ew + j * d[1]) * a * b + k] = f[(i * fw + j) * a * b + k]!;
  return { v, shape: [eh, ew, a, b] };
}
function undilateFilter(v: Float32Array, shape: number[], d: [number, number]): Float32Array {
  const [fh, fw, a, b] = shape as [number, number, number, number];
  const ew = (fw - 1) * d[1] + 1;
  const out = new Float32Array(fh * fw * a * b);
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++)
      for (let k = 0; k < a * b; k++) out[(i * fw + j) * a * b + k] = v[(i * d[0] * ew + j * d[1]) * a * b + k]!;
  return out;
}

interface Case {
  x: number[];
  f: number[];
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
  dy: number[];
}
/** `wide`: strides up to 4, filters up to 5 (smaller and larger than the stride), pads up to 4, one-channel sides. */
function randomCase(depthwise: boolean, wide = false): Case {
  for (;;) {
    const n = int(1, 3);
    const h = int(3, wide ? 13 : 10);
    const w = int(3, wide ? 13 : 10);
    const cin = wide && R() < 0.3 ? 1 : int(1, 4);
    const cout = depthwise ? int(1, 3) : wide && R() < 0.3 ? 1 : int(1, 5);
    const f = [int(1, wide ? 5 : 4), int(1, wide ? 5 : 4), cin, cout];
    // tfjs requires stride 1 wherever dilation > 1 (per op), so draw one of them > 1 at most.
    const dilated = R() < (wide ? 0.2 : 0.35);
    const maxStride = wide ? 4 : 3;
    const strides: [number, number] = dilated ? [1, 1] : [int(1, maxStride), int(1, maxStride)];
    const dilations: [number, number] = dilated ? [int(1, 3), int(1, 3)] : [1, 1];
    const kind = int(0, 2);
    const maxPad = wide ? 4 : 2;
    const pad: Pad =
      kind === 0
        ? 'same'
        : kind === 1
          ? 'valid'
          : [[0, 0], [int(0, maxPad), int(0, maxPad)], [int(0, maxPad), int(0, maxPad)], [0, 0]];
    try {
      const info = tf.backend_util.computeConv2DInfo(
        [n, h, w, cin],
        f as [number, number, number, number],
        strides,
        dilations,
        pad as 'same',
        undefined,
        depthwise,
      );
      if (info.outHeight < 1 || info.outWidth < 1) continue;
      return { x: [n, h, w, cin], f, strides, dilations, pad, dy: info.outShape };
    } catch {}
  }
}

before(async () => {
  await initBackend('wasm', () => {});
});

async function checkBackpropFilter(c: Case): Promise<void> {
  const x = values(tf.util.sizeFromShape(c.x));
  const dy = values(tf.util.sizeFromShape(c.dy));
  const wasm = await on('wasm', () =>
    kernel(
      'Conv2DBackpropFilter',
      { x: tf.tensor(x, c.x), dy: tf.tensor(dy, c.dy) },
      { strides: c.strides, dilations: c.dilations, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f },
    ),
  );
  const dil = dilateFilter(new Float32Array(tf.util.sizeFromShape(c.f)), c.f, c.dilations);
  const cpuDilated = await on('cpu', () =>
    kernel(
      'Conv2DBackpropFilter',
      { x: tf.tensor(x, c.x), dy: tf.tensor(dy, c.dy) },
      { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: dil.shape },
    ),
  );
  const cpu = undilateFilter(cpuDilated, c.f, c.dilations);
  const e = relErr(cpu, wasm);
  assert.ok(e < 1e-5, `case ${JSON.stringify(c)}: relative error ${e}`);
}

test('Conv2DBackpropFilter on wasm matches cpu (random shapes, strides, pads, dilations)', async () => {
  for (let t = 0; t < 60; t++) await checkBackpropFilter(randomCase(false));
  // Few outputs from many inputs, stride 1 (the dy-as-input route: G's last conv, 32→1).
  for (let t = 0; t < 20; t++) {
    const c = randomCase(false, true);
    c.f[2] = int(8, 12);
    c.f[3] = int(1, 7);
    c.x[3] = c.f[2]!;
    c.strides = [1, 1];
    c.dilations = [1, 1];
    const info = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.f as [number, number, number, number], 1, 1, c.pad as 'same');
    if (info.outHeight < 1 || info.outWidth < 1) continue;
    c.dy = info.outShape;
    await checkBackpropFilter(c);
  }
  // Stride 1 on 16+ columns (the chunked-GEMM route): odd sizes, VALID/SAME/explicit pads, dilation,
  // 1×1 to 3×3 and non-square filters, batch 1, and batches that split into a short last chunk
  // (5 images of ~34×34, 2 per chunk) where the last image's padding columns run past x.
  for (const [x, f, d, pad] of [
    [[2, 16, 16, 3], [3, 3, 3, 9], [1, 1], 'same'],
    [[1, 17, 19, 4], [3, 3, 4, 8], [1, 1], 'valid'],
    [[3, 18, 21, 2], [1, 3, 2, 10], [1, 1], 'same'],
    [[2, 16, 23, 5], [3, 2, 5, 8], [1, 1], [[0, 0], [2, 0], [1, 3], [0, 0]]],
    [[2, 20, 35, 3], [3, 3, 3, 8], [2, 2], 'same'],
    [[2, 9, 16, 6], [1, 1, 6, 11], [1, 1], 'valid'],
    [[5, 34, 34, 2], [3, 3, 2, 8], [1, 1], 'same'],
    [[5, 32, 33, 2], [3, 3, 2, 8], [1, 1], 'valid'],
  ] as const) {
    const fs = [...f] as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo([...x] as [number, number, number, number], fs, 1, [...d], pad as 'same');
    assert.ok(gemmWins(fs, [1, 1], [...d], info.outWidth), `${x} ${f} takes the GEMM route`);
    await checkBackpropFilter({ x: [...x], f: fs, strides: [1, 1], dilations: [...d], pad: pad as Pad, dy: info.outShape });
  }
});

async function checkBackpropInput(c: Case): Promise<void> {
  const f = values(tf.util.sizeFromShape(c.f));
  const dy = values(tf.util.sizeFromShape(c.dy));
  const wasm = await on('wasm', () =>
    kernel(
      'Conv2DBackpropInput',
      { dy: tf.tensor(dy, c.dy), filter: tf.tensor(f, c.f) },
      { strides: c.strides, dilations: c.dilations, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x },
    ),
  );
  const dil = dilateFilter(f, c.f, c.dilations);
  const cpu = await on('cpu', () =>
    kernel(
      'Conv2DBackpropInput',
      { dy: tf.tensor(dy, c.dy), filter: tf.tensor(dil.v, dil.shape) },
      { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x },
    ),
  );
  const e = relErr(cpu, wasm);
  assert.ok(e < 1e-5, `case ${JSON.stringify(c)}: relative error ${e}`);
}

test('Conv2DBackpropInput polyphase on wasm matches cpu (strides 1–4, filters smaller/larger than the stride, 1-channel sides)', async () => {
  for (let t = 0; t < 120; t++) await checkBackpropInput(randomCase(false, true));
  // The DCGAN discriminator's layers (4×4 stride 2 'same', 1 and 32 input channels) and an
  // odd-sized input where the phases have different row counts.
  for (const [x, f, s] of [
    [[2, 28, 28, 1], [4, 4, 1, 32], 2],
    [[2, 14, 14, 32], [4, 4, 32, 64], 2],
    [[2, 13, 11, 3], [3, 3, 3, 5], 2],
    [[1, 9, 10, 2], [1, 1, 2, 3], 3],
  ] as const) {
    for (const pad of ['same', 'valid'] as const) {
      const dyShape = tf.backend_util.computeConv2DInfo([...x] as [number, number, number, number], [...f] as [number, number, number, number], s, 1, pad).outShape;
      await checkBackpropInput({ x: [...x], f: [...f], strides: [s, s], dilations: [1, 1], pad, dy: dyShape });
    }
  }
});

test('Conv2DBackpropInput on wasm matches cpu (random shapes, strides, pads, dilations)', async () => {
  for (let t = 0; t < 60; t++) {
    const c = randomCase(false);
    const f = values(tf.util.sizeFromShape(c.f));
    const dy = values(tf.util.sizeFromShape(c.dy));
    const wasm = await on('wasm', () =>
      kernel(
        'Conv2DBackpropInput',
        { dy: tf.tensor(dy, c.dy), filter: tf.tensor(f, c.f) },
        { strides: c.strides, dilations: c.dilations, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x },
      ),
    );
    const dil = dilateFilter(f, c.f, c.dilations);
    const cpu = await on('cpu', () =>
      kernel(
        'Conv2DBackpropInput',
        { dy: tf.tensor(dy, c.dy), filter: tf.tensor(dil.v, dil.shape) },
        { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x },
      ),
    );
    const e = relErr(cpu, wasm);
    assert.ok(e < 1e-5, `case ${JSON.stringify(c)}: relative error ${e}`);
  }
});

test('depthwise conv gradients on wasm match cpu (random shapes, multipliers, strides, pads, dilations)', async () => {
  for (let t = 0; t < 40; t++) {
    const c = randomCase(true);
    const x = values(tf.util.sizeFromShape(c.x));
    const f = values(tf.util.sizeFromShape(c.f));
    const dy = values(tf.util.sizeFromShape(c.dy));
    // cpu's depthwise gradients ignore dilations, so it gets the equivalent zero-filled dense filter.
    const dil = dilateFilter(f, c.f, c.dilations);
    const run = (be: string) => {
      const cpu = be === 'cpu';
      const attrs = { strides: c.strides, dilations: cpu ? [1, 1] : c.dilations, pad: c.pad, dataFormat: 'NHWC' };
      return on(be, () => [
        kernel(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.tensor(x, c.x), dy: tf.tensor(dy, c.dy) },
          { ...attrs, filterShape: cpu ? dil.shape : c.f },
        ),
        kernel(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: tf.tensor(dy, c.dy), filter: cpu ? tf.tensor(dil.v, dil.shape) : tf.tensor(f, c.f) },
          { ...attrs, inputShape: c.x },
        ),
      ]);
    };
    const [wf, wi] = await run('wasm');
    const [cfDilated, ci] = await run('cpu');
    const cf = undilateFilter(cfDilated!, c.f, c.dilations);
    assert.ok(relErr(cf, wf!) < 1e-5, `filter grad ${JSON.stringify(c)}: ${relErr(cf, wf!)}`);
    assert.ok(relErr(ci!, wi!) < 1e-5, `input grad ${JSON.stringify(c)}: ${relErr(ci!, wi!)}`);
  }
});

test('UnsortedSegmentSum on wasm matches cpu, including out-of-range ids', async () => {
  for (const [xShape, idShape] of [
    [[7, 3], [7]],
    [[4, 5, 2], [4]],
    [[9], [9]],
  ] as const) {
    const numSegments = int(2, 6);
    const x = values(tf.util.sizeFromShape([...xShape]));
    const ids = Int32Array.from({ length: tf.util.sizeFromShape([...idShape]) }, () => int(-1, numSegments));
    const run = (be: string) =>
      on(be, () =>
        kernel('UnsortedSegmentSum', { x: tf.tensor(x, [...xShape]), segmentIds: tf.tensor(ids, [...idShape], 'int32') }, { numSegments }),
      );
    const w = await run('wasm');
    const c = await run('cpu');
    assert.ok(relErr(c, w) < 1e-6, `${xShape}: ${relErr(c, w)}`);
  }
});

test('the wasm kernels free every intermediate buffer', async () => {
  await tf.setBackend('wasm');
  const be = tf.backend() as unknown as { numDataIds(): number };
  const x = tf.randomNormal([2, 9, 9, 3]);
  const f = tf.randomNormal([3, 3, 3, 4]);
  const df = tf.randomNormal([3, 3, 3, 2]);
  const dy = tf.randomNormal([2, 5, 5, 4]);
  const ddy = tf.randomNormal([2, 5, 5, 6]);
  const f1 = tf.randomNormal([3, 3, 1, 4]);
  const f11 = tf.randomNormal([1, 1, 3, 4]);
  const cropPad: [[0, 0], [number, number], [number, number], [0, 0]] = [[0, 0], [4, 0], [0, 4], [0, 0]];
  const cropInfo = tf.backend_util.computeConv2DInfo([2, 9, 9, 3], [3, 3, 3, 4], 2, 1, cropPad);
  const dyCrop = tf.randomNormal(cropInfo.outShape);
  const f31 = tf.randomNormal([3, 3, 3, 1]);
  const b1 = tf.randomNormal([1]);
  const b4 = tf.randomNormal([4]);
  const zero = tf.scalar(0);
  const dyUp = tf.randomNormal([2, 18, 18, 3]);
  const x8 = tf.randomNormal([2, 9, 9, 8]);
  const dy8 = tf.randomNormal([2, 9, 9, 1]);
  const dy8v = tf.randomNormal([2, 7, 7, 1]);
  const x16 = tf.randomNormal([3, 16, 17, 3]);
  const dy16 = tf.randomNormal([3, 16, 17, 8]);
  const before = be.numDataIds();
  const attrs = { strides: [2, 2], pad: 'same', dataFormat: 'NHWC' };
  for (let i = 0; i < 3; i++) {
    tf.dispose([
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [3, 3, 3, 4] }) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: [2, 9, 9, 3] }) as tf.Tensor,
      // Polyphase variants: one dx channel (depthwise + sum per phase), phases without taps
      // (1×1 filter, stride 2), and pads that crop dy.
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f1 }, { ...attrs, inputShape: [2, 9, 9, 1] }) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f11 }, { ...attrs, pad: 'valid', inputShape: [2, 9, 9, 3] }) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropInput', { dy: dyCrop, filter: f }, { ...attrs, pad: cropPad, inputShape: [2, 9, 9, 3] }) as tf.Tensor,
      // Forward convs: one output channel (depthwise + sum, then bias/activation as a 1×1 conv).
      tf.engine().runKernel('Conv2D', { x, filter: f31 }, attrs) as tf.Tensor,
      tf.engine().runKernel('FusedConv2D', { x, filter: f31, bias: b1 }, { ...attrs, activation: 'relu' }) as tf.Tensor,
      tf.engine().runKernel('FusedConv2D', { x, filter: f, bias: b4 }, { ...attrs, activation: 'relu' }) as tf.Tensor,
      tf.engine().runKernel('LeakyRelu', { x }, { alpha: 0.2 }) as tf.Tensor,
      tf.engine().runKernel('Greater', { a: x, b: zero }, {}) as tf.Tensor,
      tf.engine().runKernel('ResizeNearestNeighborGrad', { images: x, dy: dyUp }, { alignCorners: false, halfPixelCenters: false }) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropFilter', { x: x8, dy: dy8 }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 8, 1] }) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropFilter', { x: x8, dy: dy8v }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 8, 1] }) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropFilter', { x: x16, dy: dy16 }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 8] }) as tf.Tensor,
      tf.engine().runKernel(
        'DepthwiseConv2dNativeBackpropFilter',
        { x, dy: ddy },
        { ...attrs, dilations: 1, filterShape: [3, 3, 3, 2] },
      ) as tf.Tensor,
      tf.engine().runKernel(
        'DepthwiseConv2dNativeBackpropInput',
        { dy: ddy, filter: df },
        { ...attrs, dilations: 1, inputShape: [2, 9, 9, 3] },
      ) as tf.Tensor,
    ]);
  }
  assert.equal(be.numDataIds(), before);
  tf.dispose([x, f, df, dy, ddy, f1, f11, dyCrop, f31, b1, b4, zero, dyUp, x8, dy8, dy8v, x16, dy16]);
});

test('MaxPoolGrad on wasm matches cpu, including tied windows (first maximum wins), NaN and −∞', async () => {
  const check = async (shape: number[], filterSize: [number, number], strides: [number, number], pad: 'same' | 'valid', special: boolean) => {
    const size = tf.util.sizeFromShape(shape);
    // Few distinct values so that windows tie often, as after ReLU → BatchNorm; NaN and −∞ never
    // win on cpu, and a window of only those gets no gradient.
    const x = Float32Array.from({ length: size }, () => {
      const u = R();
      return special && u < 0.1 ? Number.NaN : special && u < 0.2 ? Number.NEGATIVE_INFINITY : int(-2, 1);
    });
    const outShape = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], filterSize, strides, 1, pad).outShape;
    if (tf.util.sizeFromShape(outShape) === 0) return; // a VALID window larger than x: XNNPACK's forward pool faults
    const dyValues = values(tf.util.sizeFromShape(outShape));
    const run = (be: string) =>
      on(be, () => {
        const xt = tf.tensor4d(x, shape as [number, number, number, number]);
        const y = tf.maxPool(xt, filterSize, strides, pad);
        const dy = tf.tensor(dyValues, y.shape);
        return kernel('MaxPoolGrad', { dy, input: xt, output: y }, { filterSize, strides, pad });
      });
    const w = await run('wasm');
    const c = await run('cpu');
    assert.ok(relErr(c, w) < 1e-6, `${shape} ${filterSize} ${strides} ${pad} special=${special}: ${relErr(c, w)}`);
  };
  for (let t = 0; t < 30; t++) {
    const shape = [int(1, 3), int(2, 9), int(2, 9), int(1, 4)];
    await check(shape, [int(1, 3), int(1, 3)], [int(1, 3), int(1, 3)], R() < 0.5 ? 'same' : 'valid', t % 3 === 0);
  }
  // Windows that tile the input (filter == stride, the convnet's 2×2/2): even and odd sizes, where
  // VALID leaves a row/column in no window and SAME clips the last (or first) windows.
  for (let t = 0; t < 24; t++) {
    const shape = [int(1, 3), int(2, 11), int(2, 11), int(1, 5)];
    const f: [number, number] = t < 12 ? [2, 2] : [int(1, 3), int(1, 3)];
    await check(shape, f, f, t % 2 ? 'same' : 'valid', t % 3 === 0);
  }
});

test('ResizeNearestNeighborGrad (cpu and wasm) is the transpose of the forward resize', async () => {
  // Random sizes, and integer upscales (UpSampling2D; wasm's depthwise block-sum route).
  for (const [alignCorners, halfPixelCenters, integer] of [
    [false, false, false],
    [true, false, false],
    [false, true, false],
    [false, false, true],
    [false, true, true],
    [true, false, true],
    [false, false, true],
  ] as const) {
    const inShape = [2, int(1, 4), int(1, 4), int(1, 3)];
    const size: [number, number] = integer
      ? [inShape[1]! * int(1, 3), inShape[2]! * int(1, 3)]
      : [int(1, 7), int(1, 7)];
    const n = tf.util.sizeFromShape(inShape);
    const outShape = [inShape[0]!, size[0], size[1], inShape[3]!];
    const dy = values(tf.util.sizeFromShape(outShape));
    // The forward op is linear: d<resize(x), dy>/dx_i = <resize(e_i), dy>.
    const ref = await on('cpu', () => {
      const dyT = tf.tensor(dy, outShape);
      const cols: number[] = [];
      for (let i = 0; i < n; i++) {
        const unit = tf.oneHot(tf.tensor1d([i], 'int32'), n).reshape(inShape) as tf.Tensor4D;
        const fwd = tf.image.resizeNearestNeighbor(unit, size, alignCorners, halfPixelCenters);
        cols.push(tf.sum(tf.mul(fwd, dyT)).dataSync()[0]!);
      }
      return Float32Array.from(cols);
    });
    for (const be of ['cpu', 'wasm']) {
      const got = await on(be, () =>
        kernel(
          'ResizeNearestNeighborGrad',
          { images: tf.zeros(inShape), dy: tf.tensor(dy, outShape) },
          { alignCorners, halfPixelCenters },
        ),
      );
      assert.ok(relErr(ref, got) < 1e-6, `${be} ${inShape}→${size} ${alignCorners}/${halfPixelCenters}: ${relErr(ref, got)}`);
    }
  }
});

test('BatchMatMul on wasm matches cpu for every transpose combination and batch shape', async () => {
  for (let t = 0; t < 24; t++) {
    const [ta, tb] = [t % 2 === 1, (t >> 1) % 2 === 1];
    const batch = t < 8 ? [] : t < 16 ? [int(1, 3)] : [int(1, 2), int(1, 3)];
    const [m, k, n] = [int(1, 9), int(1, 9), int(1, 9)];
    const aShape = [...batch, ...(ta ? [k, m] : [m, k])];
    const bShape = [...batch, ...(tb ? [n, k] : [k, n])];
    const a = values(tf.util.sizeFromShape(aShape));
    const b = values(tf.util.sizeFromShape(bShape));
    const run = (be: string) =>
      on(be, () =>
        kernel('BatchMatMul', { a: tf.tensor(a, aShape), b: tf.tensor(b, bShape) }, { transposeA: ta, transposeB: tb }),
      );
    const w = await run('wasm');
    const c = await run('cpu');
    assert.ok(relErr(c, w) < 1e-5, `${aShape}${ta ? 'ᵀ' : ''}·${bShape}${tb ? 'ᵀ' : ''}: ${relErr(c, w)}`);
  }
});

test('Tile on wasm matches cpu (ranks 1–5, float32 and int32)', async () => {
  for (let t = 0; t < 40; t++) {
    const rank = int(1, 5);
    const shape = Array.from({ length: rank }, () => int(1, 4));
    const reps = Array.from({ length: rank }, () => int(1, 3));
    const dtype = t % 3 === 0 ? 'int32' : 'float32';
    const x = dtype === 'int32' ? Int32Array.from(values(tf.util.sizeFromShape(shape)), (v) => Math.round(v * 100)) : values(tf.util.sizeFromShape(shape));
    const run = (be: string) => on(be, () => kernel('Tile', { x: tf.tensor(x, shape, dtype) }, { reps }));
    const w = await run('wasm');
    const c = await run('cpu');
    assert.deepEqual(Array.from(w), Array.from(c), `${shape} × ${reps}`);
  }
});

test('Conv2D and FusedConv2D on wasm match cpu, one-output-channel depthwise route included (bias, every activation)', async () => {
  const activations = ['linear', 'relu', 'relu6', 'leakyrelu', 'prelu', 'sigmoid', 'elu'] as const;
  for (let t = 0; t < 80; t++) {
    const c = randomCase(false, true);
    if (t % 2 === 0) c.f[3] = 1; // half the cases on the single-output route
    const info = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.f as [number, number, number, number], c.strides, c.dilations, c.pad as 'same');
    const x = values(tf.util.sizeFromShape(c.x));
    const f = values(tf.util.sizeFromShape(c.f));
    const bias = values(c.f[3]!);
    const prelu = values(c.f[3]!);
    const activation = activations[t % activations.length]!;
    const withBias = t % 3 !== 0;
    const attrs = { strides: c.strides, dilations: c.dilations, pad: c.pad, dataFormat: 'NHWC' };
    const run = (be: string) =>
      on(be, () => {
        const inputs: Record<string, tf.Tensor> = { x: tf.tensor(x, c.x), filter: tf.tensor(f, c.f) };
        if (withBias) inputs.bias = tf.tensor(bias, [c.f[3]!]);
        if (activation === 'prelu') inputs.preluActivationWeights = tf.tensor(prelu, [c.f[3]!]);
        return [
          kernel('Conv2D', { x: inputs.x!, filter: inputs.filter! }, attrs),
          kernel('FusedConv2D', inputs, { ...attrs, activation, leakyreluAlpha: 0.2 }),
        ];
      });
    const [wc, wf] = await run('wasm');
    const [cc, cf] = await run('cpu');
    assert.equal(wc!.length, tf.util.sizeFromShape(info.outShape));
    assert.ok(relErr(cc!, wc!) < 1e-5, `Conv2D ${JSON.stringify(c)}: ${relErr(cc!, wc!)}`);
    assert.ok(relErr(cf!, wf!) < 1e-5, `FusedConv2D ${activation} bias=${withBias} ${JSON.stringify(c)}: ${relErr(cf!, wf!)}`);
  }
});

test('LeakyRelu, Greater and Identity on wasm match cpu (signs, zeros, NaN, broadcasting shapes)', async () => {
  for (let t = 0; t < 20; t++) {
    const shape = Array.from({ length: int(1, 4) }, () => int(1, 6));
    const n = tf.util.sizeFromShape(shape);
    const x = Float32Array.from({ length: n }, () => (R() < 0.1 ? 0 : R() * 2 - 1));
    if (n > 2) {
      x[0] = Number.NaN;
      x[1] = -0;
    }
    const alpha = R();
    const other = values(n);
    const scalarShape = t % 2 ? [] : shape.map(() => 1);
    const run = (be: string) =>
      on(be, () => [
        kernel('LeakyRelu', { x: tf.tensor(x, shape) }, { alpha }),
        kernel('Greater', { a: tf.tensor(x, shape), b: tf.tensor([0.25 * (t % 3)], scalarShape) }, {}),
        kernel('Greater', { a: tf.tensor(x, shape, 'int32'), b: tf.tensor([0], scalarShape, 'int32') }, {}),
        kernel('Greater', { a: tf.tensor(x, shape), b: tf.tensor(other, shape) }, {}),
        kernel('Identity', { x: tf.tensor(x, shape) }, {}),
      ]);
    const w = await run('wasm');
    const c = await run('cpu');
    // LeakyRelu: cpu multiplies by α in float64, wasm in float32 (the shipped kernel too): 1 ulp.
    const [wl, cl] = [w[0]!, c[0]!];
    assert.deepEqual(Array.from(wl, Number.isNaN), Array.from(cl, Number.isNaN), `LeakyRelu NaNs for ${shape}`);
    const finite = (v: Float32Array) => v.map((e) => (Number.isNaN(e) ? 0 : e));
    assert.ok(relErr(finite(cl), finite(wl)) < 1e-6, `LeakyRelu ${shape} α=${alpha}: ${relErr(finite(cl), finite(wl))}`);
    for (let i = 1; i < w.length; i++) assert.deepEqual(Array.from(w[i]!), Array.from(c[i]!), `output ${i} for ${shape}`);
  }
  // Identity shares the buffer: disposing either tensor keeps the other readable, and nothing leaks.
  await tf.setBackend('wasm');
  const be = tf.backend() as unknown as { numDataIds(): number };
  const before = be.numDataIds();
  const a = tf.tensor([1, 2, 3]);
  const b = tf.engine().runKernel('Identity', { x: a }) as tf.Tensor;
  a.dispose();
  assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3]);
  b.dispose();
  assert.equal(be.numDataIds(), before);
});

test('Sum and Mean on wasm match cpu (leading-axis fast path and the rest, keepDims, int32)', async () => {
  for (let t = 0; t < 60; t++) {
    const rank = int(1, 5);
    const shape = Array.from({ length: rank }, () => int(1, 6));
    // Half the cases reduce leading axes (the fast path), the rest random axis sets.
    const axis =
      t % 2 === 0
        ? [...Array(int(1, Math.max(1, rank - 1))).keys()]
        : [...Array(rank).keys()].filter(() => R() < 0.5).map((a) => (R() < 0.3 ? a - rank : a));
    if (axis.length === 0) axis.push(rank - 1);
    const keepDims = R() < 0.5;
    const dtype = t % 5 === 4 ? 'int32' : 'float32';
    const x = values(tf.util.sizeFromShape(shape)).map((v) => (dtype === 'int32' ? Math.round(v * 50) : v * 100));
    const run = (be: string) =>
      on(be, () =>
        ['Sum', 'Mean'].map((k) => {
          const out = tf.engine().runKernel(k, { x: tf.tensor(x, shape, dtype) }, { axis, keepDims }) as tf.Tensor;
          const r = { v: Float32Array.from(out.dataSync()), shape: out.shape, dtype: out.dtype };
          out.dispose();
          return r;
        }),
      );
    const w = await run('wasm');
    const c = await run('cpu');
    for (let i = 0; i < 2; i++) {
      const what = `${['Sum', 'Mean'][i]} ${shape} axis ${axis} keepDims ${keepDims} ${dtype}`;
      assert.deepEqual(w[i]!.shape, c[i]!.shape, what);
      assert.equal(w[i]!.dtype, c[i]!.dtype, what);
      assert.ok(relErr(c[i]!.v, w[i]!.v) < 1e-6, `${what}: ${relErr(c[i]!.v, w[i]!.v)}`);
    }
  }
});
