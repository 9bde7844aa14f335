/**
 * Recording raw venue frames with their receive times: gzip-compressed JSON Lines
 * (`{"recv_us":..., "text":"..."}` per line) under a directory, rotated by size, read back by
 * `loadRecording` (recording.ts) and `nbpy replay`.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createGzip, type Gzip } from 'node:zlib';
import type { Frame, Transport, TransportConnection } from './connector.js';

export interface RecorderOptions {
  dir: string;
  /** File name prefix (the publisher name). */
  prefix: string;
  /** Start a new file after this many uncompressed bytes. */
  maxFileBytes?: number;
}

export class FrameRecorder {
  private gz: Gzip | undefined;
  private out: WriteStream | undefined;
  private written = 0;
  private readonly maxFileBytes: number;
  files: string[] = [];
  private closing: Promise<void>[] = [];

  constructor(private readonly opts: RecorderOptions) {
    this.maxFileBytes = opts.maxFileBytes ?? 256 * 1024 * 1024;
    mkdirSync(opts.dir, { recursive: true });
  }

  private open(): void {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = join(this.opts.dir, `${this.opts.prefix}-${stamp}-${String(this.files.length).padStart(4, '0')}.jsonl.gz`);
    this.out = createWriteStream(file);
    this.gz = createGzip();
    this.gz.pipe(this.out);
    this.written = 0;
    this.files.push(file);
  }

  write(frame: Frame): void {
    if (!this.gz || this.written >= this.maxFileBytes) this.rotate();
    const line = `${JSON.stringify({ recv_us: frame.receivedAtUs, text: frame.text })}\n`;
    this.written += line.length;
    this.gz!.write(line);
  }

  private rotate(): void {
    this.finish();
    this.open();
  }

  /** End the current file; its completion is awaited by close(). */
  private finish(): void {
    const gz = this.gz;
    const out = this.out;
    this.gz = undefined;
    this.out = undefined;
    if (gz && out)
      this.closing.push(
        new Promise<void>((r) => {
          out.once('close', () => r());
          gz.end();
        }),
      );
  }

  async close(): Promise<void> {
    this.finish();
    await Promise.all(this.closing);
    this.closing = [];
  }
}

/** A transport whose frames are also written to a recorder. */
export function recordingTransport(inner: Transport, recorder: FrameRecorder): Transport {
  return {
    target: inner.target,
    async connect(signal: AbortSignal): Promise<TransportConnection> {
      const conn = await inner.connect(signal);
      async function* tee(): AsyncGenerator<Frame> {
        for await (const f of conn.frames) {
          recorder.write(f);
          yield f;
        }
      }
      return { frames: tee(), send: (t) => conn.send(t), close: () => conn.close() };
    },
  };
}
