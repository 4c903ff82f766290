// A local process pool: trials run as child processes, N at a time, each reporting JSON events on
// file descriptor 3. The pool knows nothing of specs or stores; it runs commands, forwards their
// events and turns every way a child can end into one outcome value.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import type { RunEvent } from '../pipeline/events.js';

export interface TrialCommand {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr of the child go here (appended), so a failure can be read in full later. */
  logFile?: string;
}

export type EndStatus = 'FINISHED' | 'FAILED' | 'KILLED';

export interface TrialOutcome {
  status: EndStatus;
  error?: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Whether the child said how it ended (an `end` event); if not, its run may still be open. */
  reported: boolean;
  runId?: string;
  experimentId?: string;
  seconds: number;
}

export interface PoolTask {
  id: number;
  command: TrialCommand;
}

export interface PoolHooks {
  onStart?(task: PoolTask, pid: number): void;
  onEvent?(task: PoolTask, event: RunEvent): void;
  onEnd?(task: PoolTask, outcome: TrialOutcome): void | Promise<void>;
}

export interface PoolOptions extends PoolHooks {
  jobs: number;
  /** Stop launching after the first failure (running trials finish). */
  failFast?: boolean;
  /** How long a child has to end its run after SIGINT before it is killed. */
  graceMs?: number;
}

const TAIL_LINES = 20;

export class ProcessPool {
  private readonly running = new Map<number, { child: ChildProcess; task: PoolTask }>();
  private stopping = false;
  private forced = false;
  private failed = false;
  private killTimers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: PoolOptions) {}

  get isStopping(): boolean {
    return this.stopping;
  }

  /**
   * First call: launch nothing more and ask each child to stop (SIGINT: it marks its run KILLED),
   * killing those that have not ended after the grace period. Second call: kill them now.
   */
  stop(): void {
    if (this.stopping) {
      this.forced = true;
      for (const { child } of this.running.values()) killGroup(child, 'SIGKILL');
      return;
    }
    this.stopping = true;
    for (const { child } of this.running.values()) child.kill('SIGINT');
    const t = setTimeout(() => {
      for (const { child } of this.running.values()) killGroup(child, 'SIGKILL');
    }, this.opts.graceMs ?? 15_000);
    t.unref();
    this.killTimers.push(t);
  }

  async run(tasks: readonly PoolTask[]): Promise<Map<number, TrialOutcome>> {
    const outcomes = new Map<number, TrialOutcome>();
    const queue = [...tasks];
    const jobs = Math.max(1, this.opts.jobs);
    await new Promise<void>((resolveAll) => {
      const next = () => {
        while (!this.stopping && !(this.failed && this.opts.failFast) && this.running.size < jobs && queue.length > 0) {
          const task = queue.shift()!;
          this.launch(task).then(async (outcome) => {
            outcomes.set(task.id, outcome);
            if (outcome.status === 'FAILED') this.failed = true;
            try {
              await this.opts.onEnd?.(task, outcome);
            } finally {
              this.running.delete(task.id);
              next();
            }
          });
        }
        if (this.running.size === 0 && (queue.length === 0 || this.stopping || (this.failed && this.opts.failFast))) resolveAll();
      };
      next();
    });
    for (const t of this.killTimers) clearTimeout(t);
    return outcomes;
  }

  private launch(task: PoolTask): Promise<TrialOutcome> {
    const started = Date.now();
    const { command, args, env, cwd, logFile } = task.command;
    let log: WriteStream | undefined;
    if (logFile) {
      mkdirSync(dirname(logFile), { recursive: true });
      log = createWriteStream(logFile, { flags: 'a' });
    }
    // Own process group: a terminal's Ctrl-C reaches only the sweep, which then stops each child
    // exactly once (a second SIGINT would make a child skip its cleanup).
    const child = spawn(command, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], detached: true });
    this.running.set(task.id, { child, task });
    const tail: string[] = [];
    let end: Extract<RunEvent, { type: 'end' }> | undefined;
    let runInfo: Extract<RunEvent, { type: 'run' }> | undefined;
    const keepTail = (chunk: Buffer) => {
      log?.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) tail.push(line);
      if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
    };
    child.stdout?.on('data', keepTail);
    child.stderr?.on('data', keepTail);
    lines(child.stdio[3] as Readable | null, (line) => {
      let e: RunEvent;
      try {
        e = JSON.parse(line) as RunEvent;
      } catch {
        return; // not an event: ignore rather than fail a trial over its chatter
      }
      if (e.type === 'end') end = e;
      if (e.type === 'run') runInfo = e;
      this.opts.onEvent?.(task, e);
    });
    if (child.pid !== undefined) this.opts.onStart?.(task, child.pid);
    return new Promise((resolve) => {
      let settled = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
        if (settled) return;
        settled = true;
        log?.end();
        const seconds = (Date.now() - started) / 1000;
        const base = { exitCode: code, signal, seconds, ...(runInfo ? { runId: runInfo.runId, experimentId: runInfo.experimentId } : {}) };
        if (spawnError) return resolve({ ...base, status: 'FAILED', reported: false, error: `could not start: ${spawnError.message}` });
        if (end) return resolve({ ...base, status: end.status, reported: true, ...(end.error ? { error: end.error } : {}) });
        const why = tail.slice(-5).join('\n');
        if (code === 0) return resolve({ ...base, status: 'FINISHED', reported: false });
        if (this.stopping || this.forced) return resolve({ ...base, status: 'KILLED', reported: false, error: signal ? `stopped (${signal})` : `stopped (exit ${code})` });
        const how = signal ? `killed by ${signal}${signal === 'SIGKILL' ? ' (out of memory?)' : ''}` : `exited with code ${code}`;
        resolve({ ...base, status: 'FAILED', reported: false, error: why ? `${how}: ${why}` : how });
      };
      child.on('error', (e) => finish(null, null, e));
      child.on('close', (code, signal) => finish(code, signal));
    });
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

function lines(stream: Readable | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) onLine(line);
      nl = buf.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (buf.trim()) onLine(buf.trim());
  });
}
