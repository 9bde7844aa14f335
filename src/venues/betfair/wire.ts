/**
 * Betfair ESA wire I/O only: a TLS socket (not HTTP, not WebSocket) to stream-api.betfair.com:443,
 * split into messages by framing.ts. Each Frame is one message text; sends get the `\r\n`
 * terminator here. Authentication, subscription and heartbeats are the session's business.
 */
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { systemClock, type Clock } from '../../core/clock.js';
import { NbpyError } from '../../core/errors.js';
import type { Frame, Transport, TransportConnection } from '../connector.js';
import { createCrlfFramer, DEFAULT_MAX_MESSAGE_BYTES } from './framing.js';
import { BETFAIR_STREAM_HOST, BETFAIR_STREAM_PORT } from './protocol.js';

export interface BetfairTransportOptions {
  /** Default stream-api.betfair.com (a simulator: 127.0.0.1). */
  host?: string;
  /** Default 443. */
  port?: number;
  /** Extra trusted CA (the simulator's throwaway certificate). */
  ca?: Buffer | string;
  /** Default true. Only a test against a self-signed server without `ca` would turn it off. */
  rejectUnauthorized?: boolean;
  clock?: Clock;
  /** Cap on one message; a longer one drops the connection (default 32 MiB). */
  maxMessageBytes?: number;
  /** Frames queued unread before the socket is paused (backpressure), default 10 000. */
  maxQueuedFrames?: number;
}

/** A TLS transport to the Betfair stream (or a simulator). */
export function createBetfairTransport(opts: BetfairTransportOptions = {}): Transport {
  const host = opts.host ?? BETFAIR_STREAM_HOST;
  const port = opts.port ?? BETFAIR_STREAM_PORT;
  const clock = opts.clock ?? systemClock;
  const maxQueued = opts.maxQueuedFrames ?? 10_000;
  return {
    target: `tls://${host}:${port}`,
    connect(signal: AbortSignal): Promise<TransportConnection> {
      return new Promise((resolve, reject) => {
        if (signal.aborted) {
          reject(new NbpyError('E_ABORTED', `connect to ${host}:${port} aborted`, true));
          return;
        }
        const socket: TLSSocket = tlsConnect({
          host,
          port,
          servername: isIP(host) ? undefined : host,
          ca: opts.ca,
          rejectUnauthorized: opts.rejectUnauthorized ?? true,
        });
        const onAbort = () => {
          socket.destroy();
          reject(new NbpyError('E_ABORTED', `connect to ${host}:${port} aborted`, true));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const onError = (err: Error) => {
          signal.removeEventListener('abort', onAbort);
          socket.destroy();
          reject(new NbpyError('E_BETFAIR_CONNECT', `cannot open the Betfair stream at ${host}:${port}: ${err.message}`, true));
        };
        socket.once('error', onError);
        socket.once('secureConnect', () => {
          socket.off('error', onError);
          signal.removeEventListener('abort', onAbort);
          socket.setNoDelay(true);
          socket.setKeepAlive(true, 15_000);
          resolve(wrap(socket, clock, opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, maxQueued));
        });
      });
    },
  };
}

function wrap(socket: TLSSocket, clock: Clock, maxMessageBytes: number, maxQueued: number): TransportConnection {
  const framer = createCrlfFramer({ maxMessageBytes });
  const queue: Frame[] = [];
  let head = 0;
  let ended = false;
  let failure: Error | null = null;
  let waiter: (() => void) | null = null;
  const wake = () => {
    const w = waiter;
    waiter = null;
    w?.();
  };

  socket.on('data', (chunk: Buffer) => {
    const receivedAtUs = clock.nowUs();
    const { messages, errors } = framer.push(chunk);
    for (const text of messages) queue.push({ text, receivedAtUs });
    if (errors.length > 0) {
      failure = new NbpyError('E_BETFAIR_FRAME_TOO_LARGE', `${errors[0]?.message ?? 'oversized message'}; reconnecting`, true);
      socket.destroy();
    }
    if (queue.length - head > maxQueued) socket.pause();
    wake();
  });
  socket.on('error', (err) => {
    failure ??= err;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });

  const frames: AsyncIterable<Frame> = {
    [Symbol.asyncIterator]() {
      return {
        async next(): Promise<IteratorResult<Frame>> {
          for (;;) {
            if (head < queue.length) {
              const value = queue[head++] as Frame;
              if (head > 1024 && head * 2 > queue.length) {
                queue.splice(0, head);
                head = 0;
              }
              if (socket.isPaused() && queue.length - head <= maxQueued / 2) socket.resume();
              return { value, done: false };
            }
            if (failure) throw failure;
            if (ended) return { value: undefined, done: true };
            await new Promise<void>((r) => (waiter = r));
          }
        },
        async return(): Promise<IteratorResult<Frame>> {
          socket.destroy();
          return { value: undefined, done: true };
        },
      };
    },
  };

  return {
    frames,
    send(text: string) {
      if (!socket.destroyed) socket.write(`${text}\r\n`);
    },
    close() {
      socket.end();
      socket.destroy();
    },
  };
}
