import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BusRecord } from '../core/records.js';
import { StopDrain, takeFromSavedJournal, unreadAtStop, type FinalSeq, type SavedJournalSource } from './stop-drain.js';

const opts = { publishers: ['a', 'b'], quietMs: 500, maxMs: 5000 };
const rec = (publisher: string, ts_event_us = 0) => ({ publisher, kind: 'ticker', ts_event_us });
const hb = (publisher: string, ts_event_us: number) => ({ publisher, kind: 'heartbeat', ts_event_us });

test('before the stop it is reading, and records are not counted', () => {
  const d = new StopDrain(opts);
  d.observe(hb('a', 10), 0);
  assert.equal(d.state(10_000), 'reading');
  assert.equal(d.started, false);
  assert.equal(d.elapsedMs(10_000), 0);
});

test('publishers that send nothing after the stop are quiet after quietMs', () => {
  const d = new StopDrain(opts);
  d.begin(1000, 1_000_000);
  assert.equal(d.state(1499), 'reading');
  assert.deepEqual(d.pending(1499), ['a', 'b']);
  assert.equal(d.state(1500), 'drained');
});

test('a publisher still sending keeps the drain open until it is quiet', () => {
  const d = new StopDrain(opts);
  d.begin(1000, 1_000_000);
  d.observe(rec('a'), 1400);
  d.observe(rec('a'), 1800);
  assert.equal(d.state(2000), 'reading');
  assert.deepEqual(d.pending(2000), ['a']);
  assert.equal(d.state(2300), 'drained');
});

test('a heartbeat stamped after the stop began means caught up at once; an older one does not', () => {
  const d = new StopDrain(opts);
  d.begin(1000, 1_000_000);
  d.observe(rec('a'), 1100);
  d.observe(rec('b'), 1100);
  d.observe(hb('a', 999_999), 1100); // sent before the stop: more may follow
  assert.equal(d.state(1200), 'reading');
  d.observe(hb('a', 1_000_000), 1150);
  d.observe(hb('b', 1_200_000), 1150);
  assert.equal(d.state(1200), 'drained');
});

test('a publisher that never stops sending ends the drain at maxMs', () => {
  const d = new StopDrain(opts);
  d.begin(0, 0);
  for (let t = 0; t < 5000; t += 100) {
    d.observe(rec('a'), t);
    assert.equal(d.state(t), 'reading');
  }
  assert.equal(d.state(5000), 'limit');
  assert.equal(d.elapsedMs(5000), 5000);
});

test('begin is idempotent: a second signal does not restart the clock', () => {
  const d = new StopDrain(opts);
  d.begin(0, 0);
  d.begin(3000, 3_000_000);
  assert.equal(d.state(5000), 'limit');
});

test('unreadAtStop: a cleanly stopped publisher whose tail was never read gives its exact range', () => {
  const files: Record<string, FinalSeq> = {
    a: { session: 'sa', last_seq: 1000, last_heartbeat_us: 77, clean_stop: true },
    b: { session: 'sb', last_seq: 500, last_heartbeat_us: 78, clean_stop: true },
  };
  const read: Record<string, number> = { sa: 740, sb: 500 };
  assert.deepEqual(
    unreadAtStop(
      ['a', 'b'],
      (p) => files[p],
      (s) => read[s],
    ),
    [{ publisher: 'a', session: 'sa', first: 741, last: 1000, endUs: 77 }],
  );
});

test('unreadAtStop: nothing for a publisher not cleanly stopped, without a file, or in a session never read', () => {
  const files: Record<string, FinalSeq> = {
    running: { session: 's1', last_seq: 900, last_heartbeat_us: 1, clean_stop: false },
    other: { session: 's-new', last_seq: 50, last_heartbeat_us: 1, clean_stop: true },
  };
  const read: Record<string, number> = { s1: 10, 's-old': 10 };
  assert.deepEqual(
    unreadAtStop(
      ['running', 'other', 'remote'],
      (p) => files[p],
      (s) => read[s],
    ),
    [],
  );
});

test('takeFromSavedJournal: takes what the saved journal holds page by page, reports the rest as merged ranges', async () => {
  const rec = (seq: number) => ({ seq, session: 'sa' }) as unknown as BusRecord;
  // Holds 101..250 of session sa.
  const saved: SavedJournalSource = {
    session: 'sa',
    range(session, first, last, max = Number.MAX_SAFE_INTEGER) {
      const end = Math.min(last, first + max - 1);
      const records: BusRecord[] = [];
      const unavailable: [number, number][] = [];
      if (first < 101) unavailable.push([first, Math.min(end, 100)]);
      for (let s = Math.max(first, 101); s <= Math.min(end, 250); s++) records.push(rec(s));
      if (end > 250) unavailable.push([Math.max(first, 251), end]);
      return { records, unavailable };
    },
  };
  const pushed: number[] = [];
  let pages = 0;
  const io = {
    push: (r: BusRecord[]) => {
      pages++;
      pushed.push(...r.map((x) => x.seq));
    },
    roomFor: () => true,
    deadlineReached: () => false,
  };
  const got = await takeFromSavedJournal(saved, { session: 'sa', first: 51, last: 300 }, io, 40);
  assert.equal(got.recovered, 150);
  assert.deepEqual(
    pushed,
    Array.from({ length: 150 }, (_, i) => 101 + i),
  );
  assert.ok(pages >= 4, `paged: ${pages} pushes`);
  assert.equal(got.lastTaken?.seq, 250);
  assert.deepEqual(got.missing, [
    [51, 100, 'not_in_saved_journal'],
    [251, 300, 'not_in_saved_journal'],
  ]);
  // Another session's journal, or none: the whole range is reported.
  assert.deepEqual(await takeFromSavedJournal(saved, { session: 'sb', first: 1, last: 9 }, io), {
    recovered: 0,
    missing: [[1, 9, 'no_saved_journal']],
  });
  assert.deepEqual(await takeFromSavedJournal(undefined, { session: 'sa', first: 1, last: 9 }, io), {
    recovered: 0,
    missing: [[1, 9, 'no_saved_journal']],
  });
});

test('takeFromSavedJournal: a part of the file that does not decode to what its index names is reported, not pushed', async () => {
  const rec = (seq: number, session = 'sa') => ({ seq, session }) as unknown as BusRecord;
  const pushed: number[] = [];
  const io = { push: (r: BusRecord[]) => pushed.push(...r.map((x) => x.seq)), roomFor: () => true, deadlineReached: () => false };
  // Pages from 301 on fail to decode.
  const throwing: SavedJournalSource = {
    session: 'sa',
    range: (_s, first, last, max = 100) => {
      if (first > 300) throw new Error('payload is not msgpack');
      return { records: Array.from({ length: Math.min(last, first + max - 1) - first + 1 }, (_, i) => rec(first + i)), unavailable: [] };
    },
  };
  const a = await takeFromSavedJournal(throwing, { session: 'sa', first: 101, last: 500 }, io, 100);
  assert.equal(a.recovered, 200);
  assert.deepEqual(a.missing, [[301, 500, 'saved_journal_unreadable']]);
  // A chunk holding fewer records than its index says (undefined in the page), or another session's.
  for (const bad of [
    [rec(1), undefined],
    [rec(1), rec(2, 'other')],
    [rec(1), rec(3)],
    // Contiguous, but not from the seq asked for (1): 2..3 would be pushed as if 1 were there.
    [rec(2), rec(3)],
  ]) {
    const short: SavedJournalSource = { session: 'sa', range: () => ({ records: bad as BusRecord[], unavailable: [] }) };
    pushed.length = 0;
    const b = await takeFromSavedJournal(short, { session: 'sa', first: 1, last: 2 }, io);
    assert.deepEqual(b, { recovered: 0, lastTaken: undefined, missing: [[1, 2, 'saved_journal_unreadable']] });
    assert.deepEqual(pushed, []);
  }
});

test('takeFromSavedJournal: waits while memory is full, and reports what the deadline leaves', async () => {
  const saved: SavedJournalSource = {
    session: 'sa',
    range: (_s, first, last, max = Number.MAX_SAFE_INTEGER) => ({
      records: Array.from(
        { length: Math.min(last, first + max - 1) - first + 1 },
        (_, i) => ({ seq: first + i, session: 'sa' }) as unknown as BusRecord,
      ),
      unavailable: [],
    }),
  };
  let room = 0;
  let waits = 0;
  let pushes = 0;
  const got = await takeFromSavedJournal(
    saved,
    { session: 'sa', first: 1, last: 1000 },
    {
      push: () => {
        pushes++;
        room = 0;
      },
      // Room for one page after every second wait; a page fills it.
      roomFor: () => room > 0,
      deadlineReached: () => pushes >= 3,
      wait: async () => {
        waits++;
        room = waits % 2 === 0 ? 1 : 0;
      },
    },
    100,
  );
  assert.equal(got.recovered, 300);
  assert.deepEqual(got.missing, [[301, 1000, 'stop_time_limit']]);
  assert.ok(waits >= 5, `waited for room: ${waits}`);
});
