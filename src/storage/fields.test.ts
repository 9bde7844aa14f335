import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DepthRecord, HeartbeatRecord, TickRecord } from '../core/records.js';
import type { MeasurementSchema } from '../config/schema.js';
import { identityKey, measurementFor, pointTimeNs, pointTimeNsBig, recordToPoint, recordsToPoints, type Point } from './fields.js';
import type { WriteTarget } from './sink.js';

const base = {
  v: 1,
  topic: 'kraken.tick',
  venue: 'kraken',
  publisher: 'kraken_tick',
  session: 's1',
  ts_recv_us: 1_700_000_000_000_250,
} as const;
const tick = (seq: number, over: Partial<TickRecord> = {}): TickRecord => ({
  ...base,
  kind: 'tick',
  seq,
  ts_event_us: 1_700_000_000_000_000,
  instrument: 'BTC/USD',
  bid: '100.50',
  bid_qty: '1',
  ask: '101',
  ask_qty: null,
  last: null,
  volume: null,
  tradeable: true,
  ...over,
});
const tickSchema: MeasurementSchema = {
  tags: ['instrument'],
  fields: { bid: 'float', ask_qty: 'float', ask: 'float', tradeable: 'boolean', seq: 'integer', session: 'string' },
};
const target: WriteTarget = { measurements: { tick: 'kraken_tick' }, eventsMeasurement: 'nbpy_events', retentionPolicy: 'high_frequency' };

describe('recordToPoint', () => {
  it('types fields per schema, leaves nulls out, tags from the record', () => {
    const r = recordToPoint(tick(7), tickSchema, 'kraken_tick');
    assert.ok(r.ok);
    assert.deepEqual(r.point.tags, { instrument: 'BTC/USD' });
    // Floats keep the venue's decimal text; session is identity, never a field.
    assert.deepEqual(r.point.fields, { bid: '100.50', ask: '101', tradeable: true, seq: 7 });
    assert.equal(r.point.session, 's1');
    assert.equal(r.point.timeUs, 1_700_000_000_000_000);
  });
  it('flattens depth levels to bid_N_price / ask_N_qty', () => {
    const d: DepthRecord = {
      ...base,
      kind: 'depth',
      seq: 1,
      ts_event_us: 5,
      instrument: 'ETH/USD',
      bids: [
        ['10.5', '2'],
        ['10.4', '3'],
      ],
      asks: [['10.6', '1']],
      snapshot: true,
      checksum: 123,
      checksum_ok: true,
    };
    const r = recordToPoint(
      d,
      { tags: ['instrument'], fields: { bid_2_price: 'float', ask_1_qty: 'float', ask_2_price: 'float', checksum: 'integer' } },
      'd',
    );
    assert.ok(r.ok);
    assert.deepEqual(r.point.fields, { bid_2_price: '10.4', ask_1_qty: '1', checksum: 123 });
  });
  it('rejects a value that cannot take its type, and a record with no field', () => {
    const bad = recordToPoint(tick(1, { bid: 'abc' }), tickSchema, 'kraken_tick');
    assert.equal(bad.ok, false);
    assert.equal(!bad.ok && bad.reason, 'invalid_record');
    const none = recordToPoint(tick(1), { tags: [], fields: { nothing: 'float' } }, 'x');
    assert.equal(!none.ok && none.reason, 'invalid_record');
    assert.equal(recordToPoint(tick(1), undefined, 'x').ok, false);
  });
});

describe('measurementFor / recordsToPoints', () => {
  it('routes gap and status to the events measurement, drops others with no_measurement', () => {
    assert.equal(measurementFor({ kind: 'gap' }, target), 'nbpy_events');
    assert.equal(measurementFor({ kind: 'status' }, target), 'nbpy_events');
    assert.equal(measurementFor({ kind: 'trade' }, target), null);
    const hb: HeartbeatRecord = {
      ...base,
      kind: 'heartbeat',
      seq: 1,
      ts_event_us: 1,
      instrument: '',
      data_topic: 'x',
      last_venue_msg_age_ms: 1,
      connected: true,
    };
    const b = recordsToPoints([tick(1), hb], target, { kraken_tick: tickSchema });
    assert.equal(b.points.length, 1);
    assert.deepEqual(b.dropped, { no_measurement: 1 });
  });
});

describe('point identity', () => {
  const point = (seq: number, timeUs = 1_000, session = 's', tags: Record<string, string> = { i: 'a' }): Point => ({
    measurement: 'm',
    tags,
    fields: { seq },
    timeUs,
    session,
    seq,
  });
  it('is ts*1000 + seq mod 1000, as text and as bigint', () => {
    assert.equal(pointTimeNs(1_000, 1), '1000001');
    assert.equal(pointTimeNs(1_700_000_000_123_456, 123_999), '1700000000123456999');
    assert.equal(pointTimeNsBig(1_700_000_000_123_456, 123_999), 1_700_000_000_123_456_999n);
    assert.equal(pointTimeNs(0, 5), '5');
  });
  it('999 consecutive seqs of one session and series in one µs are distinct; the 1000-apart pair is the documented bound', () => {
    const keys = new Set(Array.from({ length: 1000 }, (_, i) => identityKey(point(i + 1))));
    assert.equal(keys.size, 1000);
    assert.equal(identityKey(point(5)), identityKey(point(1005)), 'seqs 1000 apart in one µs collide (the bound)');
  });
  it('other sessions and series never collide; the same record is the same point', () => {
    const k = [point(5), point(5, 1_000, 'other'), point(5, 1_000, 's', { i: 'b' })].map(identityKey);
    assert.equal(new Set(k).size, 3);
    assert.equal(identityKey(point(5)), identityKey(structuredClone(point(5))));
  });
});
