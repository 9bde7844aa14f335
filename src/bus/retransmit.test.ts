import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReply, decodeRequest, encodeReply, encodeRequest } from './retransmit.js';
import { wireInt } from './codec.js';
import type { BusRecord } from '../core/records.js';

// 2^40: past the 32-bit range, where msgpackr alone would write a float64.
const BIG = 2 ** 40;
const INT64_2_40 = Buffer.from([0xd3, 0, 0, 1, 0, 0, 0, 0, 0]);
const FLOAT64_2_40 = Buffer.from([0xcb, 0x42, 0x70, 0, 0, 0, 0, 0, 0]);

test('wireInt: integers past 32 bits become BigInt (msgpack int64); others pass through', () => {
  assert.equal(wireInt(BIG), BigInt(BIG));
  assert.equal(wireInt(-(2 ** 33)), BigInt(-(2 ** 33)));
  assert.equal(wireInt(0xffffffff), 0xffffffff);
  assert.equal(wireInt(-0x80000000), -0x80000000);
  assert.equal(wireInt(1.5e12 + 0.5), 1.5e12 + 0.5);
});

test('a request with seqs past 32 bits goes out as msgpack integers and round-trips', () => {
  const buf = encodeRequest({ id: 7, session: 's-1', first: BIG, last: BIG + 3 });
  // int64 (0xd3) then the 8 bytes of 2^40; msgpackr on its own writes a float64 (0xcb 42 70 ...).
  assert.ok(buf.includes(INT64_2_40), buf.toString('hex'));
  assert.ok(!buf.includes(FLOAT64_2_40), buf.toString('hex'));
  assert.deepEqual(decodeRequest(buf), { id: 7, session: 's-1', first: BIG, last: BIG + 3 });
});

test('a reply chunk round-trips records and unavailable ranges', () => {
  const rec = {
    v: 1,
    topic: 'kraken.tick',
    venue: 'kraken',
    kind: 'status',
    publisher: 'p',
    session: 's-1',
    seq: BIG + 1,
    ts_event_us: 1746523046208075,
    ts_recv_us: 1746523046210000,
    instrument: '',
    status: 'online',
    detail: '',
  } as BusRecord;
  const reply = {
    id: 3,
    session: 's-1',
    first: BIG,
    last: BIG + 2,
    records: [rec],
    unavailable: [[BIG, BIG] as [number, number]],
    done: true,
  };
  const buf = encodeReply({ ...reply, unavailable: [[BIG, BIG]] });
  assert.ok(buf.includes(INT64_2_40) && !buf.includes(FLOAT64_2_40), buf.toString('hex'));
  assert.deepEqual(decodeReply(buf), { ...reply, unavailable: [[BIG, BIG]] });
});
