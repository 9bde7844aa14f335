import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../core/clock.js';
import { CONTRACT_MEASUREMENTS, CONTRACT_TARGET, RecordFactory } from '../../../test/support/sink-contract.js';
import { EmbeddedSink, createTableSql, schemaProblems } from './store.js';

const policies = [
  { name: 'high_frequency', duration: '7d' },
  { name: 'long_term', duration: 'INF' },
];
const T0 = 1_700_000_000_000_000;

describe('EmbeddedSink (in memory)', () => {
  it('drops points older than the policy (beyond_retention) and writes to unknown policies (bad_request)', async () => {
    const clock = new FakeClock(T0 / 1000 + 8 * 86_400_000);
    const sink = new EmbeddedSink({ path: ':memory:', measurements: CONTRACT_MEASUREMENTS, retentionPolicies: policies, clock });
    await sink.open();
    const f = new RecordFactory(T0);
    assert.deepEqual(await sink.write([f.tick(0)], CONTRACT_TARGET), { written: 0, dropped: { beyond_retention: 1 } });
    assert.deepEqual(await sink.write([f.tick(0)], { ...CONTRACT_TARGET, retentionPolicy: 'long_term' }), { written: 1, dropped: {} });
    assert.deepEqual(await sink.write([f.tick(1)], { ...CONTRACT_TARGET, retentionPolicy: 'nope' }), {
      written: 0,
      dropped: { bad_request: 1 },
    });
    assert.equal(await sink.count('c_tick'), 1);
    assert.equal(await sink.count('no_such_table'), 0);
    await sink.close();
  });

  it('an overwrite keeps fields the new point lacks, as InfluxDB does', async () => {
    const sink = new EmbeddedSink({ path: ':memory:', measurements: CONTRACT_MEASUREMENTS });
    await sink.open();
    const f = new RecordFactory(T0);
    const t = f.tick(0);
    await sink.write([t], CONTRACT_TARGET);
    await sink.write([{ ...t, bid: null, ask: '200' }], CONTRACT_TARGET);
    const rows = await sink.withConnection(async (c) => (await c.runAndReadAll('SELECT bid, ask, seq FROM c_tick')).getRowObjectsJS());
    assert.deepEqual(rows, [{ bid: 100.5, ask: 200, seq: BigInt(t.seq) }]);
    await sink.close();
  });

  it('keeps distinct sessions apart even at the same time and seq', async () => {
    const sink = new EmbeddedSink({ path: ':memory:', measurements: CONTRACT_MEASUREMENTS });
    await sink.open();
    const a = new RecordFactory(T0, 'session-a').tick(0);
    const b = new RecordFactory(T0, 'session-b').tick(0);
    assert.equal(a.seq, b.seq);
    await sink.write([a, b], CONTRACT_TARGET);
    assert.equal(await sink.count('c_tick'), 2);
    await sink.close();
  });
});

describe('schema checks', () => {
  it('refuses reserved column names and a non-string session', () => {
    assert.equal(schemaProblems('m', { tags: ['time_us'], fields: { x: 'float' } }).length, 1);
    assert.equal(schemaProblems('m', { tags: ['session'], fields: { x: 'float' } }).length, 1);
    assert.equal(schemaProblems('m', { tags: [], fields: { session: 'integer' } }).length, 1);
    assert.equal(schemaProblems('m', { tags: ['a'], fields: { a: 'float' } }).length, 1);
    assert.deepEqual(schemaProblems('m', { tags: ['instrument'], fields: { session: 'string', bid: 'float' } }), []);
    assert.throws(
      () => new EmbeddedSink({ path: ':memory:', measurements: { m: { tags: ['retention_policy'], fields: {} } } }),
      /reserved/,
    );
  });
  it('keys a table on policy, tags, session and time_ns', () => {
    assert.match(
      createTableSql('m', { tags: ['instrument'], fields: { bid: 'float' } }),
      /PRIMARY KEY \(retention_policy, "instrument", session, time_ns\)/,
    );
  });
});
