// Nothing lost on the way out: Ctrl-C or SIGTERM ends every open run as KILLED, an uncaught error
// as FAILED (with the error as tag and artifact), and a plain exit without end() still appends the
// buffered metrics and closes the run. What needs the network is left to `ablate sync`.
import type { TrackedRun } from './tracker.js';
import type { EndStatus } from './types.js';

export interface LifecycleOptions {
  /** Exit after ending the runs on a signal (130 for SIGINT, 143 for SIGTERM). Default true. */
  exitOnSignal?: boolean;
  /** Called first on SIGINT/SIGTERM (e.g. to abort the stages). */
  onSignal?: (signal: NodeJS.Signals) => void;
}

// `ending`: the status a run is already ending with. A signal that lands while a finished run
// writes its last files must not turn FINISHED into KILLED (the work is done; a sweep would
// otherwise report the trial finished and then rerun it).
const open = new Map<TrackedRun, LifecycleOptions & { ending?: EndStatus }>();
let installed = false;
let stopping = false;

const onSignal = (signal: NodeJS.Signals) => {
  // A second Ctrl-C while uploading leaves at once: the local store is already complete.
  if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
  stopping = true;
  const runs = [...open.entries()];
  for (const [, o] of runs) o.onSignal?.(signal);
  for (const [run, o] of runs) run.endSync(o.ending ?? 'KILLED');
  const exit = runs.length === 0 || runs.some(([, o]) => o.exitOnSignal !== false);
  void Promise.allSettled(runs.map(([run, o]) => run.end(o.ending ?? 'KILLED'))).then(() => {
    stopping = false;
    if (exit) process.exit(signal === 'SIGINT' ? 130 : 143);
  });
};

const onFatal = (error: unknown) => {
  for (const run of open.keys()) run.endSync('FAILED', error);
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  const runs = [...open.keys()];
  void Promise.allSettled(runs.map((r) => r.end('FAILED', error))).then(() => process.exit(1));
};

const onExit = (code: number) => {
  for (const run of open.keys()) run.endSync(code === 0 ? 'FINISHED' : 'FAILED', code === 0 ? undefined : `process exited with code ${code}`);
};

/**
 * Registers `run` for the process handlers; `dispose()` unregisters it (end() does not need it).
 * Call `ending(status)` when the run starts ending so that a signal from then on ends it so.
 */
export function installLifecycle(run: TrackedRun, opts: LifecycleOptions = {}): { dispose(): void; ending(status: EndStatus): void } {
  // Runs that ended normally no longer need the handlers.
  for (const r of open.keys()) if (r.status !== 'RUNNING') open.delete(r);
  const entry: LifecycleOptions & { ending?: EndStatus } = { ...opts };
  open.set(run, entry);
  if (!installed) {
    installed = true;
    for (const [event, handler] of handlers()) process.on(event, handler);
  }
  return {
    dispose: () => uninstall(run),
    ending: (status) => {
      entry.ending = status;
    },
  };
}

function uninstall(run: TrackedRun): void {
  open.delete(run);
  if (open.size === 0 && installed && !stopping) {
    installed = false;
    for (const [event, handler] of handlers()) process.off(event, handler);
  }
}

const handlers = (): [string, Parameters<typeof process.on>[1]][] => [
  ['SIGINT', onSignal],
  ['SIGTERM', onSignal],
  ['uncaughtException', onFatal],
  ['unhandledRejection', onFatal],
  ['exit', onExit],
];
