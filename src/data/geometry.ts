// Crop geometry as pure functions: one derived target size, three small branches (timm's
// crop_mode pattern). The worker turns a plan into one sharp resize plus a crop or a pad, so the
// numbers here are exactly what the model sees; test/data-geometry.test.ts tables them.

export type Crop = 'border' | 'center' | 'squish';

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface CropPlan {
  /** Size the whole source image is resampled to (aspect kept except for squish). */
  resize: { width: number; height: number };
  /** center: the size×size window taken from the resized image. */
  crop: Rect | null;
  /** border: where the resized image sits in the size×size output (the rest is fill). */
  pad: { left: number; top: number } | null;
}

export interface PlanOptions {
  size: number;
  crop: Crop;
  /** center only: resize the shorter side to size/centerFraction before cropping. */
  centerFraction?: number;
}

export function planCrop(srcWidth: number, srcHeight: number, o: PlanOptions): CropPlan {
  if (!(srcWidth > 0 && srcHeight > 0)) throw new Error(`planCrop: bad source size ${srcWidth}×${srcHeight}`);
  const S = o.size;
  switch (o.crop) {
    case 'squish':
      // Loses the aspect ratio: both sides go to S independently.
      return { resize: { width: S, height: S }, crop: null, pad: null };
    case 'center': {
      // Loses the ends of the longer side (and with centerFraction < 1 a margin all round).
      const cf = o.centerFraction ?? 1;
      const T = Math.max(S, Math.round(S / cf));
      const scale = T / Math.min(srcWidth, srcHeight);
      const width = srcWidth <= srcHeight ? T : Math.max(T, Math.round(srcWidth * scale));
      const height = srcHeight < srcWidth ? T : Math.max(T, Math.round(srcHeight * scale));
      const crop = { left: Math.floor((width - S) / 2), top: Math.floor((height - S) / 2), width: S, height: S };
      return { resize: { width, height }, crop, pad: null };
    }
    case 'border': {
      // Loses resolution: the longer side fits S, so the content is smallest of the three.
      const scale = S / Math.max(srcWidth, srcHeight);
      const width = srcWidth >= srcHeight ? S : Math.max(1, Math.round(srcWidth * scale));
      const height = srcHeight > srcWidth ? S : Math.max(1, Math.round(srcHeight * scale));
      return { resize: { width, height }, crop: null, pad: { left: Math.floor((S - width) / 2), top: Math.floor((S - height) / 2) } };
    }
    default: {
      // An unknown mode is an error, never a silent fallback to center (timm's trap).
      const never: never = o.crop;
      throw new Error(`unknown crop mode ${String(never)}`);
    }
  }
}

/** "#rrggbb" or [r, g, b] → [r, g, b]. */
export function parseFill(fill: string | readonly [number, number, number]): [number, number, number] {
  if (typeof fill !== 'string') return [fill[0], fill[1], fill[2]];
  const m = /^#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})$/.exec(fill);
  if (!m) throw new Error(`fill must be #rrggbb or [r, g, b], got ${fill}`);
  return [Number.parseInt(m[1]!, 16), Number.parseInt(m[2]!, 16), Number.parseInt(m[3]!, 16)];
}

/** Side of the low-resolution input for super-resolution; size must divide evenly. */
export function lowResSide(size: number, downscale: number): number {
  if (size % downscale !== 0) throw new Error(`preprocess.size ${size} is not divisible by preprocess.downscale ${downscale}`);
  return size / downscale;
}
