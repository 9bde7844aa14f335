import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { configSchema } from '../../config/schema.js';
import type { BusRecord, DepthRecord, GapRecord, RunnerRecord, TickRecord } from '../../core/records.js';
import { readFileSync } from 'node:fs';
import { LineBuilder, encodeField, escapeKey, escapeMeasurement, pointTimeNs, quoteString, tagValueExpressible } from './line-protocol.js';

const cfg = configSchema.parse(JSON.parse(readFileSync(new URL('../../../integration_config.json', import.meta.url), 'utf8')));
const schemas = cfg.influxdb.measurements;
const target = {
  measurements: { tick: 'kraken_tick', depth: 'kraken_depth', runner: 'betfair_runner' },
  eventsMeasurement: 'nbpy_events',
  retentionPolicy: 'high_frequency',
};

const base = {
  v: 1,
  venue: 'kraken' as const,
  publisher: 'kraken_tick',
  session: 'sess-1',
  topic: 'kraken.tick',
  ts_event_us: 1_700_000_000_123_456,
  ts_recv_us: 1_700_000_000_200_000,
  instrument: 'XBT/USD',
};
const tick = (o: Partial<TickRecord> = {}): TickRecord => ({
  ...base,
  kind: 'tick',
  seq: 7,
  bid: '1797.30',
  bid_qty: '1',
  ask: '1797.40',
  ask_qty: null,
  last: null,
  volume: '12.5',
  tradeable: true,
  ...o,
});

test('tick -> line: tags sorted with session, floats stay floats, nulls omitted, ns time carries seq', () => {
  const b = new LineBuilder(schemas);
  const l = b.line(tick(), target);
  assert.equal(
    l,
    'kraken_tick,instrument=XBT/USD,session=sess-1 bid=1797.30,bid_qty=1,ask=1797.40,volume=12.5,seq=7i,ts_recv_us=1700000000200000i 1700000000123456007',
  );
});

test('depth levels map to bid_N/ask_N; runner back/lay to back_N/lay_N', () => {
  const b = new LineBuilder(schemas);
  const d: DepthRecord = {
    ...base,
    kind: 'depth',
    seq: 1234,
    bids: [
      ['100.5', '2'],
      ['100.4', '3'],
    ],
    asks: [['100.6', '0.5']],
    snapshot: true,
    checksum: 42,
    checksum_ok: true,
  };
  const l = b.line(d, target) as string;
  assert.match(
    l,
    /^kraken_depth,instrument=XBT\/USD,session=sess-1 bid_1_price=100.5,bid_1_qty=2,bid_2_price=100.4,bid_2_qty=3,ask_1_price=100.6,ask_1_qty=0.5,checksum=42i,checksum_ok=true,snapshot=true,seq=1234i,/,
  );
  assert.ok(l.endsWith(' 1700000000123456234'));
  const r: RunnerRecord = {
    ...base,
    venue: 'betfair',
    kind: 'runner',
    seq: 3,
    instrument: '1.1:5:0',
    market_id: '1.180770798',
    selection_id: 12345,
    hc: 0,
    back: [['2.5', '10']],
    lay: [['2.6', '4.2']],
    ltp: '2.52',
    tv: null,
    clk: 'AAA',
    snapshot: false,
  };
  const rl = b.line(r, target) as string;
  assert.match(
    rl,
    /^betfair_runner,market_id=1\.180770798,selection_id=12345,session=sess-1 hc=0,back_1_price=2\.5,back_1_qty=10,lay_1_price=2\.6,lay_1_qty=4\.2,ltp=2\.52,clk="AAA",snapshot=false,seq=3i,/,
  );
});

test('gap and status records go to the events measurement with publisher/kind/reason tags', () => {
  const b = new LineBuilder(schemas);
  const g: GapRecord = {
    ...base,
    kind: 'gap',
    seq: 9,
    reason: 'reconnect',
    gap_start_us: 1,
    gap_end_us: 2,
    detail: 'ws "closed"',
    first_missing_seq: 0,
    last_missing_seq: 0,
  };
  assert.equal(
    b.line(g, target),
    'nbpy_events,kind=gap,publisher=kraken_tick,reason=reconnect,session=sess-1 instrument="XBT/USD",detail="ws \\"closed\\"",gap_start_us=1i,gap_end_us=2i,first_missing_seq=0i,last_missing_seq=0i,seq=9i,ts_recv_us=1700000000200000i 1700000000123456009',
  );
});

test('a record with none of the schema fields is dropped as invalid_record (as in the embedded store)', () => {
  const b = new LineBuilder({ bare: { tags: ['instrument'], fields: { bid: 'float' } } });
  const out = b.build([tick({ bid: null })], { ...target, measurements: { tick: 'bare' } });
  assert.deepEqual(out.dropped, { invalid_record: 1 });
});

test('drops: unknown kind, missing schema, bad timestamps, inexpressible tag values', () => {
  const b = new LineBuilder(schemas);
  const hb = { ...base, kind: 'heartbeat', seq: 1, data_topic: 'x', last_venue_msg_age_ms: 1, connected: true } as BusRecord;
  const out = b.build([tick(), hb, tick({ ts_event_us: -1 }), tick({ instrument: 'bad\\' }), tick({ instrument: 'a\\,b' })], target);
  assert.equal(out.lines.length, 1);
  assert.deepEqual(out.dropped, { no_measurement: 1, invalid_record: 3 });
  assert.ok(out.samples.no_measurement?.includes('heartbeat'));
  assert.deepEqual(b.build([tick()], { ...target, measurements: { tick: 'nope' } }).dropped, { no_measurement: 1 });
});

test('escaping', () => {
  assert.equal(escapeMeasurement('a b,c=d'), 'a\\ b\\,c=d');
  assert.equal(escapeKey('a b,c=d'), 'a\\ b\\,c\\=d');
  assert.equal(escapeKey('XBT/USD'), 'XBT/USD');
  assert.equal(quoteString('say "hi" \\ bye'), '"say \\"hi\\" \\\\ bye"');
  assert.equal(tagValueExpressible('a\\b'), true);
  assert.equal(tagValueExpressible('a\\'), false);
  assert.equal(tagValueExpressible('a\\ b'), false);
});

test('field encoding by type', () => {
  assert.equal(encodeField('float', '1'), '1');
  assert.equal(encodeField('float', '.5'), '0.5');
  assert.equal(encodeField('float', '-.5'), '-0.5');
  assert.equal(encodeField('float', '5.'), '5.0');
  assert.equal(encodeField('float', 2), '2');
  assert.equal(encodeField('float', 'abc'), undefined);
  assert.equal(encodeField('float', NaN), undefined);
  assert.equal(encodeField('integer', 3), '3i');
  assert.equal(encodeField('integer', '42'), '42i');
  assert.equal(encodeField('integer', '4.2'), undefined);
  assert.equal(encodeField('boolean', false), 'false');
  assert.equal(encodeField('string', 12), '"12"');
  assert.equal(encodeField('string', null), undefined);
});

test('point time: exact µs, seq in the sub-µs digits, beyond 2^53 without rounding', () => {
  assert.equal(pointTimeNs(1_700_000_000_123_456, 1), '1700000000123456001');
  assert.equal(pointTimeNs(1_700_000_000_123_456, 123_999), '1700000000123456999');
  assert.equal(pointTimeNs(0, 5), '5');
});

test('point identity: distinct records never share measurement+tags+time (sessions, publishers, <1000 seqs per µs)', () => {
  const b = new LineBuilder(schemas);
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          session: fc.constantFrom('s1', 's2', 's3'),
          seqStart: fc.integer({ min: 1, max: 1e9 }),
          n: fc.integer({ min: 1, max: 999 }),
          ts: fc.integer({ min: 0, max: 3 }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      (groups) => {
        // One group per session (a session's seqs are unique); all records at one of 4 instants.
        const seen = new Set<string>();
        const bySession = new Map<string, (typeof groups)[number]>();
        for (const g of groups) bySession.set(g.session, g);
        let total = 0;
        for (const g of bySession.values())
          for (let i = 0; i < g.n; i++) {
            const l = b.line(
              tick({ session: g.session, seq: g.seqStart + i, ts_event_us: 1_700_000_000_000_000 + g.ts }),
              target,
            ) as string;
            const key = l.slice(0, l.indexOf(' ')) + l.slice(l.lastIndexOf(' '));
            seen.add(key);
            total++;
          }
        return seen.size === total;
      },
    ),
    { numRuns: 200 },
  );
});

test('same record -> same line (idempotent replays)', () => {
  const b = new LineBuilder(schemas);
  assert.equal(b.line(tick(), target), new LineBuilder(schemas).line(structuredClone(tick()), target));
});

test('fast path: build() gives exactly the lines and drops of the reference line() path', () => {
  const value = fc.oneof(
    fc.constantFrom(null, undefined, '1', '1.5', '.5', '5.', '-2.25', '1e3', 'abc', '', 'x y', 'a\\', true, false, 7, 1.25, NaN),
    fc.string({ maxLength: 6 }),
  );
  const level = fc.tuple(fc.constantFrom('1.5', '2', 'x', '3.'), fc.constantFrom('0.1', '1', 'y'));
  const rec = fc.record({
    kind: fc.constantFrom('tick', 'depth', 'gap', 'trade'),
    session: fc.constantFrom('s-1', 'a b', 'x\\', 'q,=', ''),
    seq: fc.oneof(fc.nat(5000), fc.constant(-1), fc.constant(1.5)),
    ts_event_us: fc.oneof(fc.constant(1_700_000_000_000_000), fc.nat(), fc.constant(-5)),
    instrument: fc.constantFrom('XBT/USD', 'a b', 'c\\', '', 'x=y'),
    bid: value,
    ask: value,
    bid_qty: value,
    last: value,
    volume: value,
    tradeable: value,
    reason: value,
    bids: fc.array(level, { maxLength: 3 }),
    asks: fc.array(level, { maxLength: 3 }),
  });
  fc.assert(
    fc.property(fc.array(rec, { maxLength: 20 }), (raw) => {
      const records = raw.map(
        (r) => ({ v: 1, topic: 'kraken.x', venue: 'kraken', publisher: 'p', ts_recv_us: 0, ...r }) as unknown as BusRecord,
      );
      const fast = new LineBuilder(schemas);
      const slow = new LineBuilder(schemas);
      // Twice: the first pass fills the series cache (the fast path falls back on a cache miss).
      for (let pass = 0; pass < 2; pass++) {
        const built = fast.build(records, target);
        const lines: string[] = [];
        const dropped: Record<string, number> = {};
        for (const r of records) {
          const l = slow.line(r, target);
          if (typeof l === 'string') lines.push(l);
          else dropped[l.reason] = (dropped[l.reason] ?? 0) + 1;
        }
        assert.deepEqual(built.lines, lines);
        assert.deepEqual(built.dropped, dropped);
      }
    }),
    { numRuns: 300 },
  );
});
