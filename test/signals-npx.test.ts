// Signals to the pid a scheduler started: `npx ablate run|sweep` runs ablate through npm and its
// script shell, and a SIGINT/SIGTERM sent to npm's pid only (as `timeout`, SLURM, Kubernetes or
// `kill <pid>` send it, unlike a terminal's Ctrl-C, which signals the whole process group) must
// still stop the work cleanly: runs KILLED, the checkpoint written, nothing left running.
// With the repo's .npmrc (script-shell=bash, which execs ablate) and with dash as the script
// shell (bin/npm-wrapper.cjs watches it).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { listExperiments, listRuns, type RunRecord } from '../src/track/index.js';

const repo = join(import.meta.dirname, '..', '..');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(): { dir: string; spec: string; sweep: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-signal-'));
  dirs.push(dir);
  const spec = join(dir, 'tiny.yaml');
  // Far more epochs than the test waits for: the run can only end by the signal.
  writeFileSync(
    spec,
    `name: signal\nseed: 0\ndataset: { source: shapes, count: 48 }\npreprocess: { size: 16, crop: squish }\nmodel: { base: { arch: convnet, width: 4 } }\ntrain: { epochs: 100000, batchSize: 16 }\ntrack: { experiment: signal, uri: ${join(dir, 'runs')} }\ncache: { dir: ${join(dir, 'cache')} }\n`,
  );
  const sweep = join(dir, 'tiny.sweep.yaml');
  writeFileSync(sweep, 'name: signal-sweep\nbase: ./tiny.yaml\nseeds: [0, 1, 2]\n');
  return { dir, spec, sweep };
}

interface Ended {
  code: number | null;
  signal: string | null;
  out: string;
}

/** Starts `npx ablate …` in the repo, sends `sig` to npx's pid once training prints an epoch. */
function npxUntilTraining(args: string[], sig: NodeJS.Signals, env: NodeJS.ProcessEnv = {}): Promise<Ended> {
  const child: ChildProcess = spawn('npx', ['ablate', ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let sent = false;
  const kill = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const onData = (d: Buffer) => {
    out += d;
    if (!sent && /epoch \d+\/100000/.test(out)) {
      sent = true;
      child.kill(sig); // npx's pid only: not its process group
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, out });
    }),
  );
}

function runs(root: string): RunRecord[] {
  return existsSync(root) ? listExperiments(root).flatMap((e) => listRuns(root, e.experimentId, { history: false })) : [];
}

/** With dash in between, npm can return before ablate has finished stopping: wait for the store. */
async function settled(root: string, n: number): Promise<RunRecord[]> {
  for (let i = 0; i < 150; i++) {
    const rs = runs(root).filter((r) => r.tags['ablate.sweep.role'] !== 'parent');
    if (rs.length >= n && rs.every((r) => r.info.status !== 'RUNNING')) return rs;
    await new Promise((r) => setTimeout(r, 200));
  }
  return runs(root);
}

/** Work folders (`train/<key>/w<N>`, one per run) holding a checkpoint. */
function checkpoints(cache: string): string[] {
  const train = join(cache, 'train');
  const work = existsSync(train) ? readdirSync(train).flatMap((k) => (statSync(join(train, k)).isDirectory() ? readdirSync(join(train, k)).filter((w) => /^w\d+$/.test(w)).map((w) => join(train, k, w)) : [])) : [];
  return work.filter((w) => existsSync(join(w, 'checkpoint')));
}

describe('signals to the npx pid', { concurrency: true }, () => {
  it('SIGINT to `npx ablate run` marks the run KILLED and keeps its checkpoint', async () => {
    const { dir, spec } = setup();
    const r = await npxUntilTraining(['run', spec], 'SIGINT');
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /SIGINT: stopping/);
    const rs = await settled(join(dir, 'runs'), 1);
    assert.deepEqual(rs.map((x) => x.info.status), ['KILLED'], r.out);
    assert.equal(checkpoints(join(dir, 'cache')).length, 1, 'the interrupted run left a checkpoint to resume from');
  });

  it('SIGTERM to `npx ablate sweep` kills the running trial and launches no more', async () => {
    const { dir, sweep } = setup();
    const r = await npxUntilTraining(['sweep', sweep, '--jobs', '1'], 'SIGTERM');
    assert.equal(r.code, 130, r.out);
    assert.match(r.out, /SIGTERM: stopping/);
    assert.match(r.out, /2 not started/);
    const rs = await settled(join(dir, 'runs'), 1);
    assert.deepEqual(rs.map((x) => x.info.status), ['KILLED'], r.out);
  });

  it('with dash as the script shell, SIGINT and SIGTERM to npx still stop the run', async () => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const { dir, spec } = setup();
      const r = await npxUntilTraining(['run', spec], sig, { npm_config_script_shell: 'sh' });
      assert.notEqual(r.code, 0, r.out);
      const rs = await settled(join(dir, 'runs'), 1);
      assert.deepEqual(rs.map((x) => x.info.status), ['KILLED'], `${sig}: ${r.out}`);
      assert.equal(checkpoints(join(dir, 'cache')).length, 1, sig);
    }
  });
});
