// Stage keys follow what decides a result, not how often it is logged or checkpointed: a rerun
// with another checkpoint cadence must find the interrupted run's work folder (same key).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planPipeline } from '../src/pipeline/plan.js';
import { experimentSchema } from '../src/spec/schema.js';

async function keys(input: Record<string, unknown>): Promise<Record<string, string>> {
  const plan = await planPipeline(experimentSchema.parse(input));
  return Object.fromEntries(plan.map((s) => [s.kind, s.key]));
}

for (const task of ['classify', 'super-resolution'] as const) {
  test(`${task}: train.logEvery/checkpointEvery/checkpointMinutes leave the keys alone; train.lr does not`, async () => {
    const base = { task, dataset: { source: 'shapes', count: 80 }, preprocess: { size: 32, ...(task === 'super-resolution' ? { downscale: 2 } : {}) } };
    const a = await keys(base);
    assert.ok(a.train, JSON.stringify(a));
    assert.deepEqual(await keys({ ...base, train: { logEvery: 3, checkpointEvery: 2, checkpointMinutes: 1 } }), a);
    const b = await keys({ ...base, train: { lr: 0.05 } });
    assert.notEqual(b.train, a.train);
    assert.equal(b.preprocess, a.preprocess);
  });
}
