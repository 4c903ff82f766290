// Conv2DBackpropFilter for stride 1 as chunked GEMMs. dW[a,b,ci,co] = Σ x[n, i+a·dh, j+b·dw, ci] ·
// dy[n,i,j,co] is one GEMM [FH·FW·Cin × K]·[K × Cout] over the K = N·OH·OW output positions. The
// swapped forward conv (conv2d-backprop-filter.ts) is that GEMM with a 32×32 "filter" and a 3×3
// output, a shape XNNPACK runs at half its GEMM speed (3×3 32→32 on 64×32×32: 81 ms vs 59 here).
//
// The im2col is cheap because of one trick: with x padded to Hp×Wp and transposed to [Cin, N·Hp·Wp],
// tap (a,b) of every position (i,j) of a row of images is the run starting a·dh·Wp + b·dw further on,
// so each (tap, channel, image) row of the im2col matrix is ONE contiguous copy of OH·Wp values if
// the GEMM also runs over the Wp − OW padding columns of each output row, where dy is padded with
// zeros. Those columns cost (Wp − OW)/OW more MACs (6% at 32×32 'same'), and read real x values (or
// zeros), so only a NaN/Inf in x can reach dW entries that the exact sum would not touch.
// K is cut into chunks of a few images: the im2col chunk then stays in cache, and XNNPACK's
// fully-connected GEMM, which has no K blocking, streams a packed dy chunk of ~300 KB instead of 9 MB.
import { type Info, type Pads, type WasmBackend, cropForPads, pad, release, reshape, run, transpose } from './wasm-ops.js';

/**
 * GEMM depth per chunk (output positions). 3×3 32→32 on 64×32×32, ms CPU: quiet, 2048 ≈ 4096 (63 / 61)
 * and one chunk of all 64 images 71; at load 4–6, 2048 61–64 vs 4096 66–81 (its 5 MB im2col chunk
 * competes for the shared L3 with other processes).
 */
const CHUNK_K = 2048;

/**
 * Where the GEMM beat the swapped conv (A/B, 64 images): stride 1, at most 3×3 taps (5×5 on 32×32:
 * 82 → 92 ms, the im2col copies x 25 times) and at most 1/8 padding columns (3×3 on 14×14, 1/7:
 * 25 → 28 ms; on 16×16 and larger 10–35% faster; 1×1 2× faster).
 */
export function gemmWins(filterShape: readonly number[], strides: [number, number], dilations: [number, number], outWidth: number): boolean {
  const [fh, fw] = filterShape as [number, number];
  return strides[0] === 1 && strides[1] === 1 && fh * fw <= 9 && 8 * (fw - 1) * dilations[1] <= outWidth;
}

export function backpropFilterGemm(
  b: WasmBackend,
  x: Info,
  dy: Info,
  filterShape: [number, number, number, number],
  pads: Pads,
  dilations: [number, number],
): Info {
  const [fh, fw, cin, cout] = filterShape;
  const [n, oh, ow] = dy.shape as [number, number, number, number];
  const hp = oh + (fh - 1) * dilations[0];
  const wp = ow + (fw - 1) * dilations[1];
  const c = cropForPads(b, x, pads);
  const p = c.pads;
  const xp = p.top + p.bottom + p.left + p.right > 0 ? pad(b, c.x, [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]]) : c.x;
  const xr = reshape(b, xp, [n * hp * wp, cin]);
  const xT = transpose(b, xr, [1, 0]);
  release(b, xr);
  if (xp !== c.x) release(b, xp);
  if (c.owned) release(b, c.x);

  const rows = oh * wp; // GEMM columns per image
  const img = hp * wp;
  const plane = n * img; // one channel of xT
  const m = fh * fw * cin;
  const perChunk = Math.max(1, Math.min(n, Math.round(CHUNK_K / rows)));
  const out = b.makeOutput([fh, fw, cin, cout], 'float32');
  for (let n0 = 0; n0 < n; n0 += perChunk) {
    const cn = Math.min(perChunk, n - n0);
    const k = cn * rows;
    const col = b.makeOutput([m, k], 'float32');
    const dyc = b.makeOutput([k, cout], 'float32');
    // Views only after allocating: a malloc may grow the wasm heap and detach older views.
    const heap = new Float32Array(b.typedArrayFromHeap(col).buffer);
    const at = (i: Info) => (b.typedArrayFromHeap(i) as Float32Array).byteOffset >> 2;
    const xo = at(xT);
    const co = at(col);
    const xEnd = xo + cin * plane;
    let r = 0;
    for (let ta = 0; ta < fh; ta++) {
      for (let tb = 0; tb < fw; tb++) {
        const shift = ta * dilations[0] * wp + tb * dilations[1];
        for (let ci = 0; ci < cin; ci++, r++) {
          for (let j = 0; j < cn; j++) {
            const src = xo + ci * plane + (n0 + j) * img + shift;
            const dst = co + r * k + j * rows;
            // Only the last image of the last channel runs past xT (into padding columns).
            const end = Math.min(src + rows, xEnd);
            heap.copyWithin(dst, src, end);
            if (end - src < rows) heap.fill(0, dst + end - src, dst + rows);
          }
        }
      }
    }
    // dy rows with zeros in the padding columns, copied here rather than padded in a separate pass.
    const dyRow = ow * cout;
    const dyo = at(dy) + n0 * oh * dyRow;
    const dco = at(dyc);
    for (let i = 0; i < cn * oh; i++) {
      heap.copyWithin(dco + i * wp * cout, dyo + i * dyRow, dyo + (i + 1) * dyRow);
      if (wp > ow) heap.fill(0, dco + i * wp * cout + dyRow, dco + (i + 1) * wp * cout);
    }
    const g = run(b, 'BatchMatMul', { a: col, b: dyc }, { transposeA: false, transposeB: false });
    release(b, col, dyc);
    const gv = b.typedArrayFromHeap(g) as Float32Array;
    const ov = b.typedArrayFromHeap(out) as Float32Array;
    if (n0 === 0) ov.set(gv);
    else for (let i = 0; i < gv.length; i++) ov[i] += gv[i]!;
    release(b, g);
  }
  release(b, xT);
  return out;
}
