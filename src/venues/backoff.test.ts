import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBackoff, resolveBackoff } from './backoff.js';

const opts = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5, resetAfterMs: 5000 };

test('grows exponentially and caps (no jitter at random()=1)', () => {
  const b = createBackoff(opts, () => 0.999999);
  const seq = Array.from({ length: 7 }, () => b.next(0));
  assert.deepEqual(seq, [100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(b.attempt, 7);
});

test('jitter keeps the delay within [d*(1-jitter), d]', () => {
  const low = createBackoff(opts, () => 0);
  assert.deepEqual([low.next(0), low.next(0), low.next(0)], [50, 100, 200]);
  const b = createBackoff(opts, Math.random);
  for (let i = 0; i < 200; i++) {
    const d = b.next(0);
    const base = Math.min(1000, 100 * 2 ** Math.min(i, 64));
    assert.ok(d >= base / 2 && d <= base, `attempt ${i}: ${d} outside [${base / 2}, ${base}]`);
  }
});

test('a stable connection resets the sequence; a short one does not', () => {
  const b = createBackoff(opts, () => 0.999999);
  b.next(0);
  b.next(0);
  assert.equal(b.next(4999), 400);
  assert.equal(b.next(5000), 100);
  assert.equal(b.next(0), 200);
  b.reset();
  assert.equal(b.next(0), 100);
});

test('capped() is the maximum delay, never a tight retry', () => {
  const b = createBackoff(opts, () => 0.999999);
  assert.equal(b.capped(), 1000);
  const j = createBackoff(opts, () => 0);
  assert.equal(j.capped(), 500);
});

test('long outages never overflow', () => {
  const b = createBackoff({ ...opts, factor: 10 }, () => 0.5);
  let d = 0;
  for (let i = 0; i < 10_000; i++) d = b.next(0);
  assert.ok(Number.isFinite(d) && d <= 1000 && d >= 500);
});

test('bad options are clamped', () => {
  const o = resolveBackoff({ initialMs: 0, maxMs: -5, factor: 0.1, jitter: 3 });
  assert.deepEqual({ ...o, resetAfterMs: 0 }, { initialMs: 1, maxMs: 1, factor: 1, jitter: 1, resetAfterMs: 0 });
  const b = createBackoff({ initialMs: 0, jitter: 1 }, () => 0);
  assert.ok(b.next(0) >= 1);
});
