// One image through sharp: header probe in JS, one decode+resize call, then the crop or pad is a
// copy into a caller-owned slot of a preallocated buffer. Border padding done this way avoids
// sharp's extend() (which measured as the slowest of the three crops), and the single call lets
// libjpeg's shrink-on-load decode large JPEGs at 1/2, 1/4 or 1/8 scale.
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { type Crop, type CropPlan, planCrop } from './geometry.js';
import { probe, sniffUnsupported } from './probe.js';

export const KERNELS = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'] as const;
export type Kernel = (typeof KERNELS)[number];

/** Everything the worker needs to turn a source into outputs; plain data (crosses threads). */
export interface ImageJob {
  /** Output sides; several sizes share one decode (the largest is decoded, the others resampled from it). */
  sizes: number[];
  crop: Crop;
  centerFraction: number;
  fill: [number, number, number];
  kernel: Kernel;
  channels: 1 | 3;
  maxPixels: number;
  /** Also write a size/downscale copy of the first size (super-resolution inputs). */
  downscale?: number | undefined;
}

export type ImageSource =
  | { data: Uint8Array; raw?: undefined }
  | { data: Uint8Array; raw: { width: number; height: number; channels: 1 | 2 | 3 | 4 } };

export class BadImageError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface Placed {
  /** Source size after EXIF orientation. */
  width: number;
  height: number;
}

const SHARP_OPTS = { failOn: 'warning' as const, sequentialRead: true };

/**
 * Decodes `src` and writes each size into `outs[k]` at image slot `slot` (slot*S*S*C bytes).
 * For border the caller pre-fills the slot with the fill colour; only the image rows are copied.
 */
export async function processImage(src: ImageSource, job: ImageJob, outs: Uint8Array[], slot: number): Promise<Placed> {
  const { data } = src;
  let width: number;
  let height: number;
  let orientation = 1;
  let alpha = true;
  let img: Sharp;
  if (src.raw) {
    ({ width, height } = src.raw);
    // Already the output size (MNIST at 28): a copy, not a resample.
    if (job.sizes.every((s) => s === width && s === height) && src.raw.channels === job.channels) {
      for (const [k, s] of job.sizes.entries()) outs[k]!.set(data.subarray(0, s * s * job.channels), slot * s * s * job.channels);
      return { width, height };
    }
    img = sharp(data, { raw: src.raw });
  } else {
    if (data.length === 0) throw new BadImageError('empty file (0 bytes)');
    const p = probe(data);
    if (p.width === undefined || p.height === undefined) {
      const unsupported = sniffUnsupported(data);
      if (unsupported) throw new BadImageError(unsupported);
      // Formats whose header we do not parse (TIFF, AVIF, SVG, ...): ask libvips.
      try {
        const m = await sharp(data, { ...SHARP_OPTS, limitInputPixels: job.maxPixels }).metadata();
        p.width = m.autoOrient?.width ?? m.width;
        p.height = m.autoOrient?.height ?? m.height;
        p.orientation = m.orientation ?? 1;
      } catch (err) {
        throw new BadImageError(classify(err, data));
      }
      if (!p.width || !p.height) throw new BadImageError(`unreadable header (${p.format})`);
    }
    ({ width, height, orientation } = p as Required<typeof p>);
    // JPEG has no alpha: skipping flatten() saves parsing the fill colour on every image.
    alpha = p.format !== 'jpeg';
    if (width * height > job.maxPixels) throw new BadImageError(`too many pixels: ${width}×${height} = ${width * height} > maxPixels ${job.maxPixels}`);
    img = sharp(data, { ...SHARP_OPTS, limitInputPixels: job.maxPixels });
    if (orientation !== 1) img = img.autoOrient();
  }
  if (alpha) img = img.flatten({ background: { r: job.fill[0], g: job.fill[1], b: job.fill[2] } });
  if (job.channels === 1) img = img.greyscale();

  const C = job.channels;
  const plans = job.sizes.map((size) => planCrop(width, height, { size, crop: job.crop, centerFraction: job.centerFraction }));
  try {
    if (job.sizes.length === 1) {
      const plan = plans[0]!;
      img = img.resize(plan.resize.width, plan.resize.height, { fit: 'fill', kernel: job.kernel });
      // libvips computes only the window when the crop is part of the pipeline.
      if (plan.crop) img = img.extract(plan.crop);
      const { data: out, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      const w = plan.crop ? plan.crop.width : plan.resize.width;
      const h = plan.crop ? plan.crop.height : plan.resize.height;
      const px = toChannels(out, info, w, h, C);
      place(px, w, h, plan.crop ? null : plan, job.sizes[0]!, C, outs[0]!, slot);
    } else {
      let big = 0;
      for (let k = 1; k < plans.length; k++) if (job.sizes[k]! > job.sizes[big]!) big = k;
      const bp = plans[big]!;
      img = img.resize(bp.resize.width, bp.resize.height, { fit: 'fill', kernel: job.kernel });
      const { data: out, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      const base = toChannels(out, info, bp.resize.width, bp.resize.height, C);
      for (let k = 0; k < plans.length; k++) {
        const plan = plans[k]!;
        let px = base;
        if (k !== big && (plan.resize.width !== bp.resize.width || plan.resize.height !== bp.resize.height)) {
          px = await sharp(base, { raw: { width: bp.resize.width, height: bp.resize.height, channels: C } })
            .resize(plan.resize.width, plan.resize.height, { fit: 'fill', kernel: job.kernel })
            .raw()
            .toBuffer();
        }
        place(px, plan.resize.width, plan.resize.height, plan, job.sizes[k]!, C, outs[k]!, slot);
      }
    }
  } catch (err) {
    if (err instanceof BadImageError) throw err;
    throw new BadImageError(classify(err, data));
  }
  return { width, height };
}

/** Writes the super-resolution input for slot `slot` of `hr` (S×S×C) into `lr` ((S/d)²×C). */
export async function downscaleSlot(hr: Uint8Array, S: number, C: 1 | 3, d: number, kernel: Kernel, lr: Uint8Array, slot: number): Promise<void> {
  const s = S / d;
  const view = hr.subarray(slot * S * S * C, (slot + 1) * S * S * C);
  const out = await sharp(view, { raw: { width: S, height: S, channels: C } })
    .resize(s, s, { fit: 'fill', kernel })
    .raw()
    .toBuffer();
  lr.set(out, slot * s * s * C);
}

/** Mirror slot `slot` of `src` into the same slot of `dst`. */
export function flipSlot(src: Uint8Array, dst: Uint8Array, S: number, C: number, slot: number): void {
  const base = slot * S * S * C;
  for (let y = 0; y < S; y++) {
    const row = base + y * S * C;
    for (let x = 0; x < S; x++) {
      const a = row + x * C;
      const b = row + (S - 1 - x) * C;
      for (let c = 0; c < C; c++) dst[b + c] = src[a + c]!;
    }
  }
}

/** Fills a whole buffer of S×S×C slots with one colour (the border's bars). */
export function fillSlots(buf: Uint8Array, fill: readonly number[], C: number): void {
  if (buf.length === 0) return;
  if (C === 1) {
    buf.fill(fill[0]!);
    return;
  }
  for (let c = 0; c < C; c++) buf[c] = fill[c]!;
  let n = C;
  while (n < buf.length) {
    buf.copyWithin(n, 0, Math.min(n, buf.length - n));
    n *= 2;
  }
}

const greyFills = new Map<string, number>();
/** The grey libvips makes of the fill colour (by lightness, not an RGB average), for 1-channel bars. */
export async function greyOfFill(fill: readonly [number, number, number]): Promise<number> {
  const key = fill.join(',');
  let g = greyFills.get(key);
  if (g === undefined) {
    const data = await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: fill[0], g: fill[1], b: fill[2] } } })
      .greyscale()
      .raw()
      .toBuffer();
    g = data[0]!;
    greyFills.set(key, g);
  }
  return g;
}

function toChannels(out: Buffer, info: OutputInfo, w: number, h: number, C: number): Uint8Array {
  if (info.width !== w || info.height !== h) throw new Error(`sharp returned ${info.width}×${info.height}, expected ${w}×${h}`);
  if (info.channels === C) return out;
  // A grey source asked for RGB: replicating the band is exact and cheaper than a colourspace op.
  if (info.channels === 1 && C === 3) {
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0, j = 0; i < out.length; i++, j += 3) rgb[j] = rgb[j + 1] = rgb[j + 2] = out[i]!;
    return rgb;
  }
  throw new Error(`sharp returned ${info.channels} channels, expected ${C}`);
}

/** Copies a w×h image into the output slot: whole (squish, center after extract), a window (center), or at an offset (border). */
function place(px: Uint8Array, w: number, h: number, plan: CropPlan | null, S: number, C: number, out: Uint8Array, slot: number): void {
  const base = slot * S * S * C;
  if (plan?.crop) {
    const { left, top } = plan.crop;
    for (let y = 0; y < S; y++) {
      const from = ((top + y) * w + left) * C;
      out.set(px.subarray(from, from + S * C), base + y * S * C);
    }
  } else if (plan?.pad && (w !== S || h !== S)) {
    const { left, top } = plan.pad;
    if (w === S) out.set(px.subarray(0, w * h * C), base + top * S * C);
    else for (let y = 0; y < h; y++) out.set(px.subarray(y * w * C, (y + 1) * w * C), base + ((top + y) * S + left) * C);
  } else {
    if (w !== S || h !== S) throw new Error(`internal: ${w}×${h} does not fill ${S}×${S}`);
    out.set(px.subarray(0, S * S * C), base);
  }
}

/** Turns a sharp/libvips error into the reason listed in the manifest. */
export function classify(err: unknown, data: Uint8Array): string {
  const msg = String((err as Error)?.message ?? err).split('\n')[0]!.trim();
  if (data.length === 0) return 'empty file (0 bytes)';
  const sniffed = sniffUnsupported(data);
  if (sniffed) return sniffed;
  if (/pixel limit/i.test(msg)) return `too many pixels (over maxPixels): ${msg}`;
  if (/unsupported image format/i.test(msg)) return `unsupported image format (${probe(data).format})`;
  if (/premature end|truncat|corrupt|unexpected end|read error|not a JPEG|invalid|bad /i.test(msg)) return `truncated or corrupt: ${msg}`;
  // libvips sometimes reports only that a decoder warning (e.g. premature end of data) was fatal.
  if (/failOn|warning treated as error/i.test(msg)) return `truncated or corrupt: the decoder warned (${msg})`;
  return `decode failed: ${msg}`;
}
