// File primitives that keep the store readable whatever moment the process dies at.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Writes through a temp file and a rename, so a reader sees the old or the new content, never half.
 * The temp file lives in `tmpDir` (the run folder) rather than beside the target: a leftover in
 * `tags/` would be read by MLflow as a tag.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, tmpDir = dirname(path)): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(tmpDir, `.ablate-tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

// Linux checks for a fatal signal between the pages of a write(), so SIGKILL can cut a write at
// a 4 KiB file-offset boundary but not inside a page. Keeping every line inside one page (the line
// before a boundary is padded with spaces, which MLflow's strip() and our reader drop) makes every
// cut fall between lines. Lines are at most ~60 bytes (13-digit time, 24-char double, step).
export const PAGE = 4096;
export const MAX_LINE = 64;

/**
 * Appends whole lines to one file; each call is one write(). The file is born with its first lines
 * (temp file + rename): MLflow fails a whole run on an empty metric file, which a kill between
 * open() and write() would otherwise leave.
 */
export class LineAppender {
  private fd: number | undefined;
  private offset = 0;

  constructor(
    readonly path: string,
    private readonly tmpDir = dirname(path),
  ) {
    if (existsSync(path)) this.open();
  }

  private open(): void {
    this.fd = openSync(this.path, 'a');
    this.offset = fstatSync(this.fd).size;
  }

  append(lines: readonly string[]): void {
    if (lines.length === 0) return;
    let text = '';
    let at = this.offset;
    for (const line of lines) {
      let s = line;
      const end = at + s.length + 1;
      const rest = PAGE - (end % PAGE);
      if (rest !== PAGE && rest < MAX_LINE) s += ' '.repeat(rest);
      s += '\n';
      text += s;
      at += s.length;
    }
    const buf = Buffer.from(text, 'utf8');
    if (this.fd === undefined) {
      writeFileAtomic(this.path, buf, this.tmpDir);
      this.open();
      return;
    }
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done);
    this.offset += buf.length;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
