import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../core/clock.js';
import { Batcher, type FlushCause } from './batcher.js';

function setup(batchSize = 3, flushIntervalMs = 1000, maxBatchBytes = 100) {
  const clock = new FakeClock();
  const out: { items: number[]; cause: FlushCause }[] = [];
  const b = new Batcher<number>(
    { batchSize, flushIntervalMs, maxBatchBytes },
    clock,
    (items, _bytes, cause) => out.push({ items, cause }),
    (n) => n,
  );
  return { clock, out, b };
}

test('flushes at batchSize', () => {
  const { b, out } = setup();
  b.addMany([1, 2, 3, 4]);
  assert.deepEqual(out, [{ items: [1, 2, 3], cause: 'size' }]);
  assert.equal(b.pending, 1);
});

test('flushes at age, timed from the first item of the batch', () => {
  const { b, out, clock } = setup();
  b.add(1);
  clock.advance(600);
  b.add(2);
  clock.advance(399);
  assert.equal(out.length, 0);
  clock.advance(1);
  assert.deepEqual(out, [{ items: [1, 2], cause: 'age' }]);
  clock.advance(5000);
  assert.equal(out.length, 1, 'no empty batches');
});

test('flushes before maxBatchBytes would be exceeded; an oversized item goes alone', () => {
  const { b, out } = setup(100, 1000, 100);
  b.addMany([40, 40, 40]);
  assert.deepEqual(out[0], { items: [40, 40], cause: 'bytes' });
  b.add(500);
  assert.deepEqual(out[1], { items: [40], cause: 'bytes' });
  assert.deepEqual(out[2], { items: [500], cause: 'bytes' });
});

test('manual flush and the age timer is cancelled by a size flush', () => {
  const { b, out, clock } = setup();
  b.addMany([1, 2, 3]);
  clock.advance(2000);
  assert.equal(out.length, 1);
  b.add(9);
  b.flush();
  assert.deepEqual(out[1], { items: [9], cause: 'manual' });
});

test('firstBatchMs: the first batch goes early, every later one at flushIntervalMs', () => {
  const clock = new FakeClock();
  const out: { items: number[]; cause: FlushCause }[] = [];
  const b = new Batcher<number>(
    { batchSize: 100, flushIntervalMs: 1000, maxBatchBytes: 1e9, firstBatchMs: 100 },
    clock,
    (items, _b, cause) => out.push({ items, cause }),
  );
  b.add(1);
  clock.advance(99);
  assert.equal(out.length, 0);
  clock.advance(1);
  assert.deepEqual(out, [{ items: [1], cause: 'age' }]);
  b.add(2);
  clock.advance(999);
  assert.equal(out.length, 1, 'the second batch waits the full interval');
  clock.advance(1);
  assert.deepEqual(out[1], { items: [2], cause: 'age' });
});
