// bench:queue — what the queue launcher adds to each trial, measured on this machine with a real
// redis-server and one `ablate worker` (the fake trial of the tests as its child, so the trial's own
// work is a few sleeps and the numbers are the queue's): per trial, enqueue → child started
// (Redis, BullMQ's pick-up, the worker's store check) and child ended → the controller has it
// (the job completed in Redis, the controller's next poll). The worker runs every trial at once
// (concurrency = trials), so no trial waits behind another. (The local launcher has neither:
// its pool spawns the child at once and reads its end from the child's own exit.)
// BENCH_QUEUE_TRIALS (default 6), BENCH_ROUNDS (default 3). BENCH_QUEUE_TRACK=mlflow: the trials
// track to an MLflow server (the tests' stand-in, in this process) and the worker keeps its own
// mirror, so each delivery's decision is a search on the server. Last line: one JSON object.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { buildSweep } from '../src/sweep/build.js';
import type { LaunchHooks, LaunchItem, Launcher } from '../src/sweep/launcher.js';
import { QueueLauncher, redisConnection, sweepJobs } from '../src/sweep/queue.js';
import { runSweep } from '../src/sweep/run.js';
import { RedisServer } from '../test/fixtures/redis.js';
import { type FakeMlflow, startFakeMlflow } from '../test/fixtures/track-mlflow-server.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const SWEEP = join(fixtures, 'sweep-basic', 'grid.sweep.yaml');
const TRIALS = Number(process.env.BENCH_QUEUE_TRIALS ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FAKE = { FAKE_STEPS: '5', FAKE_STEP_MS: '20' };
const TRACK = process.env.BENCH_QUEUE_TRACK ?? 'folder';
if (TRACK !== 'folder' && TRACK !== 'mlflow') throw new Error(`BENCH_QUEUE_TRACK: folder or mlflow, got ${TRACK}`);
const log = (s: string) => process.stderr.write(`${s}\n`);
const quiet = { write: () => true };

/** Wraps a launcher's hooks to time each trial's start and end as the sweep sees them. */
function timed(inner: Launcher, seen: Map<number, { start?: number; end?: number }>): Launcher {
  const at = (i: number) => seen.get(i) ?? seen.set(i, {}).get(i)!;
  return {
    kind: inner.kind,
    where: inner.where,
    slots: inner.slots,
    waitsForOrphans: inner.waitsForOrphans,
    get isStopping() {
      return inner.isStopping;
    },
    stop: () => inner.stop(),
    stopMessage: (s) => inner.stopMessage(s),
    run: (items: readonly LaunchItem[], hooks: LaunchHooks, detach?: boolean) =>
      inner.run(
        items,
        {
          ...hooks,
          onStart: (i) => {
            at(i).start = Date.now();
            hooks.onStart(i);
          },
          onEnd: (i, o) => {
            at(i).end = Date.now();
            return hooks.onEnd(i, o);
          },
        },
        detach,
      ),
  };
}

const seeds = Array.from({ length: TRIALS }, (_, i) => i).join(',');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function queueRound(redis: RedisServer, round: number, server: FakeMlflow | undefined): Promise<{ pickup: number[]; record: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-bench-queue-'));
  const name = `bench-${round}`;
  // With a server, the controller and the worker each mirror into their own folder.
  if (server) process.env.ABLATE_MIRROR = join(dir, 'controller-runs');
  const worker: ChildProcess = spawn(process.execPath, [join(fixtures, 'queue-worker-driver.mjs'), redis.url, name], {
    env: { ...process.env, ...FAKE, WORKER_CONCURRENCY: String(TRIALS), WORKER_LEASE_MS: '30000', ...(server ? { ABLATE_MIRROR: join(dir, 'worker-runs') } : {}) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  worker.stderr!.on('data', (d) => {
    err += d;
  });
  while (!/taking trials/.test(err)) await sleep(20);
  const seen = new Map<number, { start?: number; end?: number }>();
  const launcher = await QueueLauncher.open({ url: redis.url, queue: name, out: quiet });
  try {
    const sweep = buildSweep(SWEEP, [`track.uri=${server ? server.url : join(dir, 'runs')}`, `cache.dir=${join(dir, 'cache')}`, 'preprocess.crop=border', `seed=${seeds}`]);
    const r = await runSweep(sweep, { launcher: timed(launcher, seen), out: quiet, handleSignals: false, tty: false });
    if (r.status !== 'FINISHED') throw new Error(`queue sweep ${r.status}: ${err}`);
    const conn = redisConnection(redis.url, log);
    const q = new Queue(name, { connection: conn });
    const jobs = await sweepJobs(q, sweep.id);
    await q.close();
    conn.disconnect();
    return {
      pickup: jobs.map(({ job }) => job.returnvalue!.childStart - job.timestamp),
      record: jobs.map(({ job }) => seen.get(job.data.index)!.end! - job.returnvalue!.childEnd),
    };
  } finally {
    await launcher.close();
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
  }
}

const redis = await RedisServer.start();
const server = TRACK === 'mlflow' ? await startFakeMlflow() : undefined;
try {
  const pickup: number[] = [];
  const record: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const r = await queueRound(redis, round, server);
    log(`round ${round}: enqueue → child start ${r.pickup.map((x) => `${x} ms`).join(', ')}; child end → controller ${r.record.map((x) => `${x} ms`).join(', ')}`);
    pickup.push(...r.pickup);
    record.push(...r.record);
  }
  console.log(
    JSON.stringify({
      track: TRACK,
      trials_per_round: TRIALS,
      rounds: ROUNDS,
      enqueue_to_start_ms: { median: median(pickup), max: Math.max(...pickup) },
      end_to_recorded_ms: { median: median(record), max: Math.max(...record) },
      controller_poll_ms: 250,
    }),
  );
} finally {
  await redis.down();
  await server?.close();
}
