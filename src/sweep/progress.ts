// What a terminal shows while a sweep runs: one line per trial (queued / running with its own
// progress / done with its main metric) and an overall ETA. On a TTY the block is redrawn in
// place; in a log file (CI, nohup before bed) each change is one appended line.
export type TrialState = 'queued' | 'skipped' | 'running' | 'done' | 'failed' | 'killed';

export interface TrialView {
  index: number;
  name: string;
  state: TrialState;
  /** The stage now running (`preprocess`, `train`…) and, if it said, how far it is. */
  stage?: string;
  waiting?: boolean;
  done?: number;
  total?: number;
  unit?: string;
  /** Training passes expected (from the trial's spec) and seen so far: progress restarts each epoch. */
  epochs?: number;
  epoch?: number;
  metric?: number;
  seconds?: number;
  startedAt?: number;
  error?: string;
  /** Why a trial that runs again does so: `resume` (interrupted) or `rerun` (failed). */
  note?: string;
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

export function fmtMetric(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

/** Fraction of a running trial done, from its training progress (the bulk of its time). */
export function fraction(t: TrialView): number | undefined {
  if (t.stage !== 'train' || !t.total || t.done === undefined) return undefined;
  const inEpoch = Math.min(1, Math.max(0, t.done / t.total));
  if (!t.epochs) return inEpoch;
  return Math.min(1, ((t.epoch ?? 0) + inEpoch) / t.epochs);
}

/**
 * Seconds until every trial has ended: the mean time of the trials that ended in this session
 * (or, before any has, what the running ones project from their progress) times the work left,
 * spread over the parallel jobs. Undefined while there is nothing to go on.
 */
export function estimateEta(trials: readonly TrialView[], jobs: number, now: number): number | undefined {
  const ended = trials.filter((t) => (t.state === 'done' || t.state === 'failed') && t.seconds !== undefined);
  const running = trials.filter((t) => t.state === 'running');
  const queued = trials.filter((t) => t.state === 'queued').length;
  if (running.length === 0 && queued === 0) return 0;
  const projected = running
    .map((t) => {
      const f = fraction(t);
      const elapsed = (now - (t.startedAt ?? now)) / 1000;
      return f !== undefined && f >= 0.05 ? elapsed / f : undefined;
    })
    .filter((x): x is number => x !== undefined);
  const sample = ended.length > 0 ? ended.map((t) => t.seconds!) : projected;
  if (sample.length === 0) return undefined;
  const per = sample.reduce((a, b) => a + b, 0) / sample.length;
  let left = queued * per;
  let longest = 0;
  for (const t of running) {
    const elapsed = (now - (t.startedAt ?? now)) / 1000;
    const f = fraction(t);
    const own = f !== undefined && f >= 0.05 ? elapsed / f : per;
    const rest = Math.max(0, own - elapsed);
    left += rest;
    longest = Math.max(longest, rest);
  }
  return Math.max(longest, left / Math.max(1, Math.min(jobs, running.length + queued)));
}

export function trialLine(t: TrialView, count: number, metricName: string, width: number, now: number): string {
  const idx = `[${String(t.index + 1).padStart(String(count).length)}/${count}]`;
  const name = t.name.padEnd(width);
  switch (t.state) {
    case 'queued':
      return `${idx} ${name}  queued${t.note ? ` (${t.note})` : ''}`;
    case 'skipped':
      return `${idx} ${name}  done     ${metricName}=${fmtMetric(t.metric)}  (finished earlier)`;
    case 'running': {
      const elapsed = fmtDuration((now - (t.startedAt ?? now)) / 1000);
      const frac = fraction(t) ?? (t.total ? (t.done ?? 0) / t.total : undefined);
      const ep = t.stage === 'train' && t.epochs && t.epochs > 1 ? ` epoch ${Math.min(t.epochs, (t.epoch ?? 0) + 1)}/${t.epochs}` : '';
      const f = t.total ? `${ep} ${t.done ?? 0}/${t.total} ${t.unit ?? ''} ${Math.floor((frac ?? 0) * 100)}%` : '';
      const stage = t.stage ? ` ${t.stage}${t.waiting ? ' (waiting for another trial computing it)' : ''}${f}` : ' starting';
      return `${idx} ${name}  running ${stage}  ${elapsed}${t.metric !== undefined ? `  ${metricName}=${fmtMetric(t.metric)}` : ''}`;
    }
    case 'done':
      return `${idx} ${name}  done     ${metricName}=${fmtMetric(t.metric)}  ${fmtDuration(t.seconds ?? 0)}`;
    case 'failed':
      return `${idx} ${name}  FAILED   ${firstLine(t.error)}  ${fmtDuration(t.seconds ?? 0)}`;
    case 'killed':
      return `${idx} ${name}  KILLED   ${fmtDuration(t.seconds ?? 0)}`;
  }
}

export function overallLine(trials: readonly TrialView[], jobs: number, started: number, now: number): string {
  const c = (s: TrialState) => trials.filter((t) => t.state === s).length;
  const done = c('done') + c('skipped');
  const eta = estimateEta(trials, jobs, now);
  const parts = [`${done}/${trials.length} done`];
  if (c('failed')) parts.push(`${c('failed')} failed`);
  if (c('killed')) parts.push(`${c('killed')} killed`);
  if (c('running')) parts.push(`${c('running')} running`);
  if (c('queued')) parts.push(`${c('queued')} queued`);
  return `sweep: ${parts.join(', ')} · elapsed ${fmtDuration((now - started) / 1000)} · ETA ${eta === undefined ? '?' : fmtDuration(eta)}`;
}

function firstLine(s: string | undefined): string {
  const line = (s ?? 'failed').split('\n').find((l) => l.trim()) ?? 'failed';
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
}

/** Renders trial views to a stream: in place on a TTY, as appended change lines otherwise. */
export class ProgressBoard {
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly lastLogged = new Map<number, string>();
  private readonly started = Date.now();

  constructor(
    private readonly trials: TrialView[],
    private readonly opts: { jobs: number; metric: string; out: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean; rows?: number }; tty?: boolean },
  ) {}

  private get tty(): boolean {
    return this.opts.tty ?? Boolean(this.opts.out.isTTY);
  }

  private get width(): number {
    return Math.min(40, Math.max(...this.trials.map((t) => t.name.length), 4));
  }

  start(): void {
    if (this.tty) {
      this.timer = setInterval(() => this.redraw(), 500);
      this.timer.unref();
      this.redraw();
    } else {
      for (const t of this.trials) this.logChange(t);
    }
  }

  /** Call after changing a trial view; `milestone` logs progress lines in non-TTY mode. */
  update(t: TrialView): void {
    if (this.tty) return; // the timer redraws
    this.logChange(t);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty) this.redraw();
    else this.opts.out.write(`${overallLine(this.trials, this.opts.jobs, this.started, Date.now())}\n`);
  }

  private logChange(t: TrialView): void {
    const now = Date.now();
    // In a log, a running trial gets a line when its stage changes and at every quarter of training.
    const f = fraction(t);
    const key = t.state === 'running' ? `running ${t.stage ?? ''} ${t.waiting ? 'w' : ''} ${f === undefined ? '' : Math.floor(f * 4)}` : t.state;
    if (this.lastLogged.get(t.index) === key) return;
    this.lastLogged.set(t.index, key);
    let line = trialLine(t, this.trials.length, this.opts.metric, this.width, now);
    if (t.state !== 'queued' && t.state !== 'skipped') line += `   | ${overallLine(this.trials, this.opts.jobs, this.started, now)}`;
    this.opts.out.write(`${line}\n`);
  }

  private redraw(): void {
    const now = Date.now();
    const rows = (this.opts.out as { rows?: number }).rows ?? 40;
    let shown = this.trials.map((t) => trialLine(t, this.trials.length, this.opts.metric, this.width, now));
    if (shown.length > rows - 2) {
      // Too many for the screen: keep running and ended ones, fold the queue into a count.
      const queued = this.trials.filter((t) => t.state === 'queued').length;
      shown = this.trials.filter((t) => t.state !== 'queued').map((t) => trialLine(t, this.trials.length, this.opts.metric, this.width, now));
      shown = shown.slice(-(rows - 3));
      if (queued) shown.push(`… ${queued} queued`);
    }
    shown.push(overallLine(this.trials, this.opts.jobs, this.started, now));
    let s = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
    for (const l of shown) s += `\x1b[2K${l}\n`;
    this.opts.out.write(s);
    this.drawn = shown.length;
  }
}
