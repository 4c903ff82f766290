// The planted-truth datasets of bench/planted.ts destroy their cue under exactly one crop, checked
// on the crop pipeline's real output at size 64: the corner mark has no pixels after center and
// some after border and squish; the ring's aspect separates the classes after border and center
// and not after squish.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { plantedImage } from '../bench/planted.js';
import { type ImageJob, processImage } from '../src/data/image.js';

const S = 64;
const job = (crop: ImageJob['crop']): ImageJob => ({ sizes: [S], crop, centerFraction: 1, fill: [0, 0, 0], kernel: 'lanczos3', channels: 3, maxPixels: 5e7 });

async function cropped(kind: 'corner-mark' | 'stretch', i: number, crop: ImageJob['crop']): Promise<{ out: Uint8Array; label: number }> {
  const im = plantedImage(kind, 0, i);
  const png = await sharp(Buffer.from(im.px.buffer), { raw: { width: im.width, height: im.height, channels: 3 } }).png().toBuffer();
  const out = new Uint8Array(S * S * 3);
  await processImage({ data: new Uint8Array(png) }, job(crop), [out], 0);
  return { out, label: im.label };
}

const N = 16;

describe('corner-mark: center must lose', () => {
  for (const crop of ['border', 'center', 'squish'] as const) {
    test(`${crop}: ${crop === 'center' ? 'no' : 'every'} image keeps mark pixels`, async () => {
      for (let i = 0; i < N; i++) {
        const { out } = await cropped('corner-mark', i, crop);
        let mark = 0;
        for (let p = 0; p < S * S; p++) if (out[p * 3]! > 200 && out[p * 3 + 1]! > 200 && out[p * 3 + 2]! > 215) mark++;
        if (crop === 'center') assert.equal(mark, 0, `image ${i}`);
        else assert.ok(mark >= 2, `image ${i}: ${mark} mark pixels`);
      }
    });
  }
});

describe('stretch: squish must lose', () => {
  /** The ring's bounding-box aspect (width / height) in the output. */
  function ringAspect(out: Uint8Array): number {
    let x0 = S;
    let x1 = -1;
    let y0 = S;
    let y1 = -1;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const g = out[(y * S + x) * 3 + 1]!;
        if (g > 170) {
          x0 = Math.min(x0, x);
          x1 = Math.max(x1, x);
          y0 = Math.min(y0, y);
          y1 = Math.max(y1, y);
        }
      }
    }
    return (x1 - x0 + 1) / (y1 - y0 + 1);
  }
  /** Accuracy of the best threshold on |log aspect|: 1 when the aspect separates the classes. */
  async function separability(crop: ImageJob['crop']): Promise<number> {
    const pts: [number, number][] = [];
    for (let i = 0; i < 2 * N; i++) {
      const { out, label } = await cropped('stretch', i, crop);
      pts.push([Math.abs(Math.log(ringAspect(out))), label]);
    }
    let best = 0;
    for (const [t] of pts) {
      const acc = pts.filter(([v, l]) => (v > t) === (l === 1)).length / pts.length;
      best = Math.max(best, acc, 1 - acc);
    }
    return best;
  }
  test('border and center keep the aspect: a threshold separates the classes', async () => {
    assert.equal(await separability('border'), 1);
    assert.equal(await separability('center'), 1);
  });
  test('after squish the aspect no longer separates them', async () => {
    const acc = await separability('squish');
    assert.ok(acc < 0.8, `best threshold accuracy after squish ${acc}`);
  });
});
