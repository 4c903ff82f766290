// Progress for long loops: a redrawn bar with rate and ETA on a terminal, a plain line every few
// seconds in logs and CI, and (under a sweep) JSON events the parent renders in its own table.
import type { Progress } from './types.js';
import type { EventSink } from './events.js';

const BAR = 24;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface ProgressOptions {
  label: string;
  stream?: NodeJS.WriteStream;
  events?: EventSink;
  kind?: string;
  /** Seconds between plain lines when not on a terminal. */
  plainEvery?: number;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY) && !process.env.CI;
  let total = 0;
  let unit = 'it';
  let done = 0;
  let t0 = 0;
  let lastDraw = 0;
  let lastEvent = 0;
  let extraText = '';

  const line = () => {
    const el = (Date.now() - t0) / 1000;
    const rate = el > 0 ? done / el : 0;
    const eta = rate > 0 && total > 0 ? (total - done) / rate : Number.NaN;
    const pct = total > 0 ? Math.min(1, done / total) : 0;
    const bar = '█'.repeat(Math.round(pct * BAR)).padEnd(BAR, '░');
    const counts = total > 0 ? `${done}/${total}` : `${done}`;
    return `${opts.label} ${tty ? bar + ' ' : ''}${counts} ${unit} ${rate.toFixed(rate < 10 ? 1 : 0)} ${unit}/s ETA ${formatDuration(eta)}${extraText ? ` ${extraText}` : ''}`;
  };

  return {
    start(n, u) {
      total = n;
      unit = u;
      done = 0;
      t0 = Date.now();
      lastDraw = 0;
    },
    tick(n = 1, extra) {
      done += n;
      if (extra !== undefined) extraText = extra;
      const now = Date.now();
      if (opts.events && now - lastEvent > 500) {
        lastEvent = now;
        opts.events.emit({ type: 'progress', kind: opts.kind ?? opts.label, done, total, unit });
      }
      if (tty && now - lastDraw > 100) {
        lastDraw = now;
        stream.write(`\r\x1b[2K${line()}`);
      } else if (!tty && now - lastDraw > (opts.plainEvery ?? 5) * 1000) {
        lastDraw = now;
        stream.write(`${line()}\n`);
      }
    },
    done(summary) {
      opts.events?.emit({ type: 'progress', kind: opts.kind ?? opts.label, done, total, unit });
      const el = (Date.now() - t0) / 1000;
      const text = `${opts.label} ${done} ${unit} in ${formatDuration(el)} (${(el > 0 ? done / el : 0).toFixed(1)} ${unit}/s)${summary ? ` ${summary}` : ''}`;
      stream.write(tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
    },
  };
}
