// The REST path against an in-process MLflow stand-in: limits split as MLflow requires, retries on
// 429/5xx/dropped connections, NaN encoding, artifacts through the proxy, credentials never
// written down, and a server that is down costing nothing but a later `ablate sync`.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { splitBatches } from '../src/track/batch.js';
import { listExperiments, listRuns, MlflowClient, MlflowError, openTracker, RemoteUnavailableError, syncStore } from '../src/track/index.js';
import { checkStore } from './fixtures/track-checker.js';
import { type FakeMlflow, startFakeMlflow } from './fixtures/track-mlflow-server.js';

const FAST = { attempts: 4, baseMs: 2, maxMs: 10 };
const TOKEN = 'tok-3f9a-very-secret';
const dirs: string[] = [];
const servers: FakeMlflow[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ablate-rest-'));
  dirs.push(d);
  return d;
}
async function server(opts: { token?: string } = {}): Promise<FakeMlflow> {
  const s = await startFakeMlflow(opts);
  servers.push(s);
  return s;
}
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function allText(dir: string): string {
  let out = '';
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (statSync(p).isFile()) out += readFileSync(p, 'utf8');
  }
  return out;
}

const batches = (s: FakeMlflow) => s.requests.filter((r) => r.path.endsWith('/runs/log-batch') && r.status === 200).map((r) => JSON.parse(r.body) as { metrics: unknown[]; params: unknown[]; tags: unknown[] });

describe('REST tracking', () => {
  it('a live run lands on the server whole: split batches, NaN as MLflow expects, artifacts, status, one run id', async () => {
    const s = await server({ token: TOKEN });
    const cwd = tmp();
    const messages: string[] = [];
    const tracker = openTracker({ uri: s.url, cwd, env: { MLFLOW_TRACKING_TOKEN: TOKEN }, retry: FAST, flushIntervalMs: 5, syncIntervalMs: 10, log: (m) => messages.push(m) });
    assert.equal(tracker.kind, 'rest');
    const params = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`p.${i}`, `v${i}`]));
    const tags = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`t.${i}`, `w${i}`]));
    const run = await tracker.startRun({ experiment: 'rest-exp', runName: 'r1', params, tags });
    for (let step = 0; step < 1300; step++) {
      run.logMetrics({ loss: step === 7 ? Number.NaN : 1 / (step + 1), 'train/acc': step === 8 ? Number.POSITIVE_INFINITY : step === 9 ? Number.NEGATIVE_INFINITY : step }, step);
      if (step % 300 === 0) await new Promise((r) => setTimeout(r, 15));
    }
    await run.logText('name: x\n', 'spec.yaml');
    await run.end('FINISHED');

    const remote = s.runs.get(run.id);
    assert.ok(remote, 'local and server run ids are the same');
    const local = listRuns(tracker.localRoot, run.experimentId)[0]!;
    assert.deepEqual(Object.fromEntries(remote.params), local.params);
    assert.deepEqual(Object.fromEntries(remote.tags), local.tags);
    for (const key of ['loss', 'train/acc']) {
      const sent = remote.metrics.filter((m) => m.key === key).sort((a, b) => a.step - b.step);
      assert.deepEqual(sent.map((m) => [m.step, m.value, m.timestamp]), local.history[key]!.map((p) => [p.step, p.value, p.timestamp]));
    }
    for (const b of batches(s)) {
      assert.ok(b.metrics.length <= 1000 && b.params.length <= 100 && b.tags.length <= 100);
      assert.ok(b.metrics.length + b.params.length + b.tags.length <= 1000);
    }
    assert.ok(batches(s).filter((b) => b.params.length > 0).length >= 3, '250 params need 3 calls');
    const raw = s.requests.map((r) => r.body).join('\n');
    assert.match(raw, /"value":"NaN"/);
    assert.match(raw, /"value":"Infinity"/);
    assert.match(raw, /"value":"-Infinity"/);
    assert.equal(remote.info.status, 'FINISHED');
    assert.equal(remote.info.end_time, local.info.endTime);
    assert.equal(s.artifacts.get(`${remote.info.experiment_id}/${run.id}/artifacts/spec.yaml`)?.toString(), 'name: x\n');
    assert.ok(s.requests.every((r) => r.auth === `Bearer ${TOKEN}`));
    assert.ok(!allText(cwd).includes(TOKEN), 'token written to the local store');
    assert.ok(!messages.join('\n').includes(TOKEN));
    assert.deepEqual(checkStore(tracker.localRoot).problems, []);
  });

  it('splits by the 1 MB body limit, which the server enforces', async () => {
    const s = await server();
    const client = new MlflowClient({ uri: s.url, env: {}, retry: FAST });
    const exp = await client.ensureExperiment('big');
    const { run_id } = await client.createRun({ experimentId: exp, runName: 'b', startTime: Date.now(), userId: 'u' });
    const params = Array.from({ length: 100 }, (_, i) => ({ key: `p${i}`, value: 'x'.repeat(5900) }));
    const tags = Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: 'y'.repeat(4900) }));
    await assert.rejects(client.logBatch(run_id, { params, tags }), (e: unknown) => e instanceof MlflowError && e.errorCode === 'INVALID_PARAMETER_VALUE');
    const parts = splitBatches({ metrics: [], params, tags });
    assert.equal(parts.length, 2);
    for (const p of parts) await client.logBatch(run_id, p);
    assert.equal(s.runs.get(run_id)!.params.size + s.runs.get(run_id)!.tags.size, 201);
  });

  it('retries 429, 5xx and dropped connections with backoff, then gives up', async () => {
    const s = await server();
    const retries: string[] = [];
    const client = new MlflowClient({ uri: s.url, env: {}, retry: FAST, log: (m) => retries.push(m) });
    s.failures.push(503, 429, 'reset');
    assert.match(await client.ensureExperiment('flaky'), /^\d+$/);
    assert.equal(retries.length, 3);
    assert.deepEqual(s.requests.slice(0, 4).map((r) => r.status), [503, 429, -1, 404]);
    s.failures.push(500, 502, 503, 504);
    await assert.rejects(client.ensureExperiment('flaky'), RemoteUnavailableError);
    // A client error is not retried.
    const before = s.requests.length;
    await assert.rejects(client.logBatch('nope', {}), (e: unknown) => e instanceof MlflowError && e.errorCode === 'RESOURCE_DOES_NOT_EXIST');
    assert.equal(s.requests.length, before + 1);
  });

  it('handles RESOURCE_ALREADY_EXISTS when another client created the experiment first', async () => {
    const s = await server();
    const client = new MlflowClient({ uri: s.url, env: {}, retry: FAST });
    const id = await client.createExperiment('shared');
    s.hideExperiment = 1;
    assert.equal(await client.ensureExperiment('shared'), id);
    assert.ok(s.requests.some((r) => r.status === 400 && r.body.includes('shared')));
  });

  it('basic auth from the URI or the environment, never stored', async () => {
    const s = await server();
    const client = new MlflowClient({ uri: s.url.replace('//', '//alice:pw%40x@'), env: {}, retry: FAST });
    assert.ok(!client.displayUri.includes('alice'));
    await client.ensureExperiment('a');
    assert.equal(s.requests[0]!.auth, `Basic ${Buffer.from('alice:pw@x').toString('base64')}`);
    const envClient = new MlflowClient({ uri: s.url, env: { MLFLOW_TRACKING_USERNAME: 'bob', MLFLOW_TRACKING_PASSWORD: 'pw2' }, retry: FAST });
    await envClient.ensureExperiment('a');
    assert.equal(s.requests.at(-1)!.auth, `Basic ${Buffer.from('bob:pw2').toString('base64')}`);
  });

  it('an unreachable server costs nothing: the run completes locally and `sync` uploads it later, once', async () => {
    const s = await server();
    const url = s.url;
    s.down = true;
    const cwd = tmp();
    const messages: string[] = [];
    const tracker = openTracker({ uri: url, cwd, env: {}, retry: FAST, flushIntervalMs: 5, syncIntervalMs: 5, log: (m) => messages.push(m) });
    const run = await tracker.startRun({ experiment: 'offline', params: { a: '1' } });
    for (let i = 0; i < 50; i++) run.logMetric('loss', i, i);
    await new Promise((r) => setTimeout(r, 30));
    await run.logText('x', 'notes/a.txt');
    await run.end('FINISHED');
    assert.equal(run.status, 'FINISHED');
    assert.ok(messages.some((m) => m.includes('ablate sync')), messages.join('\n'));
    assert.equal(s.runs.size, 0);
    assert.deepEqual(checkStore(tracker.localRoot).problems, []);

    s.down = false;
    const client = new MlflowClient({ uri: url, env: {}, retry: FAST });
    const first = await syncStore(tracker.localRoot, client);
    assert.equal(first.failed.length, 0);
    const remote = [...s.runs.values()][0]!;
    assert.equal(remote.info.status, 'FINISHED');
    assert.deepEqual(remote.metrics.map((m) => m.value), Array.from({ length: 50 }, (_, i) => i));
    assert.equal(remote.params.get('a'), '1');
    assert.equal(s.artifacts.get(`${remote.info.experiment_id}/${remote.info.run_id}/artifacts/notes/a.txt`)?.toString(), 'x');
    const again = await syncStore(tracker.localRoot, client);
    assert.equal(again.synced.length, 0);
    assert.equal(remote.metrics.length, 50);
  });

  it('a server found down during the run costs end() one request, and background uploads do not retry', async () => {
    const s = await server();
    s.down = true;
    const messages: string[] = [];
    // Retries that would be visible: 4 attempts per call if they were used.
    const tracker = openTracker({ uri: s.url, cwd: tmp(), env: {}, retry: { attempts: 4, baseMs: 1, maxMs: 2 }, flushIntervalMs: 5, syncIntervalMs: 60_000, log: (m) => messages.push(m) });
    const run = await tracker.startRun({ experiment: 'down' });
    const afterStart = s.requests.length;
    run.logMetric('loss', 1, 0);
    const t0 = Date.now();
    while (!messages.some((m) => m.includes('still recording locally')) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
    // The first background upload failed after exactly one request (its next try is a minute away).
    const afterTick = s.requests.length;
    assert.equal(afterTick - afterStart, 1, s.requests.slice(afterStart).map((r) => r.path).join('\n'));
    await run.end('FINISHED');
    assert.equal(s.requests.length - afterTick, 1);
    assert.ok(messages.some((m) => m.includes('ablate sync')), messages.join('\n'));
  });

  it('a server lost mid-run gets only the rest from `sync`, without duplicates', async () => {
    const s = await server();
    const cwd = tmp();
    const tracker = openTracker({ uri: s.url, cwd, env: {}, retry: FAST, flushIntervalMs: 5, syncIntervalMs: 5, log: () => {} });
    const run = await tracker.startRun({ experiment: 'flaky-run' });
    for (let i = 0; i < 100; i++) run.logMetric('loss', i, i);
    const t0 = Date.now();
    while (!s.runs.get(run.id)?.metrics.length && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.runs.get(run.id)!.metrics.length, 100);
    s.down = true;
    for (let i = 100; i < 200; i++) run.logMetric('loss', i, i);
    await run.end('KILLED');
    assert.equal(s.runs.get(run.id)!.info.status, 'RUNNING');
    s.down = false;
    const r = await syncStore(tracker.localRoot, new MlflowClient({ uri: s.url, env: {}, retry: FAST }));
    assert.equal(r.synced[0]!.sent.metrics, 100);
    assert.deepEqual(s.runs.get(run.id)!.metrics.map((m) => m.value), Array.from({ length: 200 }, (_, i) => i));
    assert.equal(s.runs.get(run.id)!.info.status, 'KILLED');
    assert.equal(listExperiments(tracker.localRoot).length, 2);
  });
});
