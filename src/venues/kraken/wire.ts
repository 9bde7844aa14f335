/**
 * Kraken wire I/O: a `ws` client implementing Transport. It moves text frames and stamps each with
 * the receive time; it knows nothing of messages (the session does).
 */
import WebSocket from 'ws';
import { systemClock, type Clock } from '../../core/clock.js';
import { NbpyError } from '../../core/errors.js';
import type { Frame, Transport, TransportConnection } from '../connector.js';
import { KRAKEN_V2_URL } from './protocol.js';

/** Options of the Kraken transport. */
export interface KrakenTransportOptions {
  /** Time allowed for the TCP + TLS + WebSocket handshake. */
  handshakeTimeoutMs?: number;
  /** Where receive times come from (tests inject a fake clock). */
  clock?: Clock;
  /**
   * Largest frame accepted, bytes (ws maxPayload). A bigger frame is refused from its header, before it
   * is buffered: the connection closes (1009) and the feed reconnects, so a hostile or broken peer cannot
   * make the process hold more than this per frame. Kraken's largest (a 1000-level book snapshot) is well under 1 MiB.
   */
  maxPayloadBytes?: number;
}

/** Default {@link KrakenTransportOptions.maxPayloadBytes}: 16 MiB (ws's own default is 100 MiB). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** A pull queue of frames that ends when the socket closes. */
class FrameQueue implements AsyncIterable<Frame> {
  private readonly buf: Frame[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<Frame>) => void) | undefined;
  private ended = false;

  push(f: Frame): void {
    if (this.ended) return;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w({ value: f, done: false });
    } else this.buf.push(f);
  }

  end(): void {
    this.ended = true;
    const w = this.waiter;
    if (w && this.head >= this.buf.length) {
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Frame> {
    return {
      next: () => {
        if (this.head < this.buf.length) {
          const f = this.buf[this.head++] as Frame;
          if (this.head > 1024 && this.head * 2 > this.buf.length) {
            this.buf.splice(0, this.head);
            this.head = 0;
          }
          return Promise.resolve({ value: f, done: false });
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/**
 * A Transport to a Kraken v2 endpoint (or a simulator on 127.0.0.1).
 * @param url `wss://ws.kraken.com/v2` by default
 */
export function createKrakenTransport(url: string = KRAKEN_V2_URL, opts: KrakenTransportOptions = {}): Transport {
  const clock = opts.clock ?? systemClock;
  return {
    target: url,
    connect(signal: AbortSignal): Promise<TransportConnection> {
      return new Promise((resolve, reject) => {
        if (signal.aborted) {
          reject(new NbpyError('E_ABORTED', `connect to ${url} aborted`, false));
          return;
        }
        const ws = new WebSocket(url, {
          handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
          perMessageDeflate: false,
          maxPayload: opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
        });
        const frames = new FrameQueue();
        let open = false;
        const onAbort = (): void => ws.terminate();
        signal.addEventListener('abort', onAbort, { once: true });

        ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
          const receivedAtUs = clock.nowUs();
          // Kraken sends text frames; a binary frame is decoded the same way and left to the parser to judge
          void isBinary;
          const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
          frames.push({ text: buf.toString('utf8'), receivedAtUs });
        });
        ws.once('open', () => {
          open = true;
          resolve({
            frames,
            send: (t: string) => {
              if (ws.readyState === WebSocket.OPEN) ws.send(t);
            },
            close: () => {
              if (ws.readyState !== WebSocket.OPEN) {
                ws.terminate();
                return;
              }
              ws.close(1000);
              // a half-open link never answers the close handshake: do not wait ws's 30 s for it
              setTimeout(() => ws.terminate(), 1000).unref();
            },
          });
        });
        ws.on('error', (err: Error) => {
          if (!open) reject(new NbpyError('E_CONNECT', `cannot connect to ${url}: ${err.message}`, true));
        });
        ws.once('close', () => {
          signal.removeEventListener('abort', onAbort);
          frames.end();
          if (!open) reject(new NbpyError('E_CONNECT', `connection to ${url} closed during the handshake`, true));
        });
      });
    },
  };
}
