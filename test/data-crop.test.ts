// Pixel tests of the three crops on images with known geometry: coloured bands whose fate under
// each crop can be read off directly (center loses the outer bands, border adds fill bars, squish
// keeps all bands at changed widths).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { type ImageJob, processImage } from '../src/data/image.js';

const RED = [230, 20, 20];
const GREEN = [20, 200, 40];
const BLUE = [30, 40, 220];
const YELLOW = [240, 220, 30];
const BANDS = [RED, GREEN, BLUE, YELLOW];

/** w×h PNG with 4 equal bands across the long axis (vertical bands when wide, horizontal when tall). */
async function bands(w: number, h: number): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const c = BANDS[w >= h ? Math.floor((x * 4) / w) : Math.floor((y * 4) / h)]!;
      px.set(c, (y * w + x) * 3);
    }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

const job = (o: Partial<ImageJob>): ImageJob => ({
  sizes: [100],
  crop: 'center',
  centerFraction: 1,
  fill: [0, 0, 0],
  kernel: 'lanczos3',
  channels: 3,
  maxPixels: 1e8,
  ...o,
});

async function run(src: Buffer, j: ImageJob): Promise<Uint8Array[]> {
  const outs = j.sizes.map((s) => new Uint8Array(s * s * j.channels).fill(j.crop === 'border' ? j.fill[0] : 7));
  if (j.crop === 'border') for (const [k, s] of j.sizes.entries()) for (let i = 0; i < s * s; i++) outs[k]!.set(j.fill.slice(0, j.channels), i * j.channels);
  await processImage({ data: src }, j, outs, 0);
  return outs;
}

const px = (o: Uint8Array, S: number, x: number, y: number) => Array.from(o.subarray((y * S + x) * 3, (y * S + x) * 3 + 3));
const near = (a: number[], b: number[], tol = 12) => a.every((v, i) => Math.abs(v - b[i]!) <= tol);
function assertNear(a: number[], b: number[], msg: string) {
  assert.ok(near(a, b), `${msg}: got ${a} want ${b}`);
}
function hasColour(o: Uint8Array, S: number, c: number[], tol = 40): boolean {
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) if (near(px(o, S, x, y), c, tol)) return true;
  return false;
}

test('center crop of a wide image loses the outer bands', async () => {
  const [o] = await run(await bands(400, 200), job({ crop: 'center' }));
  for (const y of [0, 50, 99]) {
    assertNear(px(o!, 100, 10, y), GREEN, `x=10 y=${y}`);
    assertNear(px(o!, 100, 40, y), GREEN, `x=40 y=${y}`);
    assertNear(px(o!, 100, 60, y), BLUE, `x=60 y=${y}`);
    assertNear(px(o!, 100, 95, y), BLUE, `x=95 y=${y}`);
  }
  assert.ok(!hasColour(o!, 100, RED), 'red band should be cut off');
  assert.ok(!hasColour(o!, 100, YELLOW), 'yellow band should be cut off');
});

test('border of a wide image adds fill bars of the right height and keeps every band', async () => {
  const [o] = await run(await bands(400, 200), job({ crop: 'border' }));
  // resized to 100×50, centred: rows 0–24 and 75–99 are bars, exactly the fill
  for (let y = 0; y < 100; y++) {
    const bar = y < 25 || y >= 75;
    for (const x of [0, 30, 62, 99]) if (bar) assert.deepEqual(px(o!, 100, x, y), [0, 0, 0], `bar pixel ${x},${y}`);
  }
  for (const y of [26, 50, 73]) {
    assertNear(px(o!, 100, 10, y), RED, 'band 1');
    assertNear(px(o!, 100, 37, y), GREEN, 'band 2');
    assertNear(px(o!, 100, 62, y), BLUE, 'band 3');
    assertNear(px(o!, 100, 90, y), YELLOW, 'band 4');
  }
  // the first image row is not fill: the bar is 25 rows, not more
  assert.notDeepEqual(px(o!, 100, 10, 25), [0, 0, 0]);
  assert.notDeepEqual(px(o!, 100, 10, 74), [0, 0, 0]);
});

test('border of a tall image pads left and right with the named fill colour', async () => {
  const fill: [number, number, number] = [255, 0, 255];
  const [o] = await run(await bands(200, 400), job({ crop: 'border', fill }));
  for (let x = 0; x < 100; x++) {
    const bar = x < 25 || x >= 75;
    if (bar) assert.deepEqual(px(o!, 100, x, 50), fill, `bar at x=${x}`);
    else assert.notDeepEqual(px(o!, 100, x, 50), fill);
  }
  assertNear(px(o!, 100, 50, 10), RED, 'top band');
  assertNear(px(o!, 100, 50, 90), YELLOW, 'bottom band');
});

test('squish keeps all four bands at a quarter of the width each', async () => {
  const [o] = await run(await bands(400, 200), job({ crop: 'squish' }));
  for (const y of [0, 50, 99]) {
    assertNear(px(o!, 100, 10, y), RED, 'band 1');
    assertNear(px(o!, 100, 37, y), GREEN, 'band 2');
    assertNear(px(o!, 100, 62, y), BLUE, 'band 3');
    assertNear(px(o!, 100, 90, y), YELLOW, 'band 4');
  }
  // band edges at 25/50/75 (the source's 100/200/300 scaled by 1/4)
  assertNear(px(o!, 100, 22, 50), RED, 'just left of the first edge');
  assertNear(px(o!, 100, 27, 50), GREEN, 'just right of the first edge');
});

test('centerFraction 0.875 crops a margin all round', async () => {
  // 200×200 with 4 bands: resize to 100/0.875 = 114, take the centre 100 → 7 px of the outer bands survive on each side
  const [o] = await run(await bands(200, 200), job({ crop: 'center', centerFraction: 0.875 }));
  assertNear(px(o!, 100, 2, 50), RED, 'left edge');
  assertNear(px(o!, 100, 97, 50), YELLOW, 'right edge');
  assertNear(px(o!, 100, 30, 50), GREEN, '(30 + 7) / 114 * 200 = 65 px: second band');
});

test('several sizes from one decode agree with single-size runs', async () => {
  const src = await bands(400, 200);
  for (const crop of ['border', 'center', 'squish'] as const) {
    const [a, b] = await run(src, job({ crop, sizes: [64, 32] }));
    const [a1] = await run(src, job({ crop, sizes: [64] }));
    const [b1] = await run(src, job({ crop, sizes: [32] }));
    assert.deepEqual(a, a1, `${crop}: the largest size is the same pipeline`);
    // the smaller size is resampled from the larger one: close, not identical
    let diff = 0;
    for (let i = 0; i < b!.length; i++) diff += Math.abs(b![i]! - b1![i]!);
    assert.ok(diff / b!.length < 6, `${crop}: mean abs diff ${diff / b!.length}`);
  }
});

test('channels 1 gives grey, and EXIF orientation is applied', async () => {
  const [g] = await run(await bands(400, 200), job({ crop: 'squish', channels: 1, sizes: [40] }));
  assert.equal(g!.length, 40 * 40);
  // libvips greys by lightness (L*): yellow > green > red > blue
  const [r, gr, b, y] = [5, 15, 25, 35].map((x) => g![20 * 40 + x]!);
  assert.ok(y! > gr! && gr! > r! && r! > b!, `band greys ${[r, gr, b, y]}`);
  // stored 400×200 with orientation 6 (rotate 90° clockwise to display) → shown 200×400, bands horizontal
  const rotated = await sharp(await bands(400, 200)).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  const [o] = await run(rotated, job({ crop: 'squish' }));
  assertNear(px(o!, 100, 50, 10), RED, 'red is on top after rotation');
  assertNear(px(o!, 100, 50, 90), YELLOW, 'yellow at the bottom');
  assertNear(px(o!, 100, 10, 50), px(o!, 100, 90, 50), 'rows are uniform');
});
