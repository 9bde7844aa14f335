/**
 * THE reconnect loop every venue uses: connect, send what the session asks for, feed frames to the
 * session, forward records/errors/counters, detect a stale connection, back off, reconnect, and
 * report each outage as ONE gap record. Venue knowledge stays in the session and the transport;
 * nothing here knows what a frame means.
 *
 * Gap semantics: an outage starts when an established connection is lost (stale, closed by the
 * venue, reset, or dropped on the session's request) and ends with the first frame received after
 * reconnecting. Failed connect attempts in between extend the same outage, so a flapping link still
 * gives one gap per outage. `gap_start_us` is the receive time of the last frame before the outage
 * (the disconnect time if none arrived yet) and `gap_end_us` the receive time of the first frame
 * after it. The gap draft is delivered in the same `onRecords` call as, and before, that frame's
 * records, so a consumer resets derived state before applying new data.
 */
import type { Clock } from '../core/clock.js';
import type { Draft, GapReason, GapRecord, Venue } from '../core/records.js';
import type { FeedCounter, FeedSession, Frame, FrameError, Transport, TransportConnection } from './connector.js';
import { createBackoff, type BackoffOptions } from './backoff.js';

export type FeedState = 'connecting' | 'connected' | 'disconnected';

/** Counters the loop itself reports through `onCounter` (besides the session's {@link FeedCounter}s). */
export const LOOP_COUNTERS = ['reconnects', 'connect_failures', 'stale_disconnects'] as const;
export type LoopCounter = (typeof LOOP_COUNTERS)[number];

export interface RunFeedOptions {
  transport: Transport;
  session: FeedSession;
  clock: Clock;
  /** Venue stamped on the gap records this loop emits. */
  venue: Venue;
  /** No frame at all (data or venue heartbeat) for this long: drop the connection and reconnect. */
  staleAfterMs: number;
  /** Give up on one connect attempt after this long (default: `staleAfterMs`). */
  connectTimeoutMs?: number;
  /** How often `session.keepAlive` is asked for messages while connected (default 30 000 ms; 0 = never). */
  keepAliveIntervalMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** Aborting closes the connection and resolves `runFeed`. */
  signal: AbortSignal;
  onRecords(drafts: Draft[]): void;
  onError(e: FrameError): void;
  onCounter?(name: FeedCounter | LoopCounter, n: number): void;
  onState?(s: FeedState, detail?: string): void;
  /**
   * A connect attempt failed (HTTP 401, refused, timeout...). `retryInMs` is the wait before the
   * next attempt: the capped maximum when the error says retrying cannot help (`retriable: false`).
   */
  onConnectError?(err: Error, info: { attempt: number; retryInMs: number }): void;
  log?: (msg: string, obj?: Record<string, unknown>) => void;
  /** Source of jitter, [0, 1) (default Math.random). */
  random?: () => number;
}

interface Outcome {
  reason: GapReason | 'abort' | 'fatal';
  detail: string;
  error?: unknown;
}

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Wait `ms` on the injected clock; resolves early (false) when `signal` aborts. */
function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      t.cancel();
      resolve(false);
    };
    const t = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Connect with a deadline; a connection that arrives after the deadline is closed at once. */
function connectWithTimeout(transport: Transport, clock: Clock, timeoutMs: number, signal: AbortSignal): Promise<TransportConnection> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  return new Promise<TransportConnection>((resolve, reject) => {
    let settled = false;
    const timer = clock.setTimeout(() => {
      if (settled) return;
      settled = true;
      ac.abort(new Error(`connect timed out after ${timeoutMs} ms`));
      reject(new Error(`connect to ${transport.target} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      timer.cancel();
      signal.removeEventListener('abort', onAbort);
    };
    transport.connect(ac.signal).then(
      (conn) => {
        done();
        if (settled) {
          conn.close();
          return;
        }
        settled = true;
        resolve(conn);
      },
      (err: unknown) => {
        done();
        if (settled) return;
        settled = true;
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * Run one venue feed until `signal` aborts. Never gives up on the venue: every failure backs off
 * (capped exponential with jitter) and retries. Rejects only when a callback of the caller throws.
 */
export async function runFeed(opts: RunFeedOptions): Promise<void> {
  const { transport, session, clock, signal } = opts;
  const backoff = createBackoff(opts.backoff, opts.random);
  const connectTimeoutMs = opts.connectTimeoutMs ?? opts.staleAfterMs;
  const keepAliveMs = opts.keepAliveIntervalMs ?? 30_000;
  const log = opts.log ?? (() => {});
  let lastFrameUs: number | null = null;
  let pendingGap: { startUs: number; reason: GapReason; detail: string } | null = null;
  let uptimeMs = 0;

  while (!signal.aborted) {
    opts.onState?.('connecting');
    let conn: TransportConnection;
    try {
      conn = await connectWithTimeout(transport, clock, connectTimeoutMs, signal);
    } catch (err) {
      if (signal.aborted) break;
      const e = err instanceof Error ? err : new Error(String(err));
      const retriable = (e as { retriable?: unknown }).retriable !== false;
      const retryInMs = retriable ? backoff.next(uptimeMs) : backoff.capped();
      uptimeMs = 0;
      opts.onCounter?.('connect_failures', 1);
      opts.onConnectError?.(e, { attempt: backoff.attempt, retryInMs });
      opts.onState?.('disconnected', e.message);
      log('connect failed', { target: transport.target, error: e.message, retriable, retryInMs });
      await sleep(clock, retryInMs, signal);
      continue;
    }
    if (signal.aborted) {
      conn.close();
      break;
    }
    const connectedMono = clock.monoMs();
    opts.onState?.('connected');
    log('connected', { target: transport.target });

    const outcome = await pump(conn);
    conn.close();
    if (outcome.reason === 'fatal') throw outcome.error;
    if (outcome.reason === 'abort') break;

    const nowUs = clock.nowUs();
    // An outage already open (no frame since the last drop) keeps its start and its first cause.
    pendingGap ??= { startUs: lastFrameUs ?? nowUs, reason: outcome.reason, detail: outcome.detail };
    session.reset();
    uptimeMs = clock.monoMs() - connectedMono;
    const retryInMs = backoff.next(uptimeMs);
    opts.onCounter?.('reconnects', 1);
    if (outcome.reason === 'stale') opts.onCounter?.('stale_disconnects', 1);
    opts.onState?.('disconnected', outcome.detail);
    log('disconnected', { target: transport.target, reason: outcome.reason, detail: outcome.detail, retryInMs });
    await sleep(clock, retryInMs, signal);
  }

  function handleFrame(frame: Frame, conn: TransportConnection): string | undefined {
    const out: Draft[] = [];
    if (pendingGap) {
      const gap: Draft<GapRecord> = {
        kind: 'gap',
        venue: opts.venue,
        instrument: '',
        ts_event_us: frame.receivedAtUs,
        ts_recv_us: frame.receivedAtUs,
        reason: pendingGap.reason,
        gap_start_us: pendingGap.startUs,
        gap_end_us: frame.receivedAtUs,
        detail: pendingGap.detail,
        first_missing_seq: 0,
        last_missing_seq: 0,
      };
      out.push(gap);
      pendingGap = null;
    }
    lastFrameUs = frame.receivedAtUs;
    let res;
    try {
      res = session.onFrame(frame);
    } catch (e) {
      // The contract says sessions never throw; if one does, count it rather than kill the feed.
      if (out.length) opts.onRecords(out);
      opts.onError({ code: 'session_threw', message: describe(e), sample: frame.text.slice(0, 200) });
      return undefined;
    }
    if (res.records.length) out.push(...res.records);
    if (out.length) opts.onRecords(out);
    for (const e of res.errors) opts.onError(e);
    if (res.counters && opts.onCounter) {
      for (const [k, n] of Object.entries(res.counters)) if (n) opts.onCounter(k as FeedCounter, n);
    }
    for (const m of res.send) conn.send(m);
    return res.reconnect;
  }

  /** Feed frames until the connection ends, goes stale, the session asks to reconnect, or abort. */
  function pump(conn: TransportConnection): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const it = conn.frames[Symbol.asyncIterator]();
      let finished = false;
      let lastMono = clock.monoMs();
      let staleTimer = clock.setTimeout(checkStale, opts.staleAfterMs);
      let keepAliveTimer: { cancel(): void } | null = null;
      const finish = (o: Outcome) => {
        if (finished) return;
        finished = true;
        staleTimer.cancel();
        keepAliveTimer?.cancel();
        signal.removeEventListener('abort', onAbort);
        conn.close();
        // Release the iterator without waiting: a stuck transport must not hold the loop.
        it.return?.().catch(() => {});
        resolve(o);
      };
      const onAbort = () => finish({ reason: 'abort', detail: 'aborted' });
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) return onAbort();

      // One timer per stale period instead of one per frame: on expiry, re-arm for the remainder.
      function checkStale() {
        if (finished) return;
        const idle = clock.monoMs() - lastMono;
        if (idle >= opts.staleAfterMs)
          finish({ reason: 'stale', detail: `no frame for ${Math.round(idle)} ms (staleAfterMs ${opts.staleAfterMs})` });
        else staleTimer = clock.setTimeout(checkStale, opts.staleAfterMs - idle);
      }
      function keepAlive() {
        if (finished || !session.keepAlive) return;
        try {
          for (const m of session.keepAlive(clock.nowUs())) conn.send(m);
        } catch (e) {
          return finish({ reason: 'reconnect', detail: `keep-alive failed: ${describe(e)}` });
        }
        keepAliveTimer = clock.setTimeout(keepAlive, keepAliveMs);
      }

      try {
        for (const m of session.onOpen(clock.nowUs())) conn.send(m);
      } catch (e) {
        return finish({ reason: 'reconnect', detail: `open failed: ${describe(e)}` });
      }
      if (session.keepAlive && keepAliveMs > 0) keepAliveTimer = clock.setTimeout(keepAlive, keepAliveMs);

      void (async () => {
        for (;;) {
          let r: IteratorResult<Frame>;
          try {
            r = await it.next();
          } catch (e) {
            return finish({ reason: 'reconnect', detail: `connection lost: ${describe(e)}` });
          }
          if (finished) return;
          if (r.done) return finish({ reason: 'reconnect', detail: 'connection closed by the venue' });
          lastMono = clock.monoMs();
          let again: string | undefined;
          try {
            again = handleFrame(r.value, conn);
          } catch (e) {
            return finish({ reason: 'fatal', detail: describe(e), error: e });
          }
          if (again !== undefined) return finish({ reason: 'reconnect', detail: `session requested reconnect: ${again}` });
          if (finished) return;
        }
      })();
    });
  }
}
