import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseDurationUs } from './duration.js';

it('parses InfluxDB durations to µs', () => {
  assert.equal(parseDurationUs('7d'), 7 * 86_400_000_000);
  assert.equal(parseDurationUs('1h30m'), 5_400_000_000);
  assert.equal(parseDurationUs('500ms'), 500_000);
  assert.equal(parseDurationUs('INF'), Infinity);
  assert.equal(parseDurationUs('inf'), Infinity);
  assert.equal(parseDurationUs('7x'), null);
  assert.equal(parseDurationUs(''), null);
  assert.equal(parseDurationUs('1h '), null);
});
