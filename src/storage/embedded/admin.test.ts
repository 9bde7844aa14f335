import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../core/clock.js';
import { CONTRACT_MEASUREMENTS, CONTRACT_TARGET, RecordFactory } from '../../../test/support/sink-contract.js';
import { EmbeddedRetentionAdmin } from './admin.js';
import { EmbeddedSink } from './store.js';

const MIN = 60_000_000;
const T0 = 1_700_000_040_000_000 - (1_700_000_040_000_000 % MIN); // a minute boundary
const policies = [
  { name: 'default', duration: '30d', default: true },
  { name: 'high_frequency', duration: '7d' },
  { name: 'long_term', duration: '365d' },
];

async function setup(nowUs: number) {
  const clock = new FakeClock(nowUs / 1000);
  const sink = new EmbeddedSink({ path: ':memory:', measurements: CONTRACT_MEASUREMENTS, clock });
  await sink.open();
  const admin = new EmbeddedRetentionAdmin(sink, { retentionPolicies: policies, clock });
  return { clock, sink, admin };
}

describe('EmbeddedRetentionAdmin', () => {
  it('create records the policies; list returns them', async () => {
    const { sink, admin } = await setup(T0);
    const listed = await admin.create();
    assert.deepEqual(
      listed.map((p) => [p.name, p.duration, p.default]),
      [
        ['default', '30d', true],
        ['high_frequency', '7d', false],
        ['long_term', '365d', false],
      ],
    );
    assert.equal(listed[1]!.durationUs, 7 * 86_400_000_000);
    await admin.create(); // idempotent
    assert.equal((await admin.list()).length, 3);
    await sink.close();
  });

  it('cleanup deletes rows older than their policy; a dry run only counts', async () => {
    const { clock, sink, admin } = await setup(T0);
    await admin.create();
    const f = new RecordFactory(T0);
    await sink.write([f.tick(0), f.tick(1)], CONTRACT_TARGET); // high_frequency
    await sink.write([f.tick(2)], { ...CONTRACT_TARGET, retentionPolicy: 'long_term' });
    clock.advance(8 * 86_400_000); // 8 days later
    const dry = await admin.cleanup({ dryRun: true });
    assert.deepEqual(
      dry.entries.map((e) => [e.measurement, e.retentionPolicy, e.points]),
      [['c_tick', 'high_frequency', 2]],
    );
    assert.equal(await sink.count('c_tick'), 3);
    const done = await admin.cleanup();
    assert.equal(done.total, 2);
    assert.equal(await sink.count('c_tick'), 1);
    assert.equal((await admin.cleanup()).total, 0);
    await sink.close();
  });

  it('stats: points, series, first/last, points in the last minute', async () => {
    const { sink, admin } = await setup(T0 + 2 * MIN);
    const f = new RecordFactory(T0);
    await sink.write(
      [f.tick(0, 'BTC/USD'), f.tick(1, 'ETH/USD'), { ...f.tick(2, 'ETH/USD'), ts_event_us: T0 + 90_000_000 }],
      CONTRACT_TARGET,
    );
    const s = (await admin.stats()).find((x) => x.measurement === 'c_tick')!;
    assert.deepEqual(s, { measurement: 'c_tick', points: 3, series: 2, firstUs: T0, lastUs: T0 + 90_000_000, lastMinutePoints: 1 });
    await sink.close();
  });

  it('downsample writes 1-minute OHLC bars of mid and last, idempotently', async () => {
    const { sink, admin } = await setup(T0 + 10 * MIN);
    const f = new RecordFactory(T0);
    const q = (i: number, t: number, bid: string, ask: string, last: string, volume: string) => ({
      ...f.tick(i),
      ts_event_us: T0 + t,
      bid,
      ask,
      last,
      volume,
    });
    await sink.write(
      [
        q(0, 1_000_000, '10', '12', '11', '100'), // mid 11
        q(1, 20_000_000, '14', '16', '15', '101'), // mid 15 (high)
        q(2, 30_000_000, '8', '10', '9', '102'), // mid 9 (low)
        q(3, 59_000_000, '12', '14', '13', '103'), // mid 13 (close)
        q(4, MIN + 5_000_000, '20', '22', '21', '104'), // next minute
      ],
      CONTRACT_TARGET,
    );
    const r = await admin.downsample('c_tick', { fromUs: T0 + 1, toUs: T0 + MIN + 1 });
    assert.deepEqual(r, { measurement: 'c_tick', target: 'c_tick_1m', fromUs: T0, toUs: T0 + 2 * MIN, bars: 2 });
    const read = () =>
      sink.withConnection(async (c) =>
        (
          await c.runAndReadAll(
            'SELECT retention_policy, instrument, time_us, mid_open, mid_high, mid_low, mid_close, last_open, last_close, "count", volume FROM c_tick_1m ORDER BY time_us',
          )
        ).getRowObjectsJS(),
      );
    const bars = await read();
    assert.deepEqual(bars[0], {
      retention_policy: 'long_term',
      instrument: 'BTC/USD',
      time_us: BigInt(T0),
      mid_open: 11,
      mid_high: 15,
      mid_low: 9,
      mid_close: 13,
      last_open: 11,
      last_close: 13,
      count: 4n,
      volume: 103,
    });
    assert.equal(bars[1]!.count, 1n);
    await admin.downsample('c_tick', { fromUs: T0, toUs: T0 + 2 * MIN });
    assert.deepEqual(await read(), bars, 're-running a range rewrites the same bars');
    assert.equal((await admin.stats()).find((s) => s.measurement === 'c_tick_1m')?.points, 2);
    await assert.rejects(admin.downsample('nope', { fromUs: 0, toUs: 1 }), /no measurement nope/);
    await sink.close();
  });

  it('downsample of trades: last is the price, volume the summed qty', async () => {
    const { sink, admin } = await setup(T0 + 10 * MIN);
    const f = new RecordFactory(T0);
    await sink.write(
      [
        { ...f.trade(0), price: '100', qty: '0.5' },
        { ...f.trade(1), price: '102', qty: '0.25' },
      ],
      CONTRACT_TARGET,
    );
    await admin.downsample('c_trades', { fromUs: T0, toUs: T0 + MIN });
    const rows = await sink.withConnection(async (c) =>
      (await c.runAndReadAll('SELECT mid_open, last_open, last_high, "count", volume FROM c_trades_1m')).getRowObjectsJS(),
    );
    assert.deepEqual(rows, [{ mid_open: null, last_open: 100, last_high: 102, count: 2n, volume: 0.75 }]);
    await sink.close();
  });
});
