import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tickRecords } from '../../test/support/records.js';
import { decodeBatch, encodeBatch } from './codec.js';
import { PublishJournal, rangeOverChunks } from './journal.js';
import { decodeJournalIndex, encodeJournalFile } from './journal-file.js';

const recs = (a: number, b: number) => tickRecords(a, b);
/** The index of a whole file held in memory (what openJournalFile reads from disk). */
const decodeJournalFile = (file: Buffer) => decodeJournalIndex(file, file.length);

test('a saved journal reads back as the same records and the same seq ranges, evicted part included', () => {
  const j = new PublishJournal('s1', { maxRecords: 3000, maxAgeMs: 60_000, maxBytes: 1 << 30, chunkRecords: 256, nowMs: () => 0 });
  for (let a = 1; a <= 5000; a += 50) j.appendEncoded(recs(a, a + 49), encodeBatch(recs(a, a + 49)));
  const file = Buffer.concat(encodeJournalFile(j.session, j.chunkList()));
  const saved = decodeJournalFile(file);
  assert.equal(saved.session, 's1');
  assert.deepEqual(
    saved.chunks.map((c) => [c.first, c.last, c.bytes]),
    j.chunkList().map((c) => [c.first, c.last, c.payload.length]),
  );
  const first = j.stats().first_seq;
  assert.ok(first > 1, 'the journal had evicted its oldest records');
  const r = rangeOverChunks(saved.chunks, 1, 5000, Number.MAX_SAFE_INTEGER, (i) => {
    const c = saved.chunks[i]!;
    return decodeBatch(file.subarray(c.offset, c.offset + c.bytes));
  });
  assert.deepEqual(r.unavailable, [[1, first - 1]]);
  assert.deepEqual(r.records, recs(first, 5000));
});

test('a file that is not a whole saved journal is refused, not half read', () => {
  const j = new PublishJournal('s1', { maxRecords: 1000, maxAgeMs: 60_000, maxBytes: 1 << 30, nowMs: () => 0 });
  j.append(recs(1, 600));
  const file = Buffer.concat(encodeJournalFile(j.session, j.chunkList()));
  assert.throws(() => decodeJournalFile(file.subarray(0, file.length - 1)), /truncated/);
  assert.throws(() => decodeJournalFile(file.subarray(0, 3)), /shorter/);
  assert.throws(() => decodeJournalFile(Buffer.from('not a journal file at all')), /journal file/);
});

test('a file whose index is not one contiguous seq range is refused (a reader would skip the hole silently)', () => {
  const chunk = (a: number, b: number) => ({ first: a, last: b, payload: encodeBatch(recs(a, b)) });
  const file = (chunks: ReturnType<typeof chunk>[]) => Buffer.concat(encodeJournalFile('s1', chunks));
  assert.doesNotThrow(() => decodeJournalFile(file([chunk(1, 100), chunk(101, 200)])));
  assert.throws(() => decodeJournalFile(file([chunk(1, 100), chunk(301, 400)])), /chunk 301..400 does not follow 100/);
  assert.throws(() => decodeJournalFile(file([chunk(101, 200), chunk(1, 100)])), /does not follow/);
  assert.throws(() => decodeJournalFile(file([{ first: 5, last: 4, payload: encodeBatch([]) }])), /chunk 5..4 does not follow/);
});
