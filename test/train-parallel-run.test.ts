// Whole runs with train.workers: 2 whose worker thread fails: during a training step the run ends
// FAILED with that worker's error and its last checkpoint resumes in the next run; during a forward
// pass (validation, on the training ranks) the run fails with the worker's error too.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { executePipeline } from '../src/pipeline/execute.js';
import { loadSpec } from '../src/spec/load.js';
import { readStore } from '../src/track/reader.js';
import { FAIL_ENV } from '../src/train/parallel/protocol.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ablate-parallel-run-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const baseSpec = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'sweep-basic', 'base.yaml');
const args = (cache: string) => [`track.uri=${join(dir, 'runs')}`, `cache.dir=${join(dir, cache)}`, 'dataset.count=24', 'preprocess.size=8', 'model.base.width=4', 'train.epochs=3', 'train.workers=2', 'train.backend=wasm'];

async function run(cache: string, fail?: string) {
  if (fail) process.env[FAIL_ENV] = fail;
  const lines: string[] = [];
  const out = { write: (l: string) => lines.push(l) } as unknown as NodeJS.WriteStream;
  try {
    const result = await executePipeline(loadSpec(baseSpec, args(cache)), { out });
    return { result, text: lines.join('') };
  } finally {
    delete process.env[FAIL_ENV];
  }
}

const statusOf = (runId: string) => readStore(join(dir, 'runs')).experiments.flatMap((e) => e.runs).find((r) => r.info.runId === runId)?.info.status;

test('a worker that fails a training step: the run is FAILED with its error, the next run resumes from the last checkpoint', async () => {
  // Step 3 (0-based): the second batch of the second epoch (16 training images, 2 batches of 8 an
  // epoch), after the checkpoint of the first.
  const failed = await run('cache-step', '1:3');
  assert.equal(failed.result.status, 'FAILED', failed.text);
  assert.match(failed.result.error!.message, /training worker 1 failed: injected failure of worker 1 at step 3/);
  assert.equal(statusOf(failed.result.runId!), 'FAILED');
  assert.match(failed.text, /train: 2 data-parallel workers/);

  const again = await run('cache-step');
  assert.equal(again.result.status, 'FINISHED', again.text);
  assert.match(again.text, /resuming from the checkpoint after epoch 1 /);
  assert.equal(statusOf(again.result.runId!), 'FINISHED');
});

test('a worker that fails in a forward pass (validation on the training ranks): the run is FAILED with its error', async () => {
  const failed = await run('cache-pass', '1:0:pass');
  assert.equal(failed.result.status, 'FAILED', failed.text);
  assert.match(failed.result.error!.message, /training worker 1 failed: injected failure of worker 1 at pass batch 0/);
  assert.equal(statusOf(failed.result.runId!), 'FAILED');
});
