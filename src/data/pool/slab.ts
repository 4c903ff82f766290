// Where a task's output images live: one SharedArrayBuffer per task slot, allocated by the main
// thread, filled by a worker, written to disk by the main thread and then reused for a later task.
// Results posted back as buffers were copied twice (clone out, clone in) and the main thread spent
// about as much time collecting those ~2 MB garbage buffers as writing chunks (CPU profile in
// docs/benchmarks.md); a shared slab moves nothing but the status list.
// Kept apart from worker.ts: importing that module sets sharp's concurrency and cache.
import type { ImageJob } from '../image.js';

export interface SlabLayout {
  /** Output sides in slab order: the job's sizes, then the super-resolution input side. */
  sides: number[];
  /** Bytes of one image of each output. */
  rowBytes: number[];
  /** Total bytes for `n` images (originals, then mirrors when flipping). */
  bytes: number;
}

export function slabLayout(job: ImageJob, n: number, flip: boolean): SlabLayout {
  const sides = job.downscale ? [...job.sizes, job.sizes[0]! / job.downscale] : [...job.sizes];
  const rowBytes = sides.map((s) => s * s * job.channels);
  const perImage = rowBytes.reduce((a, b) => a + b, 0);
  return { sides, rowBytes, bytes: perImage * n * (flip ? 2 : 1) };
}

/** Views of a slab holding `n` images: one per output, then (flip) one mirror view per output. */
export function slabViews(slab: SharedArrayBuffer, layout: SlabLayout, n: number, flip: boolean): { outs: Uint8Array[]; flips: Uint8Array[] | null } {
  let at = 0;
  const take = (bytes: number) => {
    const v = new Uint8Array(slab, at, bytes);
    at += bytes;
    return v;
  };
  const outs = layout.rowBytes.map((b) => take(b * n));
  const flips = flip ? layout.rowBytes.map((b) => take(b * n)) : null;
  return { outs, flips };
}
