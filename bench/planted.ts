// Planted-ground-truth datasets, written as `folder` datasets (PNG files in class folders): two-class
// sets of photographs-like noise images of mixed aspect ratios, each built so that exactly one
// crop destroys the only cue that tells its classes apart. Not the `shapes` generator: other
// drawings, other colours, lossless files, and one cue per set.
//
//   corner-mark  a small bright bar in one of the two outer strips (the ends of the long axis),
//                pointing along (class `along`) or across (class `across`) that axis; a large
//                distractor blob in the middle is the same for both. Center cuts the strips off:
//                center must lose.
//   stretch      one outlined ring (class `round`: drawn round in every image) or ring stretched
//                (class `stretched`: drawn as a round ring of another image ratio r' looks after
//                squishing it to a square and stretching it back to this image's ratio r). After
//                squish both classes show the same distribution of ring aspects: squish must lose.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { rng } from '../src/util/rng.js';

export type Planted = 'corner-mark' | 'stretch';
export const PLANTED_LOSER: Record<Planted, 'center' | 'squish'> = { 'corner-mark': 'center', stretch: 'squish' };
const CLASSES: Record<Planted, [string, string]> = { 'corner-mark': ['across', 'along'], stretch: ['round', 'stretched'] };
const RATIOS = [4 / 3, 3 / 4, 16 / 9, 9 / 16, 3 / 2, 2 / 3];

function canvas(r: () => number, w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h * 3);
  const base = [40 + 60 * r(), 40 + 60 * r(), 40 + 60 * r()];
  for (let i = 0; i < w * h; i++) {
    const n = (r() - 0.5) * 30;
    for (let c = 0; c < 3; c++) px[i * 3 + c] = Math.max(0, Math.min(255, base[c]! + n));
  }
  return px;
}

function fill(px: Uint8Array, w: number, h: number, inside: (x: number, y: number) => boolean, c: readonly number[]): void {
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (inside(x + 0.5, y + 0.5)) px.set(c, (y * w + x) * 3);
}

/** Image i of a planted set: packed RGB, its size and class index. */
export function plantedImage(kind: Planted, seed: number, i: number): { px: Uint8Array; width: number; height: number; label: number } {
  const r = rng(seed, 'planted', kind, i);
  const label = i % 2;
  const ratio = RATIOS[Math.floor(r() * RATIOS.length)]!;
  const short = 220 + Math.floor(r() * 260);
  const long = Math.round(short * Math.max(ratio, 1 / ratio));
  const width = ratio >= 1 ? long : short;
  const height = ratio >= 1 ? short : long;
  const px = canvas(r, width, height);
  if (kind === 'corner-mark') {
    // the distractor: a big blob of a random warm colour, inside the central square
    const d = (0.3 + 0.25 * r()) * short;
    const cx = width / 2 + (r() - 0.5) * 0.2 * short;
    const cy = height / 2 + (r() - 0.5) * 0.2 * short;
    fill(px, width, height, (x, y) => ((x - cx) / (d / 2)) ** 2 + ((y - cy) / (d / 2)) ** 2 < 1, [200 + 50 * r(), 120 + 60 * r(), 40]);
    // the mark: a 3:1 bar, 14% of the short side long, in an outer strip, along or across the long axis
    const len = 0.14 * short;
    const thick = len / 3;
    const strip = (long - short) / 2;
    const margin = 0.03 * short;
    const along = margin + len / 2 + r() * Math.max(0, strip - len - 2 * margin);
    const pos = r() < 0.5 ? along : long - along;
    const across = margin + len / 2 + r() * (short - len - 2 * margin);
    const [mx, my] = ratio >= 1 ? [pos, across] : [across, pos];
    // "along" the long axis: the bar's long side is parallel to the image's long side
    const barAlongX = (label === 1) === ratio >= 1;
    const [hw, hh] = barAlongX ? [len / 2, thick / 2] : [thick / 2, len / 2];
    fill(px, width, height, (x, y) => Math.abs(x - mx) < hw && Math.abs(y - my) < hh, [235, 235, 250]);
  } else {
    const k = 0.3 + 0.2 * r();
    let wn: number;
    let hn: number;
    if (label === 0) {
      wn = (k * short) / width;
      hn = (k * short) / height;
    } else {
      // Only ratios that stretch the ring by at least 4:3 (3:2 against 4:3 would be 1.125).
      const others = RATIOS.filter((a) => Math.max(a / ratio, ratio / a) >= 4 / 3 - 1e-9);
      const a2 = others[Math.floor(r() * others.length)]!;
      wn = a2 >= 1 ? k / a2 : k;
      hn = a2 >= 1 ? k : k * a2;
    }
    const rx = (wn * width) / 2;
    const ry = (hn * height) / 2;
    const cx = width / 2 + (r() - 0.5) * 0.6 * (short - 2 * rx);
    const cy = height / 2 + (r() - 0.5) * 0.6 * (short - 2 * ry);
    const t = 0.25; // ring thickness as a fraction of the radius
    const colour = [90 + 160 * r(), 200 + 55 * r(), 90 + 160 * r()];
    fill(px, width, height, (x, y) => {
      const q = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      return q < 1 && q > (1 - t) ** 2;
    }, colour);
  }
  return { px, width, height, label };
}

/** Writes `count` images of a planted set under `dir/<class>/<i>.png`; returns the class names. */
export async function writePlanted(kind: Planted, dir: string, count: number, seed = 0): Promise<string[]> {
  const classes = CLASSES[kind];
  for (const c of classes) await mkdir(join(dir, c), { recursive: true });
  for (let i = 0; i < count; i++) {
    const im = plantedImage(kind, seed, i);
    const png = await sharp(Buffer.from(im.px.buffer, im.px.byteOffset, im.px.byteLength), { raw: { width: im.width, height: im.height, channels: 3 } })
      .png({ compressionLevel: 1 })
      .toBuffer();
    await writeFile(join(dir, classes[im.label]!, `${String(i).padStart(5, '0')}.png`), png);
  }
  return classes;
}
