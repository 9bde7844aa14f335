import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BusRecord, HeartbeatRecord, TickRecord } from '../core/records.js';
import { BusTally, failuresOf, storageReport, topicReports } from './report.js';

const tick = (seq: number, session = 's1', topic = 'kraken.tick', publisher = 'kraken_tick'): TickRecord => ({
  v: 1,
  topic,
  venue: 'kraken',
  kind: 'tick',
  publisher,
  session,
  seq,
  ts_event_us: 1,
  ts_recv_us: 1,
  instrument: 'BTC/USD',
  bid: '1',
  bid_qty: '1',
  ask: '2',
  ask_qty: '1',
  last: null,
  volume: null,
  tradeable: true,
});
const hb = (seq: number, session = 's1'): HeartbeatRecord => ({
  v: 1,
  topic: '_hb',
  venue: 'kraken',
  kind: 'heartbeat',
  publisher: 'kraken_tick',
  session,
  seq,
  ts_event_us: 1,
  ts_recv_us: 1,
  instrument: '',
  data_topic: 'kraken.tick',
  last_venue_msg_age_ms: 5,
  connected: true,
});
const WEDNESDAY = Date.parse('2024-06-05T12:00:00Z');
const SATURDAY = Date.parse('2024-06-08T12:00:00Z');
const configured = [
  { topic: 'kraken.tick', venue: 'kraken' },
  { topic: 'oanda.tick', venue: 'oanda' },
];

describe('BusTally and topic reports', () => {
  it('counts records, holes within a session, tail loss from heartbeats, and restarts', () => {
    const t = new BusTally();
    t.observe([tick(1), tick(2), tick(5)] as BusRecord[], 1); // hole 3-4
    t.observe([hb(7)], 2); // tail loss 6-7
    t.observe([tick(1, 's2'), tick(2, 's2')], 3); // restart: new session, no gap
    const [k, o] = topicReports(t, configured, 10_000, WEDNESDAY);
    assert.equal(k!.records, 5);
    assert.equal(k!.gaps, 2);
    assert.equal(k!.missing, 4);
    assert.equal(k!.sessions, 2);
    assert.equal(k!.restarts, 1);
    assert.equal(k!.rate_per_s, 0.5);
    assert.equal(o!.flowing, false);
    const failures = failuresOf({ topics: [k!, o!], storage: [], probe: null });
    assert.deepEqual(failures, ['topic kraken.tick: 2 sequence gap(s), 4 record(s) missing', 'topic oanda.tick: no records in 10s']);
  });
  it('a clean stream has no gaps; a silent OANDA topic at the weekend is not a failure', () => {
    const t = new BusTally();
    t.observe([tick(10), tick(11), tick(12)], 1);
    t.observe([hb(12)], 2);
    const reports = topicReports(t, configured, 10_000, SATURDAY);
    assert.equal(reports[0]!.gaps, 0);
    assert.match(reports[1]!.note, /closed/);
    assert.deepEqual(failuresOf({ topics: reports, storage: [], probe: null }), []);
  });
});

describe('Betfair market statuses', () => {
  it('a silent Betfair topic passes when every market is suspended or closed, fails when one is open', () => {
    const t = new BusTally();
    const bf = [{ topic: 'betfair.market', venue: 'betfair' }];
    const quiet = topicReports(t, bf, 10_000, WEDNESDAY, { 'betfair.market': ['SUSPENDED', 'CLOSED'] });
    assert.match(quiet[0]!.note, /^expected: Betfair market\(s\) SUSPENDED\/CLOSED/);
    assert.deepEqual(failuresOf({ topics: quiet, storage: [], probe: null }), []);
    const open = topicReports(t, bf, 10_000, WEDNESDAY, { 'betfair.market': ['SUSPENDED', 'OPEN'] });
    assert.deepEqual(failuresOf({ topics: open, storage: [], probe: null }), ['topic betfair.market: no records in 10s']);
    const unknown = topicReports(t, bf, 10_000, WEDNESDAY);
    assert.equal(failuresOf({ topics: unknown, storage: [], probe: null }).length, 1);
  });
});

describe('storage reports', () => {
  it('fresh, stale, unreadable, and a closed market', () => {
    const now = WEDNESDAY;
    assert.equal(storageReport({ measurement: 'm', points: 5, newestUs: (now - 2000) * 1000 }, ['kraken'], 60, now).fresh, true);
    const stale = storageReport({ measurement: 'm', points: 0, newestUs: (now - 120_000) * 1000 }, ['kraken'], 60, now);
    assert.equal(stale.fresh, false);
    assert.equal(stale.newest_age_s, 120);
    assert.equal(storageReport({ measurement: 'm', points: null, newestUs: null, error: 'down' }, ['kraken'], 60, now).fresh, false);
    assert.equal(storageReport({ measurement: 'm', points: 0, newestUs: null }, ['oanda'], 60, SATURDAY).fresh, true);
    assert.deepEqual(failuresOf({ topics: [], storage: [stale], probe: { ok: false, round_trip_ms: null, detail: 'x' } }), [
      'storage m: newest point 120s old (limit 60s)',
      'probe: x',
    ]);
  });
});
