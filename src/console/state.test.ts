import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BusRecord, GapRecord, HeartbeatRecord, RunnerRecord, TickRecord, DepthRecord, TradeRecord } from '../core/records.js';
import { ConsoleModel, chartValues, type ServiceSpec } from './state.js';

const T0 = 1_700_000_000_000;
const base = { v: 1, venue: 'kraken' as const, publisher: 'kraken_tick', session: 's1', instrument: 'BTC/USD' };

const tick = (seq: number, bid: string | null, ask: string | null, atMs = T0, over: Partial<TickRecord> = {}): TickRecord => ({
  ...base,
  topic: 'kraken.tick',
  kind: 'tick',
  seq,
  ts_event_us: (atMs - 20) * 1000,
  ts_recv_us: (atMs - 5) * 1000,
  bid,
  bid_qty: '1',
  ask,
  ask_qty: '1',
  last: '100.5',
  volume: null,
  tradeable: true,
  ...over,
});

const hb = (seq: number, connected: boolean, session = 's1'): HeartbeatRecord => ({
  ...base,
  session,
  topic: '_hb',
  kind: 'heartbeat',
  seq,
  ts_event_us: T0 * 1000,
  ts_recv_us: T0 * 1000,
  instrument: '',
  data_topic: 'kraken.tick',
  last_venue_msg_age_ms: 10,
  connected,
});

const services: ServiceSpec[] = [
  { name: 'kraken_tick', kind: 'publisher', healthUrl: 'http://127.0.0.1:1/health', topic: 'kraken.tick', venue: 'kraken' },
  { name: 'sub_a', kind: 'subscriber', healthUrl: 'http://127.0.0.1:2/health' },
];

test('chartValues: mid for ticks, best bid/ask for depth, trade price, best back/lay for runners', () => {
  assert.deepEqual(chartValues(tick(1, '100', '101')), [['mid', 100.5]]);
  assert.deepEqual(chartValues(tick(1, null, null)), [['mid', 100.5]], 'falls back to last');
  const depth = { ...tick(1, '1', '2'), kind: 'depth', bids: [['99.5', '1']], asks: [['100.5', '2']] } as unknown as DepthRecord;
  assert.deepEqual(chartValues(depth), [
    ['bid', 99.5],
    ['ask', 100.5],
  ]);
  const trade = { ...tick(1, '1', '2'), kind: 'trade', price: '123.25' } as unknown as TradeRecord;
  assert.deepEqual(chartValues(trade), [['price', 123.25]]);
  const runner = { ...tick(1, '1', '2'), kind: 'runner', back: [['2.5', '10']], lay: [] } as unknown as RunnerRecord;
  assert.deepEqual(chartValues(runner), [['back', 2.5]]);
});

test('sampling: any number of records gives at most one point per series per flush, the latest value', () => {
  const m = new ConsoleModel(services, T0);
  const recs: BusRecord[] = [];
  for (let i = 1; i <= 10_000; i++) recs.push(tick(i, String(100 + i), String(101 + i), T0, { instrument: i % 2 ? 'BTC/USD' : 'ETH/USD' }));
  m.observe(recs, T0);
  const b = m.flushPoints();
  assert.equal(b.defs.length, 2);
  assert.equal(b.points.length, 2);
  const eth = b.defs.find((d) => d.instrument === 'ETH/USD')!;
  assert.deepEqual(
    b.points.find((p) => p[0] === eth.id),
    [eth.id, T0 - 5, 10_100.5],
  );
  assert.deepEqual(m.flushPoints(), { defs: [], points: [] }, 'nothing new, nothing sent');
  assert.equal(m.allSeries().length, 2);
});

test('series beyond maxSeries are counted, not tracked', () => {
  const m = new ConsoleModel([], T0, { maxSeries: 3 });
  m.observe(
    [1, 2, 3, 4, 5].map((i) => tick(i, '1', '2', T0, { instrument: `I${i}` })),
    T0,
  );
  assert.equal(m.flushPoints().points.length, 3);
  assert.equal(m.totals.series_dropped, 2);
});

test('rate, lag, seq gaps, gap records and sessions per topic', () => {
  const m = new ConsoleModel(services, T0);
  m.observe([tick(1, '1', '2'), tick(2, '1', '2'), tick(5, '1', '2')], T0);
  const gap: GapRecord = {
    ...base,
    topic: 'kraken.tick',
    kind: 'gap',
    seq: 6,
    ts_event_us: T0 * 1000,
    ts_recv_us: T0 * 1000,
    reason: 'reconnect',
    gap_start_us: 0,
    gap_end_us: 0,
    detail: '',
    first_missing_seq: 0,
    last_missing_seq: 0,
  };
  m.observe([gap, { ...tick(1, '1', '2'), session: 's2' }], T0);
  m.tick(T0 + 2000);
  const t = m.snapshot(T0 + 2000).topics.find((x) => x.topic === 'kraken.tick')!;
  assert.equal(t.records, 5);
  assert.equal(t.rate_per_s, 2.5);
  // Four ticks 20 ms (event) / 5 ms (receive) old, and the gap record stamped at T0: 0 ms.
  assert.equal(t.lag_ms, 16);
  assert.equal(t.recv_lag_ms, 4);
  assert.equal(t.seq_gaps, 1);
  assert.equal(t.seq_missing, 2);
  assert.equal(t.gaps, 1);
  assert.deepEqual(t.gap_reasons, { reconnect: 1 });
  assert.equal(t.sessions, 2);
  assert.deepEqual(t.publishers, ['kraken_tick']);
});

test('staleness: waiting, ok, stale after 5 s of silence, heartbeats keep it alive, disconnected is stale', () => {
  const m = new ConsoleModel(services, T0);
  m.serviceHealth('kraken_tick', T0, { body: { status: 'ok', ready: true } });
  const topic = (now: number) => m.snapshot(now).topics.find((x) => x.topic === 'kraken.tick')!;
  assert.equal(topic(T0 + 1000).state, 'waiting');
  assert.equal(topic(T0 + 6000).state, 'stale');
  m.observe([tick(1, '1', '2', T0 + 6000)], T0 + 6000);
  assert.equal(topic(T0 + 7000).state, 'ok');
  assert.equal(topic(T0 + 11_001).state, 'stale');
  assert.match(topic(T0 + 11_001).stale_reason, /no record or heartbeat for 5 s/);
  m.observe([hb(1, true)], T0 + 11_000);
  assert.equal(topic(T0 + 12_000).state, 'ok', 'a heartbeat is a sign of life');
  m.observe([hb(1, false)], T0 + 12_000);
  const t = topic(T0 + 12_500);
  assert.equal(t.state, 'stale');
  assert.equal(t.connected, false);
  assert.match(t.stale_reason, /venue disconnected/);
});

test('services: answers, not answering = stale, and a publisher not answering makes its topic stale', () => {
  const m = new ConsoleModel(services, T0);
  assert.equal(m.snapshot(T0).services[0]!.state, 'waiting');
  m.serviceHealth('kraken_tick', T0, { body: { status: 'degraded', ready: true, restarts: 2 } });
  m.serviceHealth('sub_a', T0, { error: 'ECONNREFUSED' });
  m.observe([tick(1, '1', '2')], T0);
  let snap = m.snapshot(T0 + 100);
  assert.deepEqual(
    snap.services.map((s) => [s.name, s.state, s.ready, s.restarts]),
    [
      ['kraken_tick', 'degraded', true, 2],
      ['sub_a', 'stale', null, null],
    ],
  );
  assert.equal(snap.topics[0]!.state, 'ok');
  m.serviceHealth('kraken_tick', T0 + 200, { error: 'no answer within 1500 ms' });
  assert.equal(m.snapshot(T0 + 300).services[0]!.state, 'degraded', 'one miss is not enough');
  m.serviceHealth('kraken_tick', T0 + 1200, { error: 'no answer within 1500 ms' });
  snap = m.snapshot(T0 + 1300);
  assert.equal(snap.services[0]!.state, 'stale');
  assert.equal(snap.topics[0]!.state, 'stale');
  assert.match(snap.topics[0]!.stale_reason, /kraken_tick not answering/);
});
