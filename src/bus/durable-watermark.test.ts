import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DurableWatermark } from './durable-watermark.js';

const recs = (session: string, ...seqs: number[]) => seqs.map((seq) => ({ session, seq }));

test('nothing outstanding: the released seq stands', () => {
  const w = new DurableWatermark();
  assert.equal(w.bound('a', 41), 41);
  w.released(recs('a', 1, 2, 3));
  w.durable(recs('a', 1, 2, 3));
  assert.equal(w.bound('a', 3), 3);
  assert.equal(w.outstanding, 0);
});

test('batches confirmed out of order: the bound stays below the oldest record not yet durable', () => {
  const w = new DurableWatermark();
  w.released(recs('a', 1, 2, 3, 4, 5, 6));
  w.durable(recs('a', 4, 5, 6)); // the second batch's write finished first
  assert.equal(w.bound('a', 6), 0);
  w.durable(recs('a', 1, 2));
  assert.equal(w.bound('a', 6), 2);
  w.durable(recs('a', 3));
  assert.equal(w.bound('a', 6), 6);
});

test('sessions are independent; unknown confirmations are ignored', () => {
  const w = new DurableWatermark();
  w.released([...recs('a', 10, 11), ...recs('b', 7)]);
  w.durable([...recs('b', 7), ...recs('c', 1), ...recs('a', 99)]);
  assert.equal(w.bound('a', 11), 9);
  assert.equal(w.bound('b', 7), 7);
  assert.equal(w.outstanding, 2);
});

test('a gap record sharing a seq with a record: both must be durable', () => {
  const w = new DurableWatermark();
  w.released(recs('a', 5, 5, 6));
  w.durable(recs('a', 5, 6));
  assert.equal(w.bound('a', 6), 4);
  w.durable(recs('a', 5));
  assert.equal(w.bound('a', 6), 6);
});

test('released out of seq order: the oldest is still found', () => {
  const w = new DurableWatermark();
  w.released(recs('a', 8, 9, 3));
  w.durable(recs('a', 8, 9));
  assert.equal(w.bound('a', 9), 2);
});
