import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StopDrain, unreadAtStop, type FinalSeq } from './stop-drain.js';

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
