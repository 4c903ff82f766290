// Sample grids: a batch of generated images tiled into one PNG, so progress can be judged by eye
// in the tracking UI (the artifacts are the "do the samples look like digits" evidence).
import sharp from 'sharp';

export interface GridOptions {
  /** Value range of the pixels: [-1, 1] for tanh generators, [0, 1] for sigmoid ones. */
  range: [number, number];
  /** Columns; default the ceiling of the square root of the count. */
  cols?: number;
  /** Gap between tiles in pixels (drawn mid-grey so black digits on black stay apart). */
  pad?: number;
  /** Integer upscale of the whole grid, so 28×28 digits are legible in a browser. */
  scale?: number;
}

/** Tiles n images of h×w×c (NHWC floats) into one uint8 buffer; returns it with its size. */
export function tile(data: Float32Array, n: number, h: number, w: number, c: number, o: GridOptions): { pixels: Uint8Array; width: number; height: number; channels: number } {
  const cols = o.cols ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const pad = o.pad ?? 2;
  const width = cols * w + (cols + 1) * pad;
  const height = rows * h + (rows + 1) * pad;
  const pixels = new Uint8Array(width * height * c).fill(128);
  const [lo, hi] = o.range;
  const k = 255 / (hi - lo);
  for (let i = 0; i < n; i++) {
    const ox = pad + (i % cols) * (w + pad);
    const oy = pad + Math.floor(i / cols) * (h + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          const v = (data[((i * h + y) * w + x) * c + ch]! - lo) * k;
          pixels[((oy + y) * width + ox + x) * c + ch] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
        }
      }
    }
  }
  return { pixels, width, height, channels: c };
}

/** PNG of a tiled grid. */
export async function gridPng(data: Float32Array, n: number, h: number, w: number, c: number, o: GridOptions): Promise<Buffer> {
  const t = tile(data, n, h, w, c, o);
  const scale = o.scale ?? 1;
  let img = sharp(Buffer.from(t.pixels.buffer, t.pixels.byteOffset, t.pixels.byteLength), { raw: { width: t.width, height: t.height, channels: t.channels as 1 | 3 } });
  if (scale > 1) img = img.resize(t.width * scale, t.height * scale, { kernel: 'nearest' });
  return img.png().toBuffer();
}
