// How many images the pool keeps in sharp at once, and whether libuv lets them run.
// sharp runs each call on libuv's thread pool, which is 4 threads unless UV_THREADPOOL_SIZE says
// otherwise when the process starts: above 4 images in flight, the rest queue, so on an 8-core
// machine 8 workers would use 4 cores. bin/ablate.js sizes the pool before anything uses it.

/**
 * Images in flight per worker. 3 measured best on 2 cores (docs/benchmarks.md): 2 workers × 3
 * kept 1.85 cores busy against 1.82 with × 2, because a queued image starts the moment sharp
 * finishes one, without waiting for the worker's JavaScript.
 */
export const DEFAULT_INFLIGHT = 3;

/** libuv's pool size for this process (libuv's default 4, or UV_THREADPOOL_SIZE; libuv caps it at 1024). */
export function uvPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}
