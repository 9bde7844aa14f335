import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeRegex, formatRegexSelection, referencedVariables, renderQuery, source, tagFilter } from './influxql.js';

test('escapeRegex escapes slash and dot like Grafana :regex', () => {
  assert.equal(escapeRegex('XBT/USD'), 'XBT\\/USD');
  assert.equal(escapeRegex('1.180770798'), '1\\.180770798');
  assert.equal(formatRegexSelection(['BTC/USD', 'ETH/USD']), '(BTC\\/USD|ETH\\/USD)');
  assert.equal(formatRegexSelection('all'), '.*');
  // The escaped value is a regex that matches exactly the value.
  assert.ok(new RegExp(`^${escapeRegex('a.b/c(d)')}$`).test('a.b/c(d)'));
  assert.ok(!new RegExp(`^${escapeRegex('a.b')}$`).test('axb'));
});

test('renderQuery substitutes macros and variables the way Grafana does', () => {
  const q = `SELECT last("bid") FROM ${source('high_frequency', 'kraken_tick')} WHERE ${tagFilter('instrument', 'instrument')} AND $timeFilter GROUP BY time($__interval) fill(none)`;
  assert.equal(
    renderQuery(q, { fromMs: 1000, toMs: 2000, intervalMs: 1000, variables: { instrument: ['XBT/USD'] } }),
    'SELECT last("bid") FROM "high_frequency"."kraken_tick" WHERE "instrument" =~ /^XBT\\/USD$/ AND time >= 1000ms and time <= 2000ms GROUP BY time(1s) fill(none)',
  );
  assert.equal(renderQuery('x * 1000 / $__interval_ms', { fromMs: 0, toMs: 0, intervalMs: 500, variables: {} }), 'x * 1000 / 500');
  assert.deepEqual(referencedVariables(`${q} $tag_instrument $col \${market:regex} $runner`), ['instrument', 'market', 'runner']);
});
