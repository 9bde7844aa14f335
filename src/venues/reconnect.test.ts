import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../core/clock.js';
import { NbpyError } from '../core/errors.js';
import type { Draft, GapRecord } from '../core/records.js';
import type { FeedSession, Frame, FrameError, FrameResult, Transport, TransportConnection } from './connector.js';
import { runFeed, type FeedState } from './reconnect.js';

/** An in-memory connection the test pushes frames into. */
class FakeConn implements TransportConnection {
  sent: string[] = [];
  closed = false;
  private queue: Frame[] = [];
  private waiter: ((r: IteratorResult<Frame>) => void) | null = null;
  private failWaiter: ((e: Error) => void) | null = null;
  private failWith: Error | null = null;
  constructor(
    private clock: FakeClock,
    /** A stuck transport ignores close() (its iterator never ends). */
    private stuck = false,
  ) {}
  push(text: string) {
    const f = { text, receivedAtUs: this.clock.nowUs() };
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: f, done: false });
    } else this.queue.push(f);
  }
  end() {
    this.closed = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: undefined, done: true });
    }
  }
  fail(e: Error) {
    this.failWith = e;
    this.closed = true;
    const w = this.failWaiter;
    this.waiter = this.failWaiter = null;
    w?.(e);
  }
  send(t: string) {
    this.sent.push(t);
  }
  close() {
    if (!this.stuck) this.end();
    else this.closed = true;
  }
  frames: AsyncIterable<Frame> = {
    [Symbol.asyncIterator]: () => ({
      next: (): Promise<IteratorResult<Frame>> => {
        const f = this.queue.shift();
        if (f) return Promise.resolve({ value: f, done: false });
        if (this.failWith) return Promise.reject(this.failWith);
        if (this.closed && !this.stuck) return Promise.resolve({ value: undefined, done: true });
        return new Promise((res, rej) => {
          this.waiter = res;
          this.failWaiter = rej;
        });
      },
    }),
  };
}

class FakeTransport implements Transport {
  readonly target = 'fake://venue';
  conns: FakeConn[] = [];
  attempts = 0;
  /** Scripted outcomes of the next connect attempts: an Error rejects, 'hang' never settles. */
  script: (Error | 'hang' | 'stuck')[] = [];
  constructor(private clock: FakeClock) {}
  connect(signal: AbortSignal): Promise<TransportConnection> {
    this.attempts++;
    const step = this.script.shift();
    if (step instanceof Error) return Promise.reject(step);
    if (step === 'hang') return new Promise((_, rej) => signal.addEventListener('abort', () => rej(new Error('aborted'))));
    const c = new FakeConn(this.clock, step === 'stuck');
    this.conns.push(c);
    return Promise.resolve(c);
  }
  get last(): FakeConn {
    const c = this.conns.at(-1);
    assert.ok(c, 'no connection yet');
    return c;
  }
}

/** A session that turns "tick:<instrument>" into a tick, "bad" into an error, "hb" into a counter. */
function fakeSession(): FeedSession & { resets: number } {
  const s = {
    resets: 0,
    onOpen: () => ['subscribe'],
    onFrame(f: Frame): FrameResult {
      if (f.text === 'bad') return { records: [], send: [], errors: [{ code: 'json', message: 'bad', sample: 'bad' }] };
      if (f.text === 'hb') return { records: [], send: ['pong'], errors: [], counters: { venue_heartbeats: 1 } };
      if (f.text === 'reconnect-please') return { records: [], send: [], errors: [], reconnect: 'venue error 42' };
      if (f.text === 'throw') throw new Error('boom');
      const tick: Draft = {
        kind: 'tick',
        venue: 'oanda',
        instrument: f.text.slice(5),
        ts_event_us: f.receivedAtUs,
        ts_recv_us: f.receivedAtUs,
        bid: '1',
        bid_qty: '1',
        ask: '2',
        ask_qty: '1',
        last: null,
        volume: null,
        tradeable: true,
      };
      return { records: [tick], send: [], errors: [] };
    },
    reset() {
      s.resets++;
    },
  };
  return s;
}

const settle = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** Wait for a condition, giving the event loop turns; fails after a bounded number of turns. */
async function until(cond: () => boolean, what: string, turns = 500) {
  for (let i = 0; i < turns; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function harness(extra: { staleAfterMs?: number; connectTimeoutMs?: number; script?: FakeTransport['script'] } = {}) {
  const clock = new FakeClock();
  const transport = new FakeTransport(clock);
  transport.script = extra.script ?? [];
  const session = fakeSession();
  const ac = new AbortController();
  const records: Draft[] = [];
  const batches: Draft[][] = [];
  const errors: FrameError[] = [];
  const counters: Record<string, number> = {};
  const states: [FeedState, string | undefined][] = [];
  const connectErrors: { msg: string; retryInMs: number }[] = [];
  const done = runFeed({
    transport,
    session,
    clock,
    venue: 'oanda',
    staleAfterMs: extra.staleAfterMs ?? 10_000,
    connectTimeoutMs: extra.connectTimeoutMs,
    backoff: { initialMs: 100, maxMs: 1600, factor: 2, jitter: 0.5, resetAfterMs: 60_000 },
    random: () => 0.999999,
    signal: ac.signal,
    onRecords: (d) => {
      batches.push(d);
      records.push(...d);
    },
    onError: (e) => errors.push(e),
    onCounter: (k, n) => (counters[k] = (counters[k] ?? 0) + n),
    onState: (s, d) => states.push([s, d]),
    onConnectError: (e, i) => connectErrors.push({ msg: e.message, retryInMs: i.retryInMs }),
  });
  const gaps = () => records.filter((r): r is Draft<GapRecord> => r.kind === 'gap');
  /** Wait until the n-th connection is open and its timers are armed (onOpen has been sent). */
  const connected = (n: number) => until(() => transport.conns.length === n && transport.conns[n - 1]!.sent.length > 0, `connection ${n}`);
  return { clock, transport, session, ac, records, batches, errors, counters, states, connectErrors, done, gaps, connected };
}

test('frames flow through the session; sends, errors and counters are forwarded', async () => {
  const h = harness();
  await h.connected(1);
  await settle();
  const c = h.transport.last;
  assert.deepEqual(c.sent, ['subscribe']);
  c.push('tick:EUR_USD');
  c.push('bad');
  c.push('hb');
  await until(() => h.counters.venue_heartbeats === 1, 'heartbeat counter');
  assert.equal(h.records.length, 1);
  assert.equal(h.records[0]?.instrument, 'EUR_USD');
  assert.deepEqual(
    h.errors.map((e) => e.code),
    ['json'],
  );
  assert.deepEqual(c.sent, ['subscribe', 'pong']);
  assert.deepEqual(
    h.states.map((s) => s[0]),
    ['connecting', 'connected'],
  );
  h.ac.abort();
  await h.done;
  assert.ok(c.closed, 'abort closes the connection');
  assert.equal(h.gaps().length, 0);
});

test('venue closes the stream: back off, reset, reconnect, ONE gap spanning the outage', async () => {
  const h = harness();
  await h.connected(1);
  const first = h.transport.last;
  first.push('tick:A');
  await until(() => h.records.length === 1, 'first tick');
  const lastFrameUs = h.clock.nowUs();
  h.clock.advance(1000);
  const dropUs = h.clock.nowUs();
  first.end();
  await until(() => h.states.some((s) => s[0] === 'disconnected'), 'disconnect');
  assert.equal(h.session.resets, 1, 'session reset on disconnect');
  assert.equal(h.transport.conns.length, 1, 'waits before reconnecting');
  h.clock.advance(99);
  await settle();
  assert.equal(h.transport.conns.length, 1, 'backoff not yet elapsed');
  h.clock.advance(1);
  await h.connected(2);
  h.clock.advance(500);
  const firstAfterUs = h.clock.nowUs();
  h.transport.last.push('tick:B');
  h.transport.last.push('tick:C');
  await until(() => h.records.length === 4, 'gap + 2 ticks');
  const gaps = h.gaps();
  assert.equal(gaps.length, 1);
  const g = gaps[0]!;
  assert.equal(g.reason, 'reconnect');
  assert.equal(g.venue, 'oanda');
  assert.equal(g.instrument, '');
  assert.equal(g.gap_start_us, lastFrameUs);
  assert.ok(g.gap_start_us < dropUs);
  assert.equal(g.gap_end_us, firstAfterUs);
  assert.match(g.detail, /closed by the venue/);
  // The gap comes in the same batch as, and before, the first frame's records.
  assert.deepEqual(
    h.batches.at(-2)?.map((r) => r.kind),
    ['gap', 'tick'],
  );
  assert.equal(h.counters.reconnects, 1);
  h.ac.abort();
  await h.done;
});

test('stale connection: dropped after staleAfterMs of silence, gap reason stale', async () => {
  const h = harness({ staleAfterMs: 3000 });
  await h.connected(1);
  const c = h.transport.last;
  c.push('tick:A');
  await until(() => h.records.length === 1, 'tick');
  // Frames keep it alive: 2 s, frame, 2 s is not stale (the timer re-arms for the remainder).
  h.clock.advance(2000);
  c.push('hb');
  await until(() => h.counters.venue_heartbeats === 1, 'hb');
  const lastUs = h.clock.nowUs();
  h.clock.advance(2000);
  await settle();
  assert.equal(c.closed, false, 'not stale yet');
  h.clock.advance(1000);
  await until(() => c.closed, 'stale drop');
  assert.equal(h.counters.stale_disconnects, 1);
  h.clock.advance(100);
  await h.connected(2);
  h.transport.last.push('tick:B');
  await until(() => h.gaps().length === 1, 'gap');
  assert.equal(h.gaps()[0]!.reason, 'stale');
  assert.equal(h.gaps()[0]!.gap_start_us, lastUs);
  assert.match(h.gaps()[0]!.detail, /no frame for 3000 ms/);
  h.ac.abort();
  await h.done;
});

test('a stuck transport whose iterator ignores close() does not hold the loop', async () => {
  const h = harness({ staleAfterMs: 1000, script: ['stuck'] });
  await h.connected(1);
  h.clock.advance(1000);
  await until(() => h.states.some((s) => s[0] === 'disconnected'), 'stale');
  h.clock.advance(100);
  await h.connected(2);
  h.ac.abort();
  await h.done;
});

test('connect failures back off exponentially (capped) and one outage gives one gap', async () => {
  const h = harness();
  await h.connected(1);
  h.transport.last.push('tick:A');
  await until(() => h.records.length === 1, 'tick');
  h.transport.script = [new Error('ECONNREFUSED'), new Error('ECONNREFUSED'), new Error('ECONNREFUSED'), new Error('ECONNREFUSED')];
  h.transport.last.fail(new Error('ECONNRESET'));
  // Disconnect (100 ms), then four refused attempts (200, 400, 800, 1600 ms), then success.
  for (const ms of [100, 200, 400, 800, 1600]) {
    const before = h.transport.attempts;
    await settle();
    h.clock.advance(ms - 1);
    await settle();
    assert.equal(h.transport.attempts, before, `no attempt before ${ms} ms`);
    h.clock.advance(1);
    await until(() => h.transport.attempts === before + 1, `attempt after ${ms} ms`);
  }
  assert.deepEqual(
    h.connectErrors.map((e) => e.retryInMs),
    [200, 400, 800, 1600],
  );
  h.transport.last.push('tick:B');
  await until(() => h.records.length === 3, 'gap + tick');
  assert.equal(h.gaps().length, 1);
  assert.match(h.gaps()[0]!.detail, /connection lost: ECONNRESET/);
  assert.equal(h.counters.connect_failures, 4);
  h.ac.abort();
  await h.done;
});

test('a non-retriable connect error (bad token) waits the capped delay, never a tight loop', async () => {
  const h = harness({ script: [new NbpyError('E_AUTH', 'bad token: check NBPY_X_TOKEN', false)] });
  await until(() => h.connectErrors.length === 1, 'connect error');
  assert.equal(h.connectErrors[0]!.retryInMs, 1600);
  assert.match(h.states.find((s) => s[0] === 'disconnected')?.[1] ?? '', /bad token/);
  h.clock.advance(1599);
  await settle();
  assert.equal(h.transport.attempts, 1);
  h.clock.advance(1);
  await until(() => h.transport.attempts === 2, 'retry');
  h.ac.abort();
  await h.done;
  assert.equal(h.gaps().length, 0, 'no data was ever received: nothing to gap');
});

test('connect timeout aborts a hanging attempt and retries', async () => {
  const h = harness({ connectTimeoutMs: 2000, script: ['hang'] });
  await until(() => h.transport.attempts === 1, 'attempt');
  h.clock.advance(2000);
  await until(() => h.connectErrors.length === 1, 'timeout error');
  assert.match(h.connectErrors[0]!.msg, /timed out after 2000 ms/);
  h.clock.advance(100);
  await until(() => h.transport.conns.length === 1, 'second attempt connects');
  h.ac.abort();
  await h.done;
});

test('session-requested reconnect drops the connection and reports a gap with the cause', async () => {
  const h = harness();
  await h.connected(1);
  h.transport.last.push('tick:A');
  h.transport.last.push('reconnect-please');
  await until(() => h.transport.conns[0]!.closed, 'dropped');
  h.clock.advance(100);
  await h.connected(2);
  h.transport.last.push('tick:B');
  await until(() => h.gaps().length === 1, 'gap');
  assert.match(h.gaps()[0]!.detail, /venue error 42/);
  h.ac.abort();
  await h.done;
});

test('a throwing session is counted as an error, the feed keeps running', async () => {
  const h = harness();
  await h.connected(1);
  h.transport.last.push('throw');
  h.transport.last.push('tick:A');
  await until(() => h.records.length === 1, 'tick after throw');
  assert.deepEqual(
    h.errors.map((e) => e.code),
    ['session_threw'],
  );
  assert.equal(h.transport.conns.length, 1);
  h.ac.abort();
  await h.done;
});

test('abort during backoff resolves promptly', async () => {
  const h = harness({ script: [new Error('refused')] });
  await until(() => h.connectErrors.length === 1, 'failure');
  h.ac.abort();
  await h.done;
  assert.equal(h.transport.attempts, 1);
});

test('keepAlive messages are sent on the interval while connected', async () => {
  const clock = new FakeClock();
  const transport = new FakeTransport(clock);
  const session = { ...fakeSession(), keepAlive: () => ['ping'] };
  const ac = new AbortController();
  const done = runFeed({
    transport,
    session,
    clock,
    venue: 'kraken',
    staleAfterMs: 60_000,
    keepAliveIntervalMs: 1000,
    signal: ac.signal,
    onRecords: () => {},
    onError: () => {},
  });
  await until(() => transport.conns.length === 1 && transport.last.sent.length === 1, 'connect');
  clock.advance(3500);
  await settle();
  assert.deepEqual(transport.last.sent, ['subscribe', 'ping', 'ping', 'ping']);
  ac.abort();
  await done;
});
