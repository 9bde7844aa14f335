/**
 * Chunk -> line buffering for OANDA's newline-delimited JSON stream. Chunk boundaries are unrelated
 * to line boundaries (venues.md §2.1, §2.5): a chunk may end anywhere, inside a JSON string, inside
 * a multi-byte UTF-8 character or just before the '\n'. Splitting works on bytes: 0x0A never occurs
 * inside a multi-byte UTF-8 sequence, so each complete line decodes on its own.
 *
 * Memory stays bounded: a line growing past `maxLineBytes` is dropped (its bytes are discarded up
 * to the next '\n') and reported once as an oversize item.
 */

/** Default cap on one line: a PRICE line is ~300-600 bytes; many buckets stay far below this. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

/**
 * A line the splitter dropped, encoded as a frame text so it travels through the connector's
 * `Frame` contract to the session, which reports it as a `line_too_long` error. A NUL byte never
 * begins a JSON text, so no venue line can be mistaken for it.
 */
export const OVERSIZE_MARKER = '\u0000oversize:';

export type LineItem = { line: string } | { oversize: { bytes: number; sample: string } };

export interface LineSplitter {
  /** Feed one chunk; returns the complete lines (and dropped oversize lines) it finished, in order. */
  push(chunk: Uint8Array | string): LineItem[];
  /** Bytes held for an unfinished line. */
  readonly pendingBytes: number;
  /** Forget any partial line (connection closed). Returns how many bytes were discarded. */
  reset(): number;
}

const NL = 0x0a;

export function createLineSplitter(maxLineBytes = DEFAULT_MAX_LINE_BYTES): LineSplitter {
  let parts: Buffer[] = [];
  let pending = 0;
  /** Inside an oversize line: discard until the next '\n'. */
  let dropping: { bytes: number; sample: string } | null = null;

  const emit = (out: LineItem[], buf: Buffer) => {
    let end = buf.length;
    if (end > 0 && buf[end - 1] === 0x0d) end--; // tolerate CRLF
    // Skip empty and whitespace-only lines (keep-alive newlines) without decoding them.
    let start = 0;
    while (start < end && (buf[start] === 0x20 || buf[start] === 0x09)) start++;
    if (start === end) return;
    out.push({ line: buf.toString('utf8', 0, end) });
  };

  return {
    get pendingBytes() {
      return pending;
    },
    reset() {
      const n = pending + (dropping?.bytes ?? 0);
      parts = [];
      pending = 0;
      dropping = null;
      return n;
    },
    push(chunk) {
      const buf =
        typeof chunk === 'string'
          ? Buffer.from(chunk, 'utf8')
          : Buffer.isBuffer(chunk)
            ? chunk
            : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const out: LineItem[] = [];
      let pos = 0;
      while (pos < buf.length) {
        const nl = buf.indexOf(NL, pos);
        const end = nl === -1 ? buf.length : nl;
        if (dropping) {
          dropping.bytes += end - pos;
          if (nl !== -1) {
            out.push({ oversize: dropping });
            dropping = null;
          }
        } else if (pending + (end - pos) > maxLineBytes) {
          const head = parts.length ? Buffer.concat(parts) : buf.subarray(pos, end);
          dropping = { bytes: pending + (end - pos), sample: head.toString('utf8', 0, Math.min(head.length, 200)) };
          parts = [];
          pending = 0;
          if (nl !== -1) {
            out.push({ oversize: dropping });
            dropping = null;
          }
        } else if (nl === -1) {
          // Copy: the caller may reuse its chunk buffer.
          parts.push(Buffer.from(buf.subarray(pos, end)));
          pending += end - pos;
        } else if (parts.length) {
          parts.push(buf.subarray(pos, end));
          emit(out, Buffer.concat(parts));
          parts = [];
          pending = 0;
        } else {
          emit(out, buf.subarray(pos, end));
        }
        pos = end + 1;
      }
      return out;
    },
  };
}

/** Encode a dropped oversize line as frame text for the session (see {@link OVERSIZE_MARKER}). */
export function oversizeFrameText(o: { bytes: number; sample: string }): string {
  return `${OVERSIZE_MARKER}${o.bytes}:${o.sample}`;
}
