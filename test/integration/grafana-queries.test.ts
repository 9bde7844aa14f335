/**
 * Every panel and variable query of the generated dashboards, with Grafana's macros substituted,
 * runs without error against a real influxd holding data written by nbpy's writer, and returns rows.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import { buildDashboards } from '../../src/grafana/dashboards.js';
import { startInfluxd, type TestInfluxd } from '../support/influxd.js';
import { fillThroughWriter, runDashboardQueries, type QueryOutcome } from '../support/grafana-queries.js';

const { config } = loadConfig(fileURLToPath(new URL('../../integration_config.json', import.meta.url)), {});
let influx: TestInfluxd;
const outcomes: QueryOutcome[] = [];

before(async () => {
  influx = await startInfluxd();
  const nowUs = Date.now() * 1000;
  const written = await fillThroughWriter(config, influx.url, nowUs);
  assert.ok(written > 1000, `wrote ${written} points`);
  const nowMs = Date.now();
  for (const d of buildDashboards(config))
    outcomes.push(
      ...(await runDashboardQueries(influx.url, config.influxdb.database, d, {
        fromMs: nowMs - 15 * 60_000,
        toMs: nowMs + 60_000,
        intervalMs: 1000,
      })),
    );
});

after(async () => {
  await influx?.stop();
});

test('every query of every dashboard runs without an InfluxDB error', () => {
  assert.ok(outcomes.length > 150, `ran ${outcomes.length} queries`);
  const errors = outcomes.filter((o) => o.error).map((o) => `${o.dashboard} ${o.what} [${o.selection}]: ${o.error}\n  ${o.query}`);
  assert.deepEqual(errors, []);
});

test('every query returns rows, for All, a single escaped value (XBT/USD, 1.180770798) and two values', () => {
  const empty = outcomes.filter((o) => o.rows === 0).map((o) => `${o.dashboard} ${o.what} [${o.selection}]\n  ${o.query}`);
  assert.deepEqual(empty, []);
  // The awkward values were really exercised.
  assert.ok(outcomes.some((o) => o.query.includes('XBT\\/USD') || o.query.includes('BTC\\/USD')));
  assert.ok(outcomes.some((o) => o.query.includes('1\\.18')));
  assert.ok(outcomes.some((o) => /\(\w+\\\/USD\|\w+\\\/USD\)/.test(o.query)));
});

test('a filter on one instrument returns only that instrument', async () => {
  const o = outcomes.find(
    (x) => x.dashboard === 'kraken_tick_stream' && x.what.includes('"Bid / ask / mid"') && x.selection.startsWith('single'),
  );
  assert.ok(o, 'the single-value run of the bid/ask panel exists');
  assert.equal(o.series, 1, o.query);
});
