// The `shapes` dataset: generated JPEGs of mixed sizes and aspect ratios, built so that each crop
// strategy destroys one subset's cue (ground truth in docs/datasets.md):
//   aspect  circle/ellipse, square/rectangle  differ only by the shape's aspect ratio → squish loses
//   edge    edge-red/edge-blue                 a small mark in the strips center crop cuts → center loses
//   detail  stripes/flat                       fine stripes across the short axis, resolvable at
//                                              size 64 only when the short side fits → border loses
// Image i is a pure function of (seed, i): workers can render in any order.
import { randInt, rng } from '../util/rng.js';

export type Subset = 'aspect' | 'edge' | 'detail';
export const SHAPE_CLASSES: readonly { name: string; subset: Subset }[] = [
  { name: 'circle', subset: 'aspect' },
  { name: 'ellipse', subset: 'aspect' },
  { name: 'square', subset: 'aspect' },
  { name: 'rectangle', subset: 'aspect' },
  { name: 'edge-red', subset: 'edge' },
  { name: 'edge-blue', subset: 'edge' },
  { name: 'stripes', subset: 'detail' },
  { name: 'flat', subset: 'detail' },
];
/** Which crop should lose on which subset (the point of the dataset). */
export const GROUND_TRUTH: Record<Subset, 'squish' | 'center' | 'border'> = { aspect: 'squish', edge: 'center', detail: 'border' };
/** Output size the stripe period is tuned for (the preprocess default). */
export const DETAIL_SIZE = 64;
/**
 * Stripe period after a border resize to DETAIL_SIZE, in output pixels. It must sit in the stop
 * band of the resampling filter, not just above Nyquist (2 px): version 1 used 1.8 px, where
 * lanczos3 still passes part of the stripes as a moiré and a network learned the detail pair
 * after border to 0.66–0.81 (measured in the demo sweep of 2026-12-02); 1.35 px (0.74 cycles/px)
 * is filtered away. Center and squish scale the short side, 16/9 times less: 2.4 px, resolved.
 */
export const DETAIL_PERIOD_BORDER = 1.35;
/** Detail images are 16:9 or 9:16, so border shrinks them 16/9 times more than center and squish. */
const DETAIL_ASPECTS = [16 / 9, 9 / 16];
/** Bumped when the images change: part of the ingest key through the stage version. */
export const SHAPES_VERSION = 3;

const ASPECTS = [1, 4 / 3, 3 / 4, 16 / 9, 9 / 16];

export interface ShapeImage {
  index: number;
  label: number;
  className: string;
  subset: Subset;
  width: number;
  height: number;
  /** The drawn object's box in source pixels (the mark's box for edge, the patch's for detail). */
  box: { x: number; y: number; w: number; h: number };
  color: [number, number, number];
}

/** Geometry and colours of image i; cheap (no pixels), so splits and previews need not render. */
export function shapeParams(seed: number, index: number, classes: readonly string[] = SHAPE_CLASSES.map((c) => c.name)): ShapeImage {
  const r = rng(seed, 'shapes', index);
  const label = index % classes.length;
  const className = classes[label]!;
  const def = SHAPE_CLASSES.find((c) => c.name === className);
  if (!def) throw new Error(`unknown shapes class "${className}" (known: ${SHAPE_CLASSES.map((c) => c.name).join(', ')})`);
  const subset = def.subset;
  // Aspect uses every ratio including 1:1 so squish leaves no trace of the source ratio; the
  // other subsets are never square, since a square image is cropped the same way by all three.
  const pool = subset === 'aspect' ? ASPECTS : subset === 'detail' ? DETAIL_ASPECTS : ASPECTS.slice(1);
  const aspect = pool[Math.floor(r() * pool.length)]!;
  const short = randInt(r, 200, 675);
  const long = Math.round(short * Math.max(aspect, 1 / aspect));
  const width = aspect >= 1 ? long : short;
  const height = aspect >= 1 ? short : long;
  const hue = r();
  const color = hsv(hue, 0.75, 0.95);
  let box: ShapeImage['box'];
  if (subset === 'aspect') {
    const k = 0.3 + 0.2 * r();
    // Round shapes are drawn true to size. The elongated ones are drawn as a round shape would
    // look after squishing an image of another ratio r' into a square, stretched back to this
    // image: after squish, both classes show the same distribution of aspect ratios.
    const round = className === 'circle' || className === 'square';
    let wn: number;
    let hn: number;
    if (round) {
      wn = (k * short) / width;
      hn = (k * short) / height;
    } else {
      const others = ASPECTS.filter((a) => a !== aspect);
      const a2 = others[Math.floor(r() * others.length)]!;
      wn = a2 >= 1 ? k / a2 : k;
      hn = a2 >= 1 ? k : k * a2;
    }
    const w = Math.round(wn * width);
    const h = Math.round(hn * height);
    // The centre is drawn in coordinates relative to the image (±12% of each side around the
    // middle), the same for every ratio: version 2 placed it within the central *square*, so after
    // squish a shape near the ends of the long axis could only be a stretched one from a squarer
    // image, and squish arms learned the pairs to 0.6 instead of chance. ±12% keeps the shape
    // inside the central square for center crop (its half-size is at most a quarter of the short side).
    const cx = width * (0.5 + (r() - 0.5) * 0.24);
    const cy = height * (0.5 + (r() - 0.5) * 0.24);
    box = { x: Math.round(cx - w / 2), y: Math.round(cy - h / 2), w, h };
  } else if (subset === 'edge') {
    const d = Math.round(0.09 * short);
    const strip = (long - short) / 2;
    const margin = 0.02 * short;
    const along = margin + r() * (strip - d - 2 * margin);
    const pos = r() < 0.5 ? along : long - along - d;
    const across = margin + r() * (short - d - 2 * margin);
    box = aspect >= 1 ? { x: Math.round(pos), y: Math.round(across), w: d, h: d } : { x: Math.round(across), y: Math.round(pos), w: d, h: d };
  } else {
    const p = Math.round(0.35 * short);
    const cx = width / 2 + (r() - 0.5) * 0.6 * (short - p);
    const cy = height / 2 + (r() - 0.5) * 0.6 * (short - p);
    box = { x: Math.round(cx - p / 2), y: Math.round(cy - p / 2), w: p, h: p };
  }
  return { index, label, className, subset, width, height, box, color };
}

/** Renders image i as packed RGB. */
export function renderShape(seed: number, p: ShapeImage): Uint8Array {
  const { width: W, height: H } = p;
  const r = rng(seed, 'pixels', p.index);
  const px = new Uint8Array(W * H * 3);
  // Background: a dim gradient between two muted colours, plus grain (photos are not flat).
  const c0 = hsv(r(), 0.35, 0.25 + 0.2 * r());
  const c1 = hsv(r(), 0.35, 0.25 + 0.2 * r());
  const vertical = r() < 0.5;
  // Clamped writes round and clip for free; grain comes from a shared table at a random offset.
  const out = new Uint8ClampedArray(px.buffer);
  const grain = grainTable();
  let g = Math.floor(r() * GRAIN);
  const ramp = new Float32Array((vertical ? H : W) * 3);
  for (let i = 0, n = ramp.length / 3; i < n; i++) for (let c = 0; c < 3; c++) ramp[i * 3 + c] = c0[c]! + ((c1[c]! - c0[c]!) * i) / n;
  for (let y = 0, o = 0; y < H; y++) {
    for (let x = 0; x < W; x++, o += 3) {
      const k = (vertical ? y : x) * 3;
      const n = grain[g]!;
      if (++g === GRAIN) g = 0;
      out[o] = ramp[k]! + n;
      out[o + 1] = ramp[k + 1]! + n;
      out[o + 2] = ramp[k + 2]! + n;
    }
  }
  const { x, y, w, h } = p.box;
  const short = Math.min(W, H);
  switch (p.className) {
    case 'circle':
    case 'ellipse':
      ellipse(px, W, H, x + w / 2, y + h / 2, w / 2, h / 2, p.color);
      break;
    case 'square':
    case 'rectangle':
      rect(px, W, x, y, w, h, () => p.color);
      break;
    case 'edge-red':
    case 'edge-blue': {
      // The same central distractor in both classes: only the mark tells them apart.
      const d = Math.round((0.25 + 0.2 * r()) * short);
      ellipse(px, W, H, W / 2 + (r() - 0.5) * 0.3 * short, H / 2 + (r() - 0.5) * 0.3 * short, d / 2, (d / 2) * (0.8 + 0.2 * r()), hsv(0.15 + 0.25 * r(), 0.5, 0.85));
      ellipse(px, W, H, x + w / 2, y + h / 2, w / 2, h / 2, p.className === 'edge-red' ? [225, 25, 25] : [30, 70, 235]);
      break;
    }
    case 'stripes':
    case 'flat': {
      // Stripes vary along the short axis: squish and center scale that axis by size/short,
      // border by size/long, so only border pushes the period below 2 output pixels.
      const period = (DETAIL_PERIOD_BORDER * Math.max(W, H)) / DETAIL_SIZE;
      const [mr, mg, mb] = p.color.map((v) => Math.min(195, Math.max(60, v)));
      const hi: [number, number, number] = [mr! + 60, mg! + 60, mb! + 60];
      const lo: [number, number, number] = [mr! - 60, mg! - 60, mb! - 60];
      const mid: [number, number, number] = [mr!, mg!, mb!];
      const wide = W >= H;
      rect(px, W, x, y, w, h, (xx, yy) => (p.className === 'flat' ? mid : ((wide ? yy : xx) % period) < period / 2 ? hi : lo));
      break;
    }
  }
  return px;
}

function ellipse(px: Uint8Array, W: number, H: number, cx: number, cy: number, rx: number, ry: number, c: readonly number[]): void {
  const y0 = Math.max(0, Math.floor(cy - ry));
  const y1 = Math.min(H - 1, Math.ceil(cy + ry));
  for (let y = y0; y <= y1; y++) {
    const dy = (y + 0.5 - cy) / ry;
    if (dy * dy > 1) continue;
    const half = rx * Math.sqrt(1 - dy * dy);
    const x0 = Math.max(0, Math.round(cx - half));
    const x1 = Math.min(W - 1, Math.round(cx + half) - 1);
    for (let x = x0; x <= x1; x++) px.set(c, (y * W + x) * 3);
  }
}

function rect(px: Uint8Array, W: number, x: number, y: number, w: number, h: number, c: (x: number, y: number) => readonly number[]): void {
  for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) px.set(c(xx - x, yy - y), (yy * W + xx) * 3);
}

// A prime length, so the repeat of the grain never lines up with image rows.
const GRAIN = 65521;
let grainCache: Int8Array | null = null;
function grainTable(): Int8Array {
  if (!grainCache) {
    const r = rng(0x5eed, 'grain');
    grainCache = new Int8Array(GRAIN);
    for (let i = 0; i < GRAIN; i++) grainCache[i] = Math.floor(r() * 25) - 12;
  }
  return grainCache;
}

function hsv(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][i % 6]!;
  return [Math.round(r! * 255), Math.round(g! * 255), Math.round(b! * 255)];
}
