// Conv2DBackpropInput for wasm on XNNPACK. The shipped wasm kernel is a scalar C++ loop and was
// ~45% of a DCGAN step once the filter gradient existed. dx is a correlation of dy with the filter
// flipped in space and with in/out channels swapped, so it runs on the fast forward Conv2D.
//
// Stride s > 1 (the polyphase split): dx row i = s·q + r only meets filter taps k ≡ (r + pad) mod s,
// so each of the s_h·s_w output phases (r_h, r_w) is a stride-1 conv of the *un-upsampled* dy with
// the sub-filter of those taps, and the phases interleave into dx. The earlier zero-insertion
// (dy upsampled with zeros, then one stride-1 conv) spent s_h·s_w times the MACs on the zeros:
// the DCGAN discriminator's 4×4/2 32→64 dx went from ~38 to ~9 ms CPU per call.
import type * as tf from '@tensorflow/tfjs';
import {
  type Attrs,
  backpropKernel,
  conv2d,
  convGeometry,
  cropForPads,
  type Info,
  type Pads,
  pad,
  release,
  reshape,
  run,
  transpose,
  type WasmBackend,
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

/**
 * Zero insertion + one stride-1 conv: only for stride > 1 combined with dilation > 1 on the same
 * conv, which tfjs's own ops never produce (they require one of the two to be 1).
 */
function viaZeroInsertion(
  b: WasmBackend,
  dy: Info,
  filter: Info,
  info: tf.backend_util.Conv2DInfo,
  strides: [number, number],
  dilations: [number, number],
): Info {
  const [fh, fw] = filter.shape as [number, number, number, number];
  const [sh, sw] = strides;
  const [dh, dw] = dilations;
  const up = upsampleWithZeros(b, dy, sh, sw);
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
  release(b, flipped, swapped, up);
  if (c.owned) release(b, c.x);
  return dx;
}

/** One output phase along one axis: dx[s·q + r] = sum_t dy[q + c - (taps-1)·d + t·d] · W[k0 + s·(taps-1-t)]. */
interface AxisPhase {
  /** First filter tap this phase uses. */
  k0: number;
  /** Number of taps (k0, k0+s, ...); 0 means the phase gets no contribution at all. */
  taps: number;
  /** dy offset: the last tap reads dy[q + c]. */
  c: number;
}

/**
 * Phases of one axis. Stride 1 (possibly dilated) is a single phase over all taps; stride s > 1
 * (dilation 1) splits into s phases. `size` = dx extent, `q` = rows per phase (ceil(size/s)).
 */
function axisPhases(f: number, s: number, p: number): AxisPhase[] {
  if (s === 1) return [{ k0: 0, taps: f, c: p }];
  const out: AxisPhase[] = [];
  for (let r = 0; r < s; r++) {
    const k0 = (r + p) % s;
    out.push({ k0, taps: k0 < f ? Math.ceil((f - k0) / s) : 0, c: (r + p - k0) / s });
  }
  return out;
}

/** Sub-filter of a phase, flipped in space and with in/out channels swapped: [th, tw, Cout, Cin]. */
function subFilter(b: WasmBackend, filter: Info, ph: AxisPhase, pw: AxisPhase, sh: number, sw: number): Info {
  const [, fw, ci, co] = filter.shape as [number, number, number, number];
  const out = b.makeOutput([ph.taps, pw.taps, co, ci], 'float32');
  // Views after makeOutput: allocating may grow (and detach) the wasm heap.
  const src = b.typedArrayFromHeap(filter) as Float32Array;
  const dst = b.typedArrayFromHeap(out) as Float32Array;
  let o = 0;
  for (let th = 0; th < ph.taps; th++) {
    const kh = ph.k0 + sh * (ph.taps - 1 - th);
    for (let tw = 0; tw < pw.taps; tw++) {
      const kw = pw.k0 + sw * (pw.taps - 1 - tw);
      const base = (kh * fw + kw) * ci * co;
      for (let u = 0; u < co; u++) for (let v = 0; v < ci; v++) dst[o++] = src[base + v * co + u]!;
    }
  }
  return out;
}

export function conv2dBackpropInputVia(
  b: WasmBackend,
  dy: Info,
  filter: Info,
  inputShape: [number, number, number, number],
  attrs: Attrs,
): Info {
  const filterShape = filter.shape as [number, number, number, number];
  const { info, strides, dilations } = convGeometry('Conv2DBackpropInput', inputShape, filterShape, attrs);
  const [sh, sw] = strides;
  const [dh, dw] = dilations;
  if ((sh > 1 && dh > 1) || (sw > 1 && dw > 1)) return viaZeroInsertion(b, dy, filter, info, strides, dilations);

  const [n, h, w, ci] = inputShape;
  const { outHeight: oh, outWidth: ow } = info;
  const [fh, fw] = filterShape;
  const qh = Math.ceil(h / sh);
  const qw = Math.ceil(w / sw);
  const rows = axisPhases(fh, sh, info.padInfo.top);
  const cols = axisPhases(fw, sw, info.padInfo.left);

  // One stride-1 conv per phase, on dy cropped/padded to exactly the rows the phase reads.
  const parts: (Info | null)[] = [];
  for (const ph of rows) {
    for (const pw of cols) {
      const lo = [ph.c - (ph.taps - 1) * dh, pw.c - (pw.taps - 1) * dw];
      const hi = [qh - 1 + ph.c, qw - 1 + pw.c];
      if (ph.taps === 0 || pw.taps === 0 || hi[0]! < 0 || hi[1]! < 0 || lo[0]! > oh - 1 || lo[1]! > ow - 1) {
        parts.push(null); // no filter tap (or no dy row) reaches this phase: zeros
        continue;
      }
      const pads: Pads = { top: -lo[0]!, left: -lo[1]!, bottom: hi[0]! - (oh - 1), right: hi[1]! - (ow - 1) };
      const sub = subFilter(b, filter, ph, pw, sh, sw);
      const c = cropForPads(b, dy, pads);
      parts.push(conv2d(b, c.x, sub, [1, 1], [dh, dw], c.pads));
      release(b, sub);
      if (c.owned) release(b, c.x);
    }
  }
  if (parts.length === 1 && parts[0] !== null) return parts[0]!; // stride 1: the conv is dx

  // Interleave: dx[n, s_h·q + r_h, s_w·q' + r_w, :] = phase(r_h, r_w)[n, q, q', :].
  const out = b.makeOutput(inputShape, 'float32');
  const dx = b.typedArrayFromHeap(out) as Float32Array;
  if (parts.some((p) => p === null)) dx.fill(0);
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const part = parts[rh * sw + rw];
      if (!part) continue;
      const src = b.typedArrayFromHeap(part) as Float32Array;
      for (let bi = 0; bi < n; bi++) {
        for (let q = 0, y = rh; y < h; q++, y += sh) {
          let s = (bi * qh + q) * qw * ci;
          for (let x = rw; x < w; x += sw) {
            let d = ((bi * h + y) * w + x) * ci;
            for (let k = 0; k < ci; k++) dx[d++] = src[s++]!;
          }
        }
      }
      release(b, part);
    }
  }
  return out;
}

export const conv2dBackpropInputConfig = backpropKernel('Conv2DBackpropInput', conv2dBackpropInputVia, ['dy', 'filter'], 'inputShape');
