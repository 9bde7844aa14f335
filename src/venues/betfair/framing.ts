/**
 * Betfair ESA framing: each message is one compact JSON object terminated by `\r\n`
 * (venues.md §3.1). A socket read can hold part of a message or several; this splits a byte
 * stream into message texts, whatever the chunk boundaries (including inside a multi-byte UTF-8
 * character or between `\r` and `\n`).
 *
 * We split on `\n` and drop one trailing `\r`: JSON never carries a raw newline inside a string,
 * so this is the same split for well-formed input and also tolerates a bare-LF peer.
 * Memory is bounded by `maxMessageBytes`: a message that grows past it is reported once and
 * skipped up to the next newline, without being buffered.
 */

/** Default cap on one message: a segmented image is far smaller; an unsegmented 200-market image fits. */
export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

export interface FramingError {
  code: 'oversized';
  message: string;
  /** First bytes of the oversized message (up to 200 characters). */
  sample: string;
}

export interface FramerResult {
  messages: string[];
  errors: FramingError[];
}

export interface CrlfFramer {
  /** Feed one chunk; returns the complete messages it finished (empty lines are skipped). */
  push(chunk: Uint8Array): FramerResult;
  /** Bytes buffered waiting for a newline. */
  readonly pendingBytes: number;
}

const LF = 0x0a;
const CR = 0x0d;

/** Create a framer. `maxMessageBytes` bounds both one message and the memory held. */
export function createCrlfFramer(opts: { maxMessageBytes?: number } = {}): CrlfFramer {
  const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** True while skipping the rest of an oversized message. */
  let discarding = false;

  const finish = (tail: Buffer, out: string[]): void => {
    let buf = pending.length === 0 ? tail : Buffer.concat([...pending, tail], pendingBytes + tail.length);
    pending = [];
    pendingBytes = 0;
    if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
    if (buf.length > 0) out.push(buf.toString('utf8'));
  };

  const oversized = (sample: Buffer): FramingError => ({
    code: 'oversized',
    message: `betfair message longer than ${max} bytes without a CRLF; skipped`,
    sample: sample.subarray(0, 200).toString('utf8'),
  });

  return {
    get pendingBytes() {
      return pendingBytes;
    },
    push(chunk) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const messages: string[] = [];
      const errors: FramingError[] = [];
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(LF, start);
        if (nl === -1) break;
        const part = buf.subarray(start, nl);
        if (discarding) {
          discarding = false;
        } else if (pendingBytes + part.length > max + 1) {
          // +1: the message may end in the `\r` of its terminator
          errors.push(oversized(pending[0] ?? part));
          pending = [];
          pendingBytes = 0;
        } else {
          finish(part, messages);
        }
        start = nl + 1;
      }
      if (start < buf.length && !discarding) {
        const rest = buf.subarray(start);
        if (pendingBytes + rest.length > max + 1) {
          errors.push(oversized(pending[0] ?? rest));
          pending = [];
          pendingBytes = 0;
          discarding = true;
        } else {
          // copy: the caller may reuse its chunk buffer
          pending.push(Buffer.from(rest));
          pendingBytes += rest.length;
        }
      }
      return { messages, errors };
    },
  };
}
