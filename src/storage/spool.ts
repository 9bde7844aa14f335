/**
 * A durable on-disk spool for batches the store could not take (outage buffer).
 *
 * One file per batch, named by a sequence number so directory order is arrival order:
 * `<16-digit id>.spl` holding one frame `[u32 length][u32 crc32(payload)][payload]` (big endian).
 * A batch is written to `<id>.tmp`, fsync'd, renamed and the directory fsync'd, so a crash leaves
 * either a whole batch or a `.tmp` that the next open deletes. The length and CRC are still checked
 * on every read: a torn or corrupt file (lost power, a disk lying about fsync) is discarded with a
 * log line, never replayed as garbage. A batch is acked (deleted) once the store has it, so acks
 * may come out of order (several batches in flight). Size is capped: an append beyond `maxBytes`
 * is refused and the caller counts it as `spool_full`.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { readFile, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const HEADER = 8;
const ID_WIDTH = 16;
/** Fresh spools start numbering here so batches can also be put in front of the oldest. */
const FIRST_ID = 1_000_000_000_000;

export interface SpoolOptions {
  dir: string;
  /** Cap on the bytes of all spooled batches (config `spoolMaxBytes`). */
  maxBytes: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export interface SpoolEntry {
  id: number;
  payload: Buffer;
}

/** Encode one frame. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

/** Decode one frame; undefined when torn or corrupt. */
export function decodeFrame(buf: Buffer): Buffer | undefined {
  if (buf.length < HEADER) return undefined;
  const len = buf.readUInt32BE(0);
  if (buf.length !== HEADER + len) return undefined;
  const payload = buf.subarray(HEADER);
  return crc32(payload) === buf.readUInt32BE(4) ? payload : undefined;
}

export class Spool {
  /** ids on disk and not yet acked, oldest first; `taken` marks those handed out. */
  private ids: number[] = [];
  private sizes = new Map<number, number>();
  private taken = new Set<number>();
  private nextId = FIRST_ID;
  private totalBytes = 0;
  /** Batches discarded as torn/corrupt since open. */
  discarded = 0;

  private constructor(private readonly opts: SpoolOptions) {}

  /** Open (creating) the spool directory; leftovers of a crash are cleaned up. */
  static open(opts: SpoolOptions): Spool {
    const s = new Spool(opts);
    mkdirSync(opts.dir, { recursive: true });
    for (const name of readdirSync(opts.dir)) {
      const p = join(opts.dir, name);
      if (name.endsWith('.tmp')) {
        unlinkSync(p);
        s.discarded++;
        opts.log?.('warn', 'spool: discarded a batch torn by a crash', { file: p });
        continue;
      }
      const m = /^(\d+)\.spl$/.exec(name);
      if (!m) continue;
      const id = Number(m[1]);
      const size = statSync(p).size;
      s.ids.push(id);
      s.sizes.set(id, size);
      s.totalBytes += size;
    }
    s.ids.sort((a, b) => a - b);
    if (s.ids.length) s.nextId = s.ids[s.ids.length - 1]! + 1;
    return s;
  }

  get bytes(): number {
    return this.totalBytes;
  }
  /** Batches on disk not yet acked (including ones handed out). */
  get count(): number {
    return this.ids.length;
  }
  /** Batches not handed out yet. */
  get available(): number {
    return this.ids.length - this.taken.size;
  }

  private path(id: number, ext = 'spl'): string {
    return join(this.opts.dir, `${String(id).padStart(ID_WIDTH, '0')}.${ext}`);
  }

  /**
   * Append a batch durably (after the newest, or before the oldest with `front`). Resolves false
   * when the spool is full (nothing written).
   */
  async append(payload: Uint8Array, front = false): Promise<boolean> {
    const frame = encodeFrame(payload);
    if (this.totalBytes + frame.length > this.opts.maxBytes) return false;
    const id = front ? (this.ids[0] ?? this.nextId) - 1 : this.nextId++;
    if (front && this.ids.length === 0) this.nextId = id + 2;
    const tmp = this.path(id, 'tmp');
    // Reserve the bytes before the first await so concurrent appends respect the cap.
    this.totalBytes += frame.length;
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.write(frame);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path(id));
      this.syncDir();
    } catch (e) {
      this.totalBytes -= frame.length;
      throw e;
    }
    this.sizes.set(id, frame.length);
    if (front) this.ids.unshift(id);
    else {
      // Appends may finish out of order; keep ids sorted.
      let i = this.ids.length;
      while (i > 0 && this.ids[i - 1]! > id) i--;
      this.ids.splice(i, 0, id);
    }
    return true;
  }

  private syncDir(): void {
    try {
      const fd = openSync(this.opts.dir, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // Some filesystems cannot fsync a directory; the rename is still atomic.
    }
  }

  /** The oldest batch not handed out yet, or undefined. Corrupt files are discarded and skipped. */
  async take(): Promise<SpoolEntry | undefined> {
    for (;;) {
      const id = this.ids.find((x) => !this.taken.has(x));
      if (id === undefined) return undefined;
      this.taken.add(id);
      let buf: Buffer;
      try {
        buf = await readFile(this.path(id));
      } catch {
        buf = Buffer.alloc(0);
      }
      const payload = decodeFrame(buf);
      if (payload) return { id, payload };
      this.discarded++;
      this.opts.log?.('error', 'spool: discarded a torn or corrupt batch', { file: this.path(id), bytes: buf.length });
      await this.ack(id);
    }
  }

  /** Give a taken batch back (it will be handed out again, in order). */
  release(id: number): void {
    this.taken.delete(id);
  }

  /** The batch is stored: delete it. */
  async ack(id: number): Promise<void> {
    const i = this.ids.indexOf(id);
    if (i >= 0) this.ids.splice(i, 1);
    this.taken.delete(id);
    this.totalBytes -= this.sizes.get(id) ?? 0;
    this.sizes.delete(id);
    await unlink(this.path(id)).catch(() => {});
  }
}
