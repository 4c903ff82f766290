// Splits what a run has to upload into runs/log-batch calls that MLflow accepts: at most 1000
// metrics, 100 params, 100 tags, 1000 items and 1 MB of JSON per call.
import { LIMITS } from './keys.js';
import { toMlflowJson, type BatchMetric, type KeyValue } from './rest-client.js';

export interface Batch<M extends BatchMetric = BatchMetric> {
  metrics: M[];
  params: KeyValue[];
  tags: KeyValue[];
}

export type BatchLimits = typeof LIMITS;

// The run_id field, the three array names and brackets; generous so rounding never overflows.
const ENVELOPE_BYTES = 256;

export function splitBatches<M extends BatchMetric>(items: Batch<M>, limits: BatchLimits = LIMITS): Batch<M>[] {
  const out: Batch<M>[] = [];
  let cur: Batch<M> = { metrics: [], params: [], tags: [] };
  let bytes = ENVELOPE_BYTES;
  const flush = () => {
    if (cur.metrics.length + cur.params.length + cur.tags.length > 0) out.push(cur);
    cur = { metrics: [], params: [], tags: [] };
    bytes = ENVELOPE_BYTES;
  };
  const add = <K extends 'metrics' | 'params' | 'tags'>(kind: K, item: Batch<M>[K][number], max: number) => {
    const size = Buffer.byteLength(toMlflowJson(kind === 'metrics' ? wire(item as M) : item)) + 1;
    const count = cur.metrics.length + cur.params.length + cur.tags.length;
    if (cur[kind].length >= max || count >= limits.entitiesPerBatch || bytes + size > limits.batchBytes) flush();
    (cur[kind] as unknown[]).push(item);
    bytes += size;
  };
  // Params and tags first: a run shows its configuration in the UI before its curves arrive.
  for (const p of items.params) add('params', p, limits.paramsPerBatch);
  for (const t of items.tags) add('tags', t, limits.tagsPerBatch);
  for (const m of items.metrics) add('metrics', m, limits.metricsPerBatch);
  flush();
  return out;
}

/** Only the fields MLflow knows (callers may carry bookkeeping such as file offsets). */
export function wire(m: BatchMetric): BatchMetric {
  return { key: m.key, value: m.value, timestamp: m.timestamp, step: m.step };
}
