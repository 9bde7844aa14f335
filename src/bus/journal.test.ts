import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BusRecord } from '../core/records.js';
import { tickRecord, tickRecords } from '../../test/support/records.js';
import { encodeBatch } from './codec.js';
import { PublishJournal } from './journal.js';

const rec = (seq: number, session = 's1'): BusRecord => tickRecord(seq, { session });
const recs = (a: number, b: number) => tickRecords(a, b);

describe('PublishJournal', () => {
  it('returns a range exactly, records intact and in order', () => {
    const j = new PublishJournal('s1', { maxRecords: 10_000, maxAgeMs: 60_000, maxBytes: 1 << 30, chunkRecords: 64, nowMs: () => 0 });
    j.append(recs(1, 1000));
    const r = j.range('s1', 100, 300);
    assert.deepEqual(
      r.records.map((x) => x.seq),
      recs(100, 300).map((x) => x.seq),
    );
    assert.deepEqual(r.unavailable, []);
    assert.deepEqual(r.records[0], rec(100));
  });

  it('keeps at most maxRecords and names the evicted part unavailable', () => {
    const j = new PublishJournal('s1', { maxRecords: 1000, maxAgeMs: 60_000, maxBytes: 1 << 30, chunkRecords: 100, nowMs: () => 0 });
    j.append(recs(1, 5000));
    const st = j.stats();
    assert.ok(st.records <= 1000 && st.records >= 900, `records ${st.records}`);
    assert.equal(st.last_seq, 5000);
    const r = j.range('s1', 1, 5000);
    assert.deepEqual(r.unavailable, [[1, st.first_seq - 1]]);
    assert.equal(r.records.length, 5000 - st.first_seq + 1);
    assert.equal(r.records[0]!.seq, st.first_seq);
  });

  it('bounds bytes and age', () => {
    let now = 0;
    const j = new PublishJournal('s1', { maxRecords: 1e6, maxAgeMs: 1000, maxBytes: 50_000, chunkRecords: 50, nowMs: () => now });
    j.append(recs(1, 2000));
    assert.ok(j.stats().bytes <= 50_000, `bytes ${j.stats().bytes}`);
    assert.ok(j.stats().records > 0);
    now = 5000;
    assert.deepEqual(j.range('s1', 1, 2000), { records: [], unavailable: [[1, 2000]] });
    assert.equal(j.stats().records, 0);
  });

  it('answers unavailable for another session, for seqs never published, and pages with maxRecords', () => {
    const j = new PublishJournal('s1', { maxRecords: 1000, maxAgeMs: 60_000, maxBytes: 1 << 30, nowMs: () => 0 });
    j.append(recs(1, 100));
    assert.deepEqual(j.range('other', 5, 9), { records: [], unavailable: [[5, 9]] });
    const r = j.range('s1', 95, 120);
    assert.equal(r.records.length, 6);
    assert.deepEqual(r.unavailable, [[101, 120]]);
    assert.equal(
      j
        .range('s1', 10, 100, 5)
        .records.map((x) => x.seq)
        .join(','),
      '10,11,12,13,14',
    );
  });

  it('refuses a hole in what it is given', () => {
    const j = new PublishJournal('s1', { maxRecords: 1000, maxAgeMs: 60_000, maxBytes: 1 << 30, nowMs: () => 0 });
    j.append(recs(1, 3));
    assert.throws(() => j.append([rec(5)]), /does not follow 3/);
    j.append([rec(1, 'other')]); // another session's record is ignored
    assert.equal(j.stats().records, 3);
  });

  it('keeps a bus payload as its chunk (no second encoding) and serves it like appended records', () => {
    const j = new PublishJournal('s1', { maxRecords: 10_000, maxAgeMs: 60_000, maxBytes: 1 << 30, chunkRecords: 64, nowMs: () => 0 });
    const a = recs(1, 40);
    const pa = encodeBatch(a);
    j.appendEncoded(a, pa);
    const p41 = encodeBatch(recs(41, 41));
    j.appendEncoded(recs(41, 41), p41);
    j.append(recs(42, 50));
    // Records still pending from append() go first: this batch joins them on the append path.
    j.appendEncoded(recs(51, 60), encodeBatch(recs(51, 60)));
    assert.equal(j.stats().records, 60);
    const r = j.range('s1', 1, 60);
    // The payloads handed over are the chunks, byte for byte; 42-60 were encoded once, together.
    assert.equal(j.stats().bytes, pa.length + p41.length + encodeBatch(recs(42, 60)).length);
    assert.equal(j.stats().chunks, 3);
    assert.deepEqual(
      r.records.map((x) => x.seq),
      recs(1, 60).map((x) => x.seq),
    );
    assert.deepEqual(r.records[39], rec(40));
    assert.deepEqual(r.unavailable, []);
    assert.throws(() => j.appendEncoded(recs(70, 71), encodeBatch(recs(70, 71))), /seq 70 does not follow 60/);
  });

  it('takes a batch larger than a chunk through append, so eviction stays chunk-sized', () => {
    const j = new PublishJournal('s1', { maxRecords: 400, maxAgeMs: 60_000, maxBytes: 1 << 30, chunkRecords: 100, nowMs: () => 0 });
    const big = recs(1, 1000);
    j.appendEncoded(big, encodeBatch(big));
    const st = j.stats();
    assert.ok(st.records >= 300 && st.records <= 400, `records ${st.records}`);
    assert.equal(st.last_seq, 1000);
  });
});
