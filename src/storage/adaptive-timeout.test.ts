import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveTimeout } from './adaptive-timeout.js';

test('doubles after each timeout, capped at maxFactor x the configured value', () => {
  const t = new AdaptiveTimeout(1000, 8);
  assert.equal(t.current, 1000);
  t.timedOut();
  assert.equal(t.current, 2000);
  t.timedOut();
  t.timedOut();
  t.timedOut();
  assert.equal(t.current, 8000);
});

test('eases back to the configured value only while answers come well within it', () => {
  const t = new AdaptiveTimeout(1000, 8);
  t.timedOut();
  t.timedOut(); // 4000
  t.answered(1500); // not well within: stays
  assert.equal(t.current, 4000);
  t.answered(100);
  assert.equal(t.current, 3000);
  for (let i = 0; i < 20; i++) t.answered(10);
  assert.equal(t.current, 1000, 'never below the configured value');
});

test('requests that time out together double it once', () => {
  const t = new AdaptiveTimeout(1000, 8);
  const used = t.current;
  for (let i = 0; i < 4; i++) t.timedOut(used);
  assert.equal(t.current, 2000);
});
