import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Overflow } from './overflow.js';

test('a wait shorter than afterMs does not overflow; one that lasts does', () => {
  const o = new Overflow(2000);
  assert.equal(o.constrained(1000), 2000);
  assert.equal(o.constrained(1500), 1500, 'timed from the start of the stretch of waiting');
  assert.equal(o.due(2999), false);
  assert.equal(o.due(3000), true);
  assert.equal(o.active, true);
  assert.equal(o.count, 1);
  assert.equal(o.due(3500), false, 'already overflowing');
  assert.equal(o.constrained(3500), undefined);
});

test('relief (queue half empty) resets the clock: the next wait is timed from its own start', () => {
  const o = new Overflow(2000);
  o.constrained(0);
  o.relieved();
  assert.equal(o.due(2500), false, 'relieved before the timer fired');
  assert.equal(o.constrained(2500), 2000);
  assert.equal(o.due(4499), false);
  assert.equal(o.due(4500), true);
  o.relieved();
  assert.equal(o.active, false);
  assert.equal(o.constrained(5000), 2000);
  assert.equal(o.due(7000), true);
  assert.equal(o.count, 2);
});

test('logged at most once a minute', () => {
  const o = new Overflow(10);
  assert.equal(o.shouldLog(0), true);
  assert.equal(o.shouldLog(59_999), false);
  assert.equal(o.shouldLog(60_000), true);
});
