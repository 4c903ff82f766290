// Splitting a global batch into the shards of the data-parallel ranks. Shards are as equal as the
// batch allows: sizes differ by at most one row (the first n mod N ranks get the extra row), and
// nothing is dropped or padded. Every rank's loss is a mean over its shard, so the combined
// gradient weights each shard by its size, Σ (n_r / n) g_r, which is exactly the gradient of the
// whole batch's mean: the last, smaller batch of an epoch trains on every sample, as with 1 worker.
// A batch smaller than the worker count leaves the last ranks idle for that step.
import type { Batch } from '../../data/loader.js';

/** Rows of each of `parts` shards of an `n`-row batch, in rank order. */
export function shardSizes(n: number, parts: number): number[] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  return Array.from({ length: parts }, (_, r) => base + (r < extra ? 1 : 0));
}

type Rows = Float32Array | Uint8Array | Int32Array;

function rowSlice<T extends Rows>(a: T, n: number, from: number, to: number): T {
  const per = a.length / n;
  return a.slice(from * per, to * per) as T;
}

/** The loader's batch cut into shards (copies, so they can be transferred to worker threads). */
export function splitBatch(b: Batch, parts: number): Batch[] {
  let from = 0;
  return shardSizes(b.n, parts).map((size) => {
    const to = from + size;
    const shard: Batch = {
      n: size,
      x: rowSlice(b.x, b.n, from, to),
      shape: [size, ...b.shape.slice(1)],
      y: b.y ? rowSlice(b.y, b.n, from, to) : null,
      extra: b.extra.map((e) => rowSlice(e, b.n, from, to)),
      rows: b.rows.slice(from, to),
    };
    from = to;
    return shard;
  });
}

/** The buffers of a shard, for postMessage's transfer list. */
export function batchBuffers(b: Batch): ArrayBuffer[] {
  return [b.x, b.y, ...b.extra, b.rows].filter((a): a is Rows => a !== null).map((a) => a.buffer as ArrayBuffer);
}

/** A batch that is only rows: every field a typed array with the same number of rows (`n`). */
export type RowBatch = { n: number } & { [field: string]: number | Float32Array | Int32Array | Uint8Array };

/** A RowBatch cut into shards (copies). */
export function splitRows<B extends RowBatch>(b: B, parts: number): B[] {
  let from = 0;
  return shardSizes(b.n, parts).map((size) => {
    const to = from + size;
    const shard: Record<string, unknown> = { n: size };
    for (const [k, v] of Object.entries(b)) if (k !== 'n') shard[k] = rowSlice(v as Rows, b.n, from, to);
    from = to;
    return shard as B;
  });
}

export function rowBuffers(b: RowBatch): ArrayBuffer[] {
  return Object.entries(b).flatMap(([k, v]) => (k === 'n' ? [] : [(v as Rows).buffer as ArrayBuffer]));
}
