/**
 * OANDA connector end to end over real loopback sockets: createOandaTransport + session + runFeed
 * against the simulator. Covers prices, a dropped stream (one gap, automatic reconnect), a stalled
 * stream (stale gap), a bad token, garbage lines, and weekend silence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/core/clock.js';
import { NbpyError } from '../../src/core/errors.js';
import type { Draft, GapRecord, TickRecord } from '../../src/core/records.js';
import type { FrameError } from '../../src/venues/connector.js';
import { createOandaSession, createOandaTransport } from '../../src/venues/oanda/index.js';
import { runFeed, type FeedState } from '../../src/venues/reconnect.js';
import { startOandaSimulator, type OandaSimulatorOptions } from '../../src/simulators/oanda.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'test-token-0123456789abcdef';
const ACCOUNT = '101-004-1234567-001';
const INSTRUMENTS = ['EUR_USD', 'USD_JPY'];

async function feed(sim: Partial<OandaSimulatorOptions>, run: { staleAfterMs?: number; token?: string } = {}) {
  const s = await startOandaSimulator({ instruments: INSTRUMENTS, ratePerS: 50, token: TOKEN, seed: 7, ...sim });
  const transport = createOandaTransport({ baseUrl: s.url, accountId: ACCOUNT, token: run.token ?? TOKEN, instruments: INSTRUMENTS });
  const ac = new AbortController();
  const records: Draft[] = [];
  const errors: FrameError[] = [];
  const counters: Record<string, number> = {};
  const states: [FeedState, string | undefined][] = [];
  const connectErrors: { err: Error; retryInMs: number }[] = [];
  const logs: string[] = [];
  const done = runFeed({
    transport,
    session: createOandaSession({ instruments: INSTRUMENTS }),
    clock: systemClock,
    venue: 'oanda',
    staleAfterMs: run.staleAfterMs ?? 5000,
    backoff: { initialMs: 20, maxMs: 300, resetAfterMs: 60_000 },
    signal: ac.signal,
    onRecords: (d) => records.push(...d),
    onError: (e) => errors.push(e),
    onCounter: (k, n) => (counters[k] = (counters[k] ?? 0) + n),
    onState: (st, d) => states.push([st, d]),
    onConnectError: (err, i) => connectErrors.push({ err, retryInMs: i.retryInMs }),
    log: (msg, obj) => logs.push(`${msg} ${JSON.stringify(obj ?? {})}`),
  });
  const ticks = () => records.filter((r): r is Draft<TickRecord> => r.kind === 'tick');
  const gaps = () => records.filter((r): r is Draft<GapRecord> => r.kind === 'gap');
  const stop = async () => {
    ac.abort();
    await done;
    await s.close();
  };
  return { sim: s, transport, records, errors, counters, states, connectErrors, logs, ticks, gaps, stop };
}

test('prices arrive as tick drafts with exact decimal strings', async () => {
  const f = await feed({});
  try {
    await waitFor('20 ticks', () => f.ticks().length >= 20, 15_000, 10);
    for (const t of f.ticks()) {
      assert.ok(INSTRUMENTS.includes(t.instrument));
      assert.match(t.bid ?? '', t.instrument.endsWith('JPY') ? /^\d+\.\d{3}$/ : /^\d+\.\d{5}$/);
      assert.ok(Number(t.bid) < Number(t.ask));
      assert.match(t.ask_qty ?? '', /^\d+$/);
      assert.equal(t.tradeable, true);
      assert.ok(Math.abs(t.ts_recv_us - t.ts_event_us) < 5_000_000, 'event time is the simulator clock, close to receive time');
    }
    assert.deepEqual(f.errors, []);
    assert.deepEqual(f.gaps(), []);
    assert.ok(!f.transport.target.includes(ACCOUNT), 'target hides the account id');
  } finally {
    await f.stop();
  }
});

test('simulator drops the stream mid-flight: runFeed reconnects by itself and emits exactly one gap', async () => {
  const f = await feed({});
  try {
    await waitFor('10 ticks', () => f.ticks().length >= 10, 15_000, 10);
    const lastBeforeUs = () => f.ticks().at(-1)!.ts_recv_us;
    f.sim.dropAll();
    const before = lastBeforeUs();
    await waitFor('a gap record', () => f.gaps().length >= 1, 15_000, 10);
    const n = f.ticks().length;
    await waitFor('20 more ticks after the reconnect', () => f.ticks().length >= n + 20, 15_000, 10);
    const gaps = f.gaps();
    assert.equal(gaps.length, 1, 'exactly one gap');
    const g = gaps[0]!;
    assert.equal(g.reason, 'reconnect');
    assert.equal(g.venue, 'oanda');
    assert.equal(g.instrument, '');
    assert.equal(g.gap_start_us, before, 'gap starts at the last frame before the drop');
    assert.ok(g.gap_end_us > g.gap_start_us);
    assert.match(g.detail, /connection lost|closed/);
    assert.equal(f.sim.stats().connections, 2);
    assert.equal(f.counters.reconnects, 1);
    assert.ok(!f.logs.join('\n').includes(TOKEN), 'the token never reaches a log line');
  } finally {
    await f.stop();
  }
});

test('a stalled stream is declared stale, dropped and reconnected (gap reason stale)', async () => {
  const f = await feed({ faults: { stallEveryMs: 300, stallMs: 60_000 } }, { staleAfterMs: 400 });
  try {
    await waitFor('a stale gap', () => f.gaps().length >= 1, 15_000, 10);
    assert.equal(f.gaps()[0]!.reason, 'stale');
    assert.match(f.gaps()[0]!.detail, /no frame for/);
    assert.ok(f.sim.stats().connections >= 2);
  } finally {
    await f.stop();
  }
});

test('bad token: a clear, non-retriable error naming the env var, never the token', async () => {
  const s = await startOandaSimulator({ instruments: INSTRUMENTS, ratePerS: 10, token: TOKEN });
  try {
    const wrong = 'wrong-token-abcdef';
    const transport = createOandaTransport({ baseUrl: s.url, accountId: ACCOUNT, token: wrong, instruments: INSTRUMENTS });
    const err = await transport.connect(new AbortController().signal).then(
      () => assert.fail('connect should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NbpyError);
    assert.equal(err.code, 'E_OANDA_UNAUTHORIZED');
    assert.equal(err.retriable, false);
    assert.match(err.message, /HTTP 401/);
    assert.match(err.message, /Insufficient authorization/);
    assert.match(err.message, /NBPY_OANDA_TOKEN/);
    assert.ok(!err.message.includes(wrong));
    assert.equal(s.stats().rejected, 1);
  } finally {
    await s.close();
  }
  // Through runFeed: reported via onConnectError and retried at the capped delay, not in a tight loop.
  const f = await feed({}, { token: 'another-wrong-token' });
  try {
    await waitFor('connect error', () => f.connectErrors.length >= 1, 15_000, 10);
    assert.equal((f.connectErrors[0]!.err as NbpyError).code, 'E_OANDA_UNAUTHORIZED');
    assert.equal(f.connectErrors[0]!.retryInMs >= 150 && f.connectErrors[0]!.retryInMs <= 300, true);
    assert.ok(f.states.some(([st, d]) => st === 'disconnected' && /401/.test(d ?? '')));
    assert.equal(f.records.length, 0);
  } finally {
    await f.stop();
  }
});

test('garbage lines are counted as errors and prices keep flowing', async () => {
  const f = await feed({ faults: { garbageRate: 0.3 } });
  try {
    await waitFor('errors and ticks', () => f.errors.length >= 5 && f.ticks().length >= 20, 15_000, 10);
    assert.ok(
      f.errors.every((e) => ['json', 'schema', 'time', 'price'].includes(e.code)),
      f.errors.map((e) => e.code).join(','),
    );
    assert.deepEqual(f.gaps(), [], 'garbage is not a disconnect');
  } finally {
    await f.stop();
  }
});

test('weekend: non-tradeable snapshot prices, then heartbeats only', async () => {
  const f = await feed({ weekend: true, heartbeatMs: 50 });
  try {
    await waitFor('5 heartbeats', () => (f.counters.venue_heartbeats ?? 0) >= 5, 15_000, 10);
    const ticks = f.ticks();
    assert.equal(ticks.length, INSTRUMENTS.length, 'one snapshot price per instrument, nothing after');
    assert.ok(ticks.every((t) => t.tradeable === false));
    assert.deepEqual(ticks.map((t) => t.instrument).sort(), [...INSTRUMENTS].sort());
    assert.deepEqual(f.gaps(), [], 'heartbeats keep a quiet stream alive');
  } finally {
    await f.stop();
  }
});
