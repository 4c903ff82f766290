// The shapes dataset does what docs/datasets.md claims: on each subset one crop destroys the cue.
// Measured on real preprocess output (JPEG → processImage at size 64), not on the generator's intent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import type { Crop } from '../src/data/geometry.js';
import { type ImageJob, processImage } from '../src/data/image.js';
import { DETAIL_SIZE, renderShape, SHAPE_CLASSES, type ShapeImage, shapeParams } from '../src/data/shapes.js';

const SEED = 11;
const job = (crop: Crop): ImageJob => ({ sizes: [DETAIL_SIZE], crop, centerFraction: 1, fill: [0, 0, 0], kernel: 'lanczos3', channels: 3, maxPixels: 1e8 });
const S = DETAIL_SIZE;

async function out(p: ShapeImage, crop: Crop): Promise<Uint8Array> {
  const jpeg = await sharp(renderShape(SEED, p), { raw: { width: p.width, height: p.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  const o = new Uint8Array(S * S * 3);
  await processImage({ data: jpeg }, job(crop), [o], 0);
  return o;
}

function images(name: string, n: number): ShapeImage[] {
  const k = SHAPE_CLASSES.findIndex((c) => c.name === name);
  return Array.from({ length: n }, (_, i) => shapeParams(SEED, k + i * SHAPE_CLASSES.length));
}

/** Bounding box of pixels near colour c. */
function bbox(o: Uint8Array, c: readonly number[], tol = 45) {
  let x0 = S;
  let y0 = S;
  let x1 = -1;
  let y1 = -1;
  let count = 0;
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const i = (y * S + x) * 3;
      if (Math.abs(o[i]! - c[0]!) < tol && Math.abs(o[i + 1]! - c[1]!) < tol && Math.abs(o[i + 2]! - c[2]!) < tol) {
        count++;
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  return { count, aspect: (x1 - x0 + 1) / (y1 - y0 + 1) };
}

test('edge subset: center crop removes the mark, border and squish keep it', async () => {
  for (const [name, colour] of [
    ['edge-red', [225, 25, 25]],
    ['edge-blue', [30, 70, 235]],
  ] as const) {
    for (const p of images(name, 6)) {
      assert.equal(bbox(await out(p, 'center'), colour, 60).count, 0, `${name} #${p.index} center`);
      assert.ok(bbox(await out(p, 'border'), colour, 60).count >= 2, `${name} #${p.index} border`);
      assert.ok(bbox(await out(p, 'squish'), colour, 60).count >= 2, `${name} #${p.index} squish`);
    }
  }
});

test('detail subset: border blurs the stripes away far more than center and squish', async () => {
  const contrast = (o: Uint8Array, p: ShapeImage, crop: Crop, window?: number) => {
    // the patch sits in the central square; measure differences along the short axis in the middle of the output
    const wide = p.width >= p.height;
    let d = 0;
    let n = 0;
    const lo = window ?? (crop === 'border' ? 0.42 : 0.4);
    for (let a = Math.floor(S * lo); a < Math.ceil(S * (1 - lo)); a++)
      for (let b = Math.floor(S * lo); b < Math.ceil(S * (1 - lo)); b++) {
        const [x, y, x2, y2] = wide ? [a, b, a, b + 1] : [b, a, b + 1, a];
        for (let c = 0; c < 3; c++) d += Math.abs(o[(y * S + x) * 3 + c]! - o[(y2 * S + x2) * 3 + c]!);
        n += 3;
      }
    return d / n;
  };
  const ratio: number[] = [];
  for (const p of images('stripes', 8)) {
    const border = contrast(await out(p, 'border'), p, 'border');
    const center = contrast(await out(p, 'center'), p, 'center');
    const squish = contrast(await out(p, 'squish'), p, 'squish');
    assert.ok(center > border && squish > border, `#${p.index} ${p.width}×${p.height}: border ${border.toFixed(1)} center ${center.toFixed(1)} squish ${squish.toFixed(1)}`);
    ratio.push(center / Math.max(border, 1e-3));
  }
  const mean = ratio.reduce((a, b) => a + b) / ratio.length;
  assert.ok(mean > 2, `center keeps on average ${mean.toFixed(1)}× the stripe contrast of border`);
  // Destroyed, not just weakened: after border the stripes show no more contrast than the flat
  // patch (grain and JPEG noise), measured inside the patch only (after border the patch spans
  // at least the central ±2.8 px; a wider window would count its edges). Version 1 of the set
  // (1.8 px) left 4.5× the flat's contrast.
  const avg = async (name: string, crop: Crop) => {
    let t = 0;
    const ps = images(name, 8);
    for (const p of ps) t += contrast(await out(p, crop), p, crop, 0.46);
    return t / ps.length;
  };
  const stripes = await avg('stripes', 'border');
  const flat = await avg('flat', 'border');
  assert.ok(stripes < 1.3 * flat, `after border: stripes ${stripes.toFixed(1)} vs flat ${flat.toFixed(1)}`);
  assert.ok((await avg('stripes', 'center')) > 4 * (await avg('flat', 'center')), 'center keeps the stripes');
});

test('aspect subset: border and center keep the aspect, after squish round and elongated look alike', async () => {
  const SQUISHED = [1, 3 / 4, 4 / 3, 9 / 16, 16 / 9]; // 1/r for every source ratio r
  const nearSet = (a: number) => SQUISHED.some((v) => Math.abs(Math.log(a / v)) < 0.16);
  for (const name of ['circle', 'ellipse', 'square', 'rectangle']) {
    const round = name === 'circle' || name === 'square';
    for (const p of images(name, 5)) {
      for (const crop of ['border', 'center'] as const) {
        const { aspect } = bbox(await out(p, crop), p.color);
        if (round) assert.ok(Math.abs(Math.log(aspect)) < 0.16, `${name} #${p.index} ${crop}: aspect ${aspect.toFixed(2)} should be ≈1`);
        else assert.ok(Math.abs(Math.log(aspect)) > 0.2, `${name} #${p.index} ${crop}: aspect ${aspect.toFixed(2)} should be elongated`);
      }
      // after squish every shape shows one of the same few aspect ratios, whatever its class
      const { aspect } = bbox(await out(p, 'squish'), p.color);
      assert.ok(nearSet(aspect), `${name} #${p.index} squish: aspect ${aspect.toFixed(2)} is not a squished-circle ratio`);
    }
  }
});
