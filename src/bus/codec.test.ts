import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { decodeBatch, encodeBatch } from './codec.js';
import type { BusRecord } from '../core/records.js';

const tick = {
  v: 1,
  topic: 'kraken.tick',
  venue: 'kraken',
  kind: 'tick',
  publisher: 'kraken_tick',
  session: '3f0c2a4e-9a51-4c3e-8d0e-6d3b1f7a2b10',
  seq: 1,
  ts_event_us: 1746523046208075,
  ts_recv_us: 1746523046210000,
  instrument: 'BTC/USD',
  bid: '94000.1',
  bid_qty: '1.5',
  ask: '94000.2',
  ask_qty: '0.25',
  last: '94000.1',
  volume: null,
  tradeable: true,
} as BusRecord;

test('round trip keeps every field exactly', () => {
  assert.deepEqual(decodeBatch(encodeBatch([tick, { ...tick, seq: 2 }])), [tick, { ...tick, seq: 2 }]);
});

test('the payload starts as docs/wire-format.md shows, and µs times are msgpack integers, never floats', () => {
  const hex = encodeBatch([tick]).toString('hex');
  assert.ok(hex.startsWith('91de0011a17601a5746f706963ab6b72616b656e2e7469636b'), hex.slice(0, 60));
  // ts_event_us as int64 (0xd3), as documented; a float64 (0xcb) would break the contract.
  assert.ok(hex.includes('ab74735f6576656e745f7573d30006347415c2e24b'), 'ts_event_us encoded as int64');
  assert.ok(!hex.includes('cb4318'), 'no float64 of a time');
});

test('large sequence numbers and gap fields stay exact integers', () => {
  const gap = {
    ...tick,
    kind: 'gap',
    seq: 2 ** 40 + 1,
    reason: 'reconnect',
    gap_start_us: 1746523046208075,
    gap_end_us: 1746523046209075,
    detail: '',
    first_missing_seq: 2 ** 33,
    last_missing_seq: 2 ** 33 + 5,
  } as unknown as BusRecord;
  const [back] = decodeBatch(encodeBatch([gap]));
  assert.deepEqual(back, gap);
});

test('malformed payloads are rejected with a decode error, never a crash', () => {
  const p = new Packr({ useRecords: false });
  for (const bad of [
    Buffer.from([0xc1]),
    p.pack({ v: 2, topic: 't', kind: 'tick', seq: 1, session: 's' }),
    p.pack([{ v: 1, topic: 't', kind: 'nope', seq: 1, session: 's' }]),
    p.pack([1, 2]),
  ]) {
    assert.throws(() => decodeBatch(bad), { code: 'E_DECODE' });
  }
});
