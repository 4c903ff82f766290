import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Crop, lowResSide, parseFill, planCrop } from '../src/data/geometry.js';

// [source w, h, crop, size, centerFraction] → expected plan
const table: [number, number, Crop, number, number, ReturnType<typeof planCrop>][] = [
  // squish: both sides to size, whatever the aspect
  [400, 200, 'squish', 100, 1, { resize: { width: 100, height: 100 }, crop: null, pad: null }],
  [375, 500, 'squish', 224, 1, { resize: { width: 224, height: 224 }, crop: null, pad: null }],
  // center: shorter side to size, centred window (loses the ends of the long side)
  [400, 200, 'center', 100, 1, { resize: { width: 200, height: 100 }, crop: { left: 50, top: 0, width: 100, height: 100 }, pad: null }],
  [500, 375, 'center', 224, 1, { resize: { width: 299, height: 224 }, crop: { left: 37, top: 0, width: 224, height: 224 }, pad: null }],
  [375, 500, 'center', 224, 1, { resize: { width: 224, height: 299 }, crop: { left: 0, top: 37, width: 224, height: 224 }, pad: null }],
  [300, 300, 'center', 64, 1, { resize: { width: 64, height: 64 }, crop: { left: 0, top: 0, width: 64, height: 64 }, pad: null }],
  // centerFraction 0.875: 224/0.875 = 256, the classic ImageNet eval crop
  [500, 375, 'center', 224, 0.875, { resize: { width: 341, height: 256 }, crop: { left: 58, top: 16, width: 224, height: 224 }, pad: null }],
  [256, 256, 'center', 224, 0.875, { resize: { width: 256, height: 256 }, crop: { left: 16, top: 16, width: 224, height: 224 }, pad: null }],
  // border: longer side to size, centred on fill (loses resolution)
  [400, 200, 'border', 100, 1, { resize: { width: 100, height: 50 }, crop: null, pad: { left: 0, top: 25 } }],
  [500, 375, 'border', 224, 1, { resize: { width: 224, height: 168 }, crop: null, pad: { left: 0, top: 28 } }],
  [375, 500, 'border', 224, 1, { resize: { width: 168, height: 224 }, crop: null, pad: { left: 28, top: 0 } }],
  [1600, 900, 'border', 64, 1, { resize: { width: 64, height: 36 }, crop: null, pad: { left: 0, top: 14 } }],
  [201, 200, 'border', 64, 1, { resize: { width: 64, height: 64 }, crop: null, pad: { left: 0, top: 0 } }],
  // extreme aspect: never a zero-height image
  [5000, 10, 'border', 32, 1, { resize: { width: 32, height: 1 }, crop: null, pad: { left: 0, top: 15 } }],
  // centerFraction is ignored by border and squish
  [400, 200, 'border', 100, 0.5, { resize: { width: 100, height: 50 }, crop: null, pad: { left: 0, top: 25 } }],
];

test('planCrop table', () => {
  for (const [w, h, crop, size, cf, want] of table) {
    assert.deepEqual(planCrop(w, h, { size, crop, centerFraction: cf }), want, `${w}×${h} ${crop} ${size} cf=${cf}`);
  }
});

test('planCrop invariants over many shapes', () => {
  for (const crop of ['border', 'center', 'squish'] as const) {
    for (let w = 7; w < 2000; w += 97) {
      for (let h = 5; h < 2000; h += 131) {
        for (const size of [28, 64, 224]) {
          const p = planCrop(w, h, { size, crop, centerFraction: crop === 'center' ? 0.875 : 1 });
          if (p.crop) {
            assert.ok(p.crop.left >= 0 && p.crop.top >= 0);
            assert.ok(p.crop.left + size <= p.resize.width && p.crop.top + size <= p.resize.height, `${w}×${h} ${crop}`);
          } else if (p.pad) {
            assert.ok(p.pad.left + p.resize.width <= size && p.pad.top + p.resize.height <= size);
            assert.equal(Math.max(p.resize.width, p.resize.height), size);
            // centred: the two bars differ by at most one pixel
            assert.ok(Math.abs(size - p.resize.height - 2 * p.pad.top) <= 1);
          } else {
            assert.deepEqual(p.resize, { width: size, height: size });
          }
        }
      }
    }
  }
});

test('bad inputs throw', () => {
  assert.throws(() => planCrop(0, 10, { size: 4, crop: 'center' }), /bad source size/);
  assert.throws(() => planCrop(10, 10, { size: 4, crop: 'letterbox' as Crop }), /unknown crop mode letterbox/);
  assert.throws(() => parseFill('#12345'), /fill must be/);
  assert.throws(() => lowResSide(66, 4), /not divisible/);
  assert.deepEqual(parseFill('#ff8000'), [255, 128, 0]);
  assert.deepEqual(parseFill([1, 2, 3]), [1, 2, 3]);
  assert.equal(lowResSide(64, 4), 16);
});
