/**
 * A size-capped, rotating, synchronous file writer: the destination of `createLogger` and of the supervisor's
 * capture of a child's stdout/stderr. Synchronous so the last lines before a crash or `process.exit` are on disk.
 *
 * Files: `<file>` is active; `<file>.1` is the newest rotated, up to `<file>.<maxFiles-1>`.
 * Caps:
 * - one file never exceeds `maxFileBytes` (a write that fits in one file is never split; a longer one is split
 *   at file boundaries);
 * - at most `maxFiles` files per stream, the active one included;
 * - at each rotation, the oldest rotated `*.log.N` files of the whole directory are deleted until the directory's
 *   log files plus a full active file fit in `maxTotalBytes`. With one writer per directory the total therefore
 *   never exceeds `maxTotalBytes`; with several writers it can overshoot by at most the other active files' growth
 *   since their last rotation.
 * An existing non-empty file is rotated on open, so every run starts a fresh file.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface RotatingFileOptions {
  /** Path of the active file, e.g. `logs/kraken_tick.log`. */
  file: string;
  maxFileBytes: number;
  /** Files kept for this stream, the active one included (>= 1). */
  maxFiles: number;
  /** Cap over every `*.log` / `*.log.N` file in the file's directory. Default: maxFileBytes * maxFiles. */
  maxTotalBytes?: number;
  /** Rotate an existing non-empty file when opening (default true). */
  rotateOnOpen?: boolean;
}

const ROTATED = /\.log\.(\d+)$/;

export class RotatingFileWriter {
  readonly file: string;
  private readonly maxFileBytes: number;
  private readonly maxFiles: number;
  private readonly maxTotalBytes: number;
  private fd: number | null = null;
  private size = 0;

  constructor(options: RotatingFileOptions) {
    if (!(options.maxFileBytes > 0) || !(options.maxFiles >= 1)) throw new RangeError('rotating file: maxFileBytes > 0 and maxFiles >= 1');
    this.file = options.file;
    this.maxFileBytes = options.maxFileBytes;
    this.maxFiles = Math.floor(options.maxFiles);
    this.maxTotalBytes = Math.max(options.maxTotalBytes ?? options.maxFileBytes * options.maxFiles, options.maxFileBytes);
    mkdirSync(dirname(this.file), { recursive: true });
    this.open();
    if (this.size > 0 && options.rotateOnOpen !== false) this.rotate();
    else this.enforceTotal();
  }

  /** Append a chunk (pino calls this with one JSON line). Never throws for a full disk: the chunk is dropped. */
  write(chunk: string | Uint8Array): boolean {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (buf.length === 0) return true;
    if (buf.length > this.maxFileBytes) {
      // Longer than a whole file (a pipe chunk of captured output): split at file boundaries; only the tail
      // that fits in maxFiles files can survive anyway.
      const keep = this.maxFileBytes * this.maxFiles;
      if (buf.length > keep) buf = buf.subarray(buf.length - keep);
      let ok = true;
      while (buf.length > 0) {
        if (this.size >= this.maxFileBytes) this.rotate();
        const space = this.maxFileBytes - this.size;
        ok = this.append(buf.subarray(0, space)) && ok;
        buf = buf.subarray(space);
      }
      return ok;
    }
    // A chunk that fits goes whole into one file, so JSON lines are never split across files.
    if (this.size + buf.length > this.maxFileBytes && this.size > 0) this.rotate();
    return this.append(buf);
  }

  private append(buf: Buffer): boolean {
    try {
      if (this.fd === null) this.open();
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd as number, buf, off, buf.length - off);
      this.size += buf.length;
      return true;
    } catch {
      return false;
    }
  }

  /** pino's destination contract also calls flushSync on fatal paths; writes are already synchronous. */
  flushSync(): void {}

  /** Close the active file; a later write reopens it. */
  end(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  private open(): void {
    this.fd = openSync(this.file, 'a');
    this.size = fstatSync(this.fd).size;
  }

  private rotate(): void {
    this.end();
    for (let i = this.maxFiles - 1; i >= 1; i--) {
      const from = i === 1 ? this.file : `${this.file}.${i - 1}`;
      const to = `${this.file}.${i}`;
      try {
        if (i === this.maxFiles - 1) unlinkQuiet(to);
        renameSync(from, to);
      } catch {
        // missing intermediate file: nothing to move
      }
    }
    if (this.maxFiles === 1) unlinkQuiet(this.file);
    this.open();
    this.enforceTotal();
  }

  private enforceTotal(): void {
    const dir = dirname(this.file);
    const self = basename(this.file);
    const files: { path: string; size: number; mtimeMs: number; rotated: boolean; index: number }[] = [];
    try {
      for (const name of readdirSync(dir)) {
        const m = ROTATED.exec(name);
        if (!m && !name.endsWith('.log')) continue;
        try {
          const st = statSync(join(dir, name));
          if (!st.isFile()) continue;
          const mine = name === self || name.startsWith(`${self}.`);
          const index = m ? Number(m[1]) : 0;
          // Numbered files beyond maxFiles, left by a run with a larger maxFiles.
          if (mine && index >= this.maxFiles) {
            unlinkQuiet(join(dir, name));
            continue;
          }
          files.push({ path: join(dir, name), size: st.size, mtimeMs: st.mtimeMs, rotated: Boolean(m), index });
        } catch {
          // vanished between readdir and stat (another writer rotated it)
        }
      }
    } catch {
      return;
    }
    const active = files.find((f) => f.path === this.file);
    // Room for this file to grow to a full file.
    let total = files.reduce((s, f) => s + f.size, 0) - (active?.size ?? 0) + this.maxFileBytes;
    const victims = files.filter((f) => f.rotated).sort((a, b) => a.mtimeMs - b.mtimeMs || b.index - a.index);
    for (const v of victims) {
      if (total <= this.maxTotalBytes) break;
      unlinkQuiet(v.path);
      total -= v.size;
    }
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Total bytes of the `*.log` / `*.log.N` files in a directory (for status pages and tests). */
export function logDirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.log') && !ROTATED.test(name)) continue;
    try {
      total += statSync(join(dir, name)).size;
    } catch {
      // vanished
    }
  }
  return total;
}
