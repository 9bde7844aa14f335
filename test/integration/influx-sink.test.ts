import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configSchema } from '../../src/config/schema.js';
import type { BusRecord, GapRecord, TickRecord } from '../../src/core/records.js';
import { InfluxClient } from '../../src/storage/influx/client.js';
import { InfluxSink } from '../../src/storage/influx/writer.js';
import { InfluxAdmin } from '../../src/storage/influx/admin.js';
import { freePort, startInfluxd, type TestInfluxd } from '../support/influxd.js';

const cfg = configSchema.parse(JSON.parse(readFileSync(new URL('../../integration_config.json', import.meta.url), 'utf8')));
const target = { measurements: { tick: 'kraken_tick' }, eventsMeasurement: 'nbpy_events', retentionPolicy: 'high_frequency' };
const NOW_US = Date.now() * 1000;

const tick = (o: Partial<TickRecord> = {}): TickRecord => ({
  v: 1,
  topic: 'kraken.tick',
  venue: 'kraken',
  kind: 'tick',
  publisher: 'kraken_tick',
  session: 'sess-a',
  seq: 1,
  ts_event_us: NOW_US,
  ts_recv_us: NOW_US,
  instrument: 'XBT/USD',
  bid: '1797.30',
  bid_qty: '1',
  ask: '1797.40',
  ask_qty: '2',
  last: null,
  volume: null,
  tradeable: true,
  ...o,
});

let influx: TestInfluxd;
let client: InfluxClient;
let admin: InfluxAdmin;
const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
let sink: InfluxSink;

before(async () => {
  influx = await startInfluxd();
  client = new InfluxClient({ url: influx.url, requestTimeoutMs: 5000 });
  admin = new InfluxAdmin({ client, influxdb: cfg.influxdb });
  sink = new InfluxSink({
    client,
    database: 'tick',
    measurements: cfg.influxdb.measurements,
    log: (_l, msg, fields) => logs.push({ msg, fields }),
  });
});
after(async () => influx?.stop());

test('retention policies: create twice changes nothing the second time; SHOW RETENTION POLICIES has all three', async () => {
  const first = await admin.create();
  assert.ok(first.changed.includes('database tick created'));
  assert.equal(first.changed.length, 4);
  assert.deepEqual((await admin.create()).changed, []);
  const res = await influx.query('SHOW RETENTION POLICIES ON tick');
  const byName = new Map<string, unknown[]>(res.results[0].series[0].values.map((v: unknown[]) => [v[0], v]));
  assert.deepEqual(byName.get('default'), ['default', '720h0m0s', '24h0m0s', 1, true]);
  assert.deepEqual(byName.get('high_frequency'), ['high_frequency', '168h0m0s', '1h0m0s', 1, false]);
  assert.deepEqual(byName.get('long_term'), ['long_term', '8760h0m0s', '168h0m0s', 1, false]);
  // A changed duration in the config is applied with ALTER.
  const changedCfg = {
    ...cfg.influxdb,
    retentionPolicies: cfg.influxdb.retentionPolicies.map((r) => (r.name === 'high_frequency' ? { ...r, duration: '14d' } : r)),
  };
  const altered = await new InfluxAdmin({ client, influxdb: changedCfg }).create();
  assert.deepEqual(altered.changed, ['retention policy high_frequency altered (duration 168h0m0s -> 14d)']);
  assert.equal((await admin.list()).find((r) => r.name === 'high_frequency')?.duration, '336h0m0s');
  await admin.create();
  await sink.open();
});

test('escaping round trip: spaces, commas, =, quotes, backslashes, XBT/USD', async () => {
  const names = ['XBT/USD', 'a b', 'c,d', 'e=f', 'g\\h', 'ü 🙂'];
  const recs: BusRecord[] = names.map((instrument, i) => tick({ instrument, seq: 100 + i, session: 'esc' }));
  const gap: GapRecord = {
    ...tick({ seq: 200, session: 'esc' }),
    kind: 'gap',
    reason: 'reconnect',
    gap_start_us: 1,
    gap_end_us: 2,
    detail: 'said "bye", \\ then\nleft = gone',
    first_missing_seq: 0,
    last_missing_seq: 0,
  } as GapRecord;
  const res = await sink.write([...recs, gap], target);
  assert.deepEqual(res, { written: names.length + 1, dropped: {} });
  const tags = await influx.query('SHOW TAG VALUES FROM "high_frequency"."kraken_tick" WITH KEY = "instrument"');
  assert.deepEqual(tags.results[0].series[0].values.map((v: string[]) => v[1]).sort(), [...names].sort());
  const ev = await influx.query(
    'SELECT "detail", "reason", "kind", "publisher" FROM "high_frequency"."nbpy_events" WHERE "session" = \'esc\'',
  );
  assert.deepEqual(ev.results[0].series[0].values[0].slice(1), [gap.detail, 'reconnect', 'gap', 'kraken_tick']);
  const bid = await influx.query('SELECT "bid" FROM "high_frequency"."kraken_tick" WHERE "instrument" = \'c,d\'');
  assert.equal(bid.results[0].series[0].values[0][1], 1797.3);
});

test('point identity: 100,000 records of ONE instant and one instrument (100 sessions x 1000 seqs) all stored; a replay does not double', async () => {
  const at = NOW_US + 5_000_000;
  const recs: TickRecord[] = [];
  for (let s = 0; s < 100; s++)
    for (let q = 1; q <= 1000; q++) recs.push(tick({ session: `one-${s}`, seq: q, ts_event_us: at, instrument: 'ONE/INSTANT' }));
  let written = 0;
  for (let i = 0; i < recs.length; i += 5000) written += (await sink.write(recs.slice(i, i + 5000), target)).written;
  assert.equal(written, 100_000);
  const count = async () =>
    (await influx.query('SELECT count("seq") FROM "high_frequency"."kraken_tick" WHERE "instrument" = \'ONE/INSTANT\'')).results[0]
      .series[0].values[0][1];
  assert.equal(await count(), 100_000);
  await sink.write(recs.slice(0, 5000), target);
  assert.equal(await count(), 100_000, 'replayed batch overwrote itself');
  assert.equal(await sink.count('kraken_tick', at), 100_000);
});

test('field type conflict with stored data: dropped with reason, rest of the batch written, one sample logged', async () => {
  // Somebody wrote tradeable as a float in the default policy's shard: the typed conflict lives in the measurement.
  await influx.query('CREATE DATABASE conflict');
  const conflictSink = new InfluxSink({
    client,
    database: 'conflict',
    measurements: cfg.influxdb.measurements,
    log: (_l, msg, fields) => logs.push({ msg, fields }),
  });
  await client.write(`kraken_tick,instrument=X bid=1i ${NOW_US}000`, { db: 'conflict' });
  await assert.rejects(conflictSink.open(), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'E_INFLUX_FIELD_TYPE');
    assert.match(e.message, /measurement "kraken_tick" field "bid" is integer .* but float .*fix:/);
    return true;
  });
  const res = await conflictSink.write([tick({ seq: 1 }), tick({ seq: 2, bid: null }), tick({ seq: 3 })], {
    ...target,
    retentionPolicy: 'autogen',
  });
  assert.deepEqual(res, { written: 1, dropped: { field_type_conflict: 2 } });
  assert.equal(logs.filter((l) => l.fields?.reason === 'field_type_conflict').length, 1);
  await conflictSink.write([tick({ seq: 4 })], { ...target, retentionPolicy: 'autogen' });
  assert.equal(logs.filter((l) => l.fields?.reason === 'field_type_conflict').length, 1, 'sampled once');
});

test('partial writes: unparseable lines and points beyond retention are dropped and named; a batch-internal type conflict is bisected', async () => {
  const good = (seq: number) => `kraken_tick,instrument=P,session=p bid=1,seq=${seq}i ${NOW_US}${String(seq).padStart(3, '0')}`;
  const r1 = await sink.writeLines([good(1), 'this is not line protocol', good(2)], 'high_frequency');
  assert.deepEqual(r1, { written: 2, dropped: { partial_write: 1 } });
  const oldUs = NOW_US - 30 * 86_400_000_000;
  const r2 = await sink.write([tick({ seq: 9, ts_event_us: oldUs, instrument: 'OLD' }), tick({ seq: 10, instrument: 'OLD' })], target);
  assert.deepEqual(r2, { written: 1, dropped: { beyond_retention: 1 } });
  // In one batch, two points disagree on a new field's type: InfluxDB rejects the whole batch.
  const lines = Array.from(
    { length: 64 },
    (_, i) => `bisect,session=b newf=${i === 40 ? '"text"' : '1'} ${NOW_US}${String(i).padStart(3, '0')}`,
  );
  const r3 = await sink.writeLines(lines, 'high_frequency');
  assert.deepEqual(r3, { written: 63, dropped: { field_type_conflict: 1 } });
  const n = await influx.query('SELECT count("newf") FROM "high_frequency"."bisect"');
  assert.equal(n.results[0].series[0].values[0][1], 63);
});

test('database not found: created, then the batch retried', async () => {
  const s2 = new InfluxSink({ client, database: 'fresh_db', measurements: cfg.influxdb.measurements });
  const res = await s2.write([tick()], { ...target, retentionPolicy: 'autogen' });
  assert.deepEqual(res, { written: 1, dropped: {} });
});

test('an unreachable or hung store is a retriable error; a missing retention policy too', async () => {
  const port = await freePort();
  const dead = new InfluxSink({
    client: new InfluxClient({ url: `http://127.0.0.1:${port}`, requestTimeoutMs: 1000 }),
    database: 'tick',
    measurements: cfg.influxdb.measurements,
  });
  await assert.rejects(
    dead.write([tick()], target),
    (e: Error & { code?: string; retriable?: boolean }) => e.retriable === true && e.code === 'E_INFLUX_UNREACHABLE',
  );
  const noRp = await sink.write([tick()], { ...target, retentionPolicy: 'nope' }).catch((e) => e);
  assert.equal(noRp.retriable, true);
  assert.equal(noRp.code, 'E_INFLUX_RP_MISSING');
  const slowClient = new InfluxClient({ url: influx.url, requestTimeoutMs: 300 });
  const slow = new InfluxSink({ client: slowClient, database: 'tick', measurements: cfg.influxdb.measurements });
  influx.pause();
  try {
    await assert.rejects(
      slow.write([tick()], target),
      (e: Error & { code?: string; retriable?: boolean }) => e.retriable === true && e.code === 'E_INFLUX_TIMEOUT',
    );
    // A store that did not answer in time gets twice as long the next time (AdaptiveTimeout).
    assert.equal(slowClient.writeTimeoutMs, 600);
    await assert.rejects(slow.write([tick()], target), (e: Error & { code?: string }) => e.code === 'E_INFLUX_TIMEOUT');
    assert.equal(slowClient.writeTimeoutMs, 1200);
  } finally {
    influx.resume();
  }
  // Back to prompt answers: the timeout eases back to the configured value.
  for (let i = 0; i < 20 && slowClient.writeTimeoutMs > 300; i++) await slow.write([tick({ seq: 1000 + i })], target);
  assert.equal(slowClient.writeTimeoutMs, 300);
});

test('admin: stats, downsampling into long_term, cleanup dry run', async () => {
  const minute = Math.floor(NOW_US / 60_000_000) * 60_000_000 - 3 * 60_000_000;
  const recs = Array.from({ length: 120 }, (_, i) =>
    tick({
      session: 'ds',
      seq: i + 1,
      instrument: 'DS',
      ts_event_us: minute + i * 1_000_000,
      bid: String(100 + i),
      ask: String(102 + i),
      last: String(101 + i),
    }),
  );
  await sink.write(recs, target);
  const ds = await admin.downsample({ since_us: minute, until_us: minute + 120_000_000 });
  assert.ok(ds.points >= 2);
  const bars = await influx.query(
    'SELECT "mid_open","mid_high","mid_low","mid_close","last_close","count" FROM "long_term"."kraken_tick_1m" WHERE "instrument" = \'DS\'',
  );
  assert.deepEqual(
    bars.results[0].series[0].values.map((v: number[]) => v.slice(1)),
    [
      [101, 160, 101, 160, 160, 60],
      [161, 220, 161, 220, 220, 60],
    ],
  );
  // Late data for the first minute: a re-run covers it.
  await sink.write(
    [tick({ session: 'ds-late', seq: 1, instrument: 'DS', ts_event_us: minute + 59_500_000, bid: '500', ask: '502', last: '1' })],
    target,
  );
  await admin.downsample({ since_us: minute, until_us: minute + 120_000_000 });
  const again = await influx.query('SELECT "mid_high","count" FROM "long_term"."kraken_tick_1m" WHERE "instrument" = \'DS\'');
  assert.deepEqual(again.results[0].series[0].values[0].slice(1), [501, 61]);

  const st = await admin.stats();
  const kt = st.measurements.find((m) => m.measurement === 'kraken_tick' && m.retentionPolicy === 'high_frequency');
  assert.ok(kt && kt.points > 100_000 && kt.series > 100 && kt.first_us !== null && kt.last_us! >= kt.first_us, JSON.stringify(kt));
  assert.ok(st.measurements.some((m) => m.measurement === 'kraken_tick_1m' && m.retentionPolicy === 'long_term'));
  const dry = await admin.cleanup({ measurement: 'kraken_tick', olderThan: '1m', dryRun: true });
  assert.ok(dry.total >= 120);
  assert.ok((await sink.count('kraken_tick')) > 100_000, 'dry run deleted nothing');
  await assert.rejects(admin.cleanup({ olderThan: '1m; DROP DATABASE tick', dryRun: true }));
});
