// The piscina pool of image workers. The worker file is loaded from dist/ next to this module.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { PreprocessResult, PreprocessTask, ShapesResult, ShapesTask } from './worker.js';

export interface ImagePool {
  readonly workers: number;
  preprocess(task: Omit<PreprocessTask, 'kind'>, signal?: AbortSignal): Promise<PreprocessResult>;
  shapes(task: Omit<ShapesTask, 'kind'>, signal?: AbortSignal): Promise<ShapesResult>;
  close(): Promise<void>;
}

export function defaultWorkers(): number {
  return availableParallelism();
}

export function createPool(workers = defaultWorkers()): ImagePool {
  const piscina = new Piscina({
    filename: fileURLToPath(new URL('./worker.js', import.meta.url)),
    minThreads: workers,
    maxThreads: workers,
    idleTimeout: 60_000,
    // One task per worker at a time: the task itself keeps several images in flight, and a
    // second task would need a second set of the worker's preallocated buffers.
    concurrentTasksPerWorker: 1,
  });
  const opts = (signal?: AbortSignal) => (signal ? { signal } : {});
  return {
    workers,
    preprocess: (task, signal) => piscina.run({ kind: 'preprocess', ...task }, opts(signal)),
    shapes: (task, signal) => piscina.run({ kind: 'shapes', ...task }, opts(signal)),
    close: () => piscina.destroy(),
  };
}
