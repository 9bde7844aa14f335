import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SequenceTracker } from './sequence.js';
import type { BusRecord } from './records.js';

const rec = (session: string, seq: number, kind: 'tick' | 'heartbeat' = 'tick', data_topic = 't'): BusRecord =>
  ({
    v: 1,
    topic: kind === 'heartbeat' ? '_hb' : 't',
    venue: 'kraken',
    kind,
    publisher: 'p',
    session,
    seq,
    ts_event_us: 0,
    ts_recv_us: 0,
    instrument: '',
    data_topic,
  }) as unknown as BusRecord;

test('contiguous sequence has no gaps; a hole is reported with its exact range', () => {
  const t = new SequenceTracker();
  assert.deepEqual(
    t.observe(rec('a', 5)).map((e) => e.type),
    ['new_session'],
  );
  assert.deepEqual(t.observe(rec('a', 6)), []);
  const ev = t.observe(rec('a', 10));
  assert.deepEqual(ev, [{ type: 'gap', publisher: 'p', session: 'a', first: 7, last: 9 }]);
  assert.equal(t.missing, 3);
  assert.equal(t.gaps, 1);
});

test('a new session is a restart, not a gap', () => {
  const t = new SequenceTracker();
  t.observe(rec('a', 1));
  t.observe(rec('a', 2));
  assert.deepEqual(
    t.observe(rec('b', 1)).map((e) => e.type),
    ['new_session'],
  );
  assert.equal(t.gaps, 0);
  assert.equal(t.sessionCount(), 2);
});

test('a heartbeat ahead of the data reveals loss at the tail, only for a covered topic', () => {
  const t = new SequenceTracker();
  t.observe(rec('a', 1));
  assert.deepEqual(t.observe(rec('a', 1, 'heartbeat')), []);
  assert.deepEqual(
    t.observe(rec('a', 4, 'heartbeat', 'other'), (x) => x === 't'),
    [],
  );
  assert.deepEqual(
    t.observe(rec('a', 4, 'heartbeat'), (x) => x === 't'),
    [{ type: 'gap', publisher: 'p', session: 'a', first: 2, last: 4 }],
  );
  assert.deepEqual(t.observe(rec('a', 5)), []);
});

test('after a publisher restart, records of the new session sent before we reconnected are a gap', () => {
  const t = new SequenceTracker();
  t.observe(rec('a', 1));
  t.observe(rec('a', 2));
  assert.deepEqual(t.observe(rec('b', 4)), [
    { type: 'new_session', publisher: 'p', session: 'b' },
    { type: 'gap', publisher: 'p', session: 'b', first: 1, last: 3 },
  ]);
  assert.equal(t.missing, 3);
  assert.deepEqual(
    t.observe(rec('c', 1)).map((e) => e.type),
    ['new_session'],
  );
});

test('a subscriber that must store everything counts the head of the first session it sees', () => {
  const t = new SequenceTracker({ reportHead: true });
  assert.deepEqual(t.observe(rec('a', 6)), [
    { type: 'new_session', publisher: 'p', session: 'a' },
    { type: 'gap', publisher: 'p', session: 'a', first: 1, last: 5 },
  ]);
  assert.deepEqual(
    t.observe(rec('b', 1)).map((e) => e.type),
    ['new_session'],
  );
});
