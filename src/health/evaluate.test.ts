import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema } from '../config/schema.js';
import { overallStatus } from './checks.js';
import { evaluate, type Observations, type ServiceObservation } from './evaluate.js';

const config = configSchema.parse({
  storage: { backend: 'embedded' },
  backing: { grafana: { enabled: false } },
  influxdb: { measurements: { kraken_tick: { tags: ['instrument'], fields: { bid: 'float', seq: 'integer' } } } },
  publishers: [
    { name: 'kraken_tick', venue: 'kraken', feed: 'ticker', topic: 'kraken.tick', port: 5558, statusPort: 6558, instruments: ['BTC/USD'] },
    { name: 'oanda_tick', venue: 'oanda', feed: 'pricing', topic: 'oanda.tick', port: 5562, statusPort: 6562, instruments: ['EUR_USD'] },
  ],
  subscribers: [{ name: 'sub', port: 5578, topics: ['kraken.tick'], measurements: { tick: 'kraken_tick' } }],
});
const WEDNESDAY = Date.parse('2024-06-05T12:00:00Z');
const SATURDAY = Date.parse('2024-06-08T12:00:00Z');

const up = (name: string, kind: 'publisher' | 'subscriber', body: Record<string, unknown> = {}): ServiceObservation => ({
  name,
  kind,
  process: null,
  ...(kind === 'publisher' ? { zmqPort: { endpoint: 'tcp://127.0.0.1:1', accepting: true } } : {}),
  status: { ok: true, status: 200, url: 'http://x/health', body: { status: 'ok', ...body } },
});

function healthyObs(nowMs: number): Observations {
  return {
    nowMs,
    supervisor: null,
    services: [
      up('kraken_tick', 'publisher'),
      up('oanda_tick', 'publisher'),
      up('sub', 'subscriber', { queue_depth: 0, spool_bytes: 0, dropped_by_reason: {}, store_up: true }),
    ],
    topicAgesMs: { 'kraken.tick': 200, 'oanda.tick': 300 },
    store: [{ measurement: 'kraken_tick', newestUs: (nowMs - 1000) * 1000, recentPoints: 600, rateWindowS: 60 }],
    disk: { path: 'data', freeBytes: 100 * 1024 ** 3, totalBytes: 200 * 1024 ** 3 },
  };
}

const find = (checks: ReturnType<typeof evaluate>, name: string) => checks.find((c) => c.name === name);

describe('evaluate', () => {
  it('a running system with fresh data is healthy', () => {
    const checks = evaluate(healthyObs(WEDNESDAY), config);
    assert.equal(overallStatus(checks), 'healthy', JSON.stringify(checks.filter((c) => c.status !== 'pass')));
    assert.match(find(checks, 'store.kraken_tick.freshness')!.detail, /600 points in the last 60s \(10\.0\/s\)/);
  });
  it('one quiet series of a quote measurement warns naming it; a quiet series of trades does not', () => {
    const obs = healthyObs(WEDNESDAY);
    const series = { 'instrument=BTC/USD': (WEDNESDAY - 1000) * 1000, 'instrument=ETH/USD': (WEDNESDAY - 600_000) * 1000 };
    obs.store = [{ ...obs.store[0]!, series }];
    const c = find(evaluate(obs, config), 'store.kraken_tick.freshness')!;
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /stale series: instrument=ETH\/USD 600s/);
    // The same measurement fed with trades only: an illiquid pair may not trade for minutes.
    const trades = configSchema.parse({
      ...config,
      subscribers: [{ name: 'sub', port: 5578, topics: ['kraken.tick'], measurements: { trade: 'kraken_tick' } }],
    });
    assert.equal(find(evaluate(obs, trades), 'store.kraken_tick.freshness')!.status, 'pass');
  });
  it('nothing running says so, with the fix', () => {
    const obs = healthyObs(WEDNESDAY);
    obs.services = obs.services.map((s) => ({ ...s, status: { ok: false, error: 'ECONNREFUSED', url: s.status.url } }));
    const checks = evaluate(obs, config);
    assert.equal(overallStatus(checks), 'unhealthy');
    assert.equal(checks[0]!.name, 'system');
    assert.match(checks[0]!.detail, /nothing is running.*nbpy start/);
  });
  it('a stopped publisher: status not answering and its topic stale', () => {
    const obs = healthyObs(WEDNESDAY);
    obs.services[0] = { ...obs.services[0]!, status: { ok: false, error: 'no answer within 2000 ms', url: 'u' } };
    obs.topicAgesMs['kraken.tick'] = 25_000;
    const checks = evaluate(obs, config);
    assert.equal(find(checks, 'publisher.kraken_tick.status')!.status, 'fail');
    assert.equal(find(checks, 'topic.kraken.tick.freshness')!.status, 'fail');
    assert.equal(find(checks, 'topic.oanda.tick.freshness')!.status, 'pass');
  });
  it('store down: the subscriber says so and a growing spool is reported', () => {
    const obs = healthyObs(WEDNESDAY);
    obs.services[2] = up('sub', 'subscriber', { status: 'degraded', store_up: false, spool_bytes: 4096, queue_depth: 0 });
    obs.previousSpoolBytes = { sub: 1024 };
    const checks = evaluate(obs, config);
    assert.equal(find(checks, 'subscriber.sub.store')!.status, 'fail');
    assert.match(find(checks, 'subscriber.sub.store')!.detail, /store down/);
    assert.match(find(checks, 'subscriber.sub.spool')!.detail, /growing/);
    assert.equal(overallStatus(checks), 'unhealthy');
  });
  it('OANDA silent at the weekend stays healthy', () => {
    const obs = healthyObs(SATURDAY);
    obs.topicAgesMs['oanda.tick'] = null;
    assert.equal(overallStatus(evaluate(obs, config)), 'healthy');
  });
  it('a dead managed process fails and a crash loop is reported', () => {
    const obs = healthyObs(WEDNESDAY);
    obs.services[0] = {
      ...obs.services[0]!,
      process: { state: 'crash_loop', alive: false, pid: null, restarts: 6, crashLoop: true, uptimePct: 50, lastError: 'exit 1' },
    };
    const checks = evaluate(obs, config);
    assert.equal(find(checks, 'publisher.kraken_tick.process')!.status, 'fail');
    assert.equal(find(checks, 'publisher.kraken_tick.restarts')!.status, 'fail');
    assert.equal(find(checks, 'publisher.kraken_tick.uptime')!.status, 'fail');
  });
});

describe('evaluate: Betfair market statuses from the publisher', () => {
  const bf = configSchema.parse({
    storage: { backend: 'embedded' },
    backing: { grafana: { enabled: false } },
    influxdb: { measurements: { betfair_runner: { tags: ['instrument'], fields: { seq: 'integer' } } } },
    publishers: [
      {
        name: 'betfair_market',
        venue: 'betfair',
        feed: 'market',
        topic: 'betfair.market',
        port: 5566,
        statusPort: 6566,
        staleAfterMs: 10_000,
      },
    ],
    subscribers: [{ name: 'sub', port: 5578, topics: ['betfair.market'], measurements: { runner: 'betfair_runner' } }],
  });
  const silent = (statuses: string[] | undefined): Observations => ({
    nowMs: WEDNESDAY,
    supervisor: null,
    services: [
      up('betfair_market', 'publisher', statuses ? { market_statuses: statuses } : {}),
      up('sub', 'subscriber', { queue_depth: 0, spool_bytes: 0, dropped_by_reason: {}, store_up: true }),
    ],
    // Ten minutes of silence on the topic and in the store.
    topicAgesMs: { 'betfair.market': 600_000 },
    ...(statuses ? { betfairStatuses: { 'betfair.market': statuses } } : {}),
    store: [{ measurement: 'betfair_runner', newestUs: (WEDNESDAY - 600_000) * 1000, recentPoints: 0, rateWindowS: 60 }],
    disk: { path: 'data', freeBytes: 100 * 1024 ** 3, totalBytes: 200 * 1024 ** 3 },
  });

  it('every market SUSPENDED/CLOSED: the silent topic and store pass with a note; healthy', () => {
    const checks = evaluate(silent(['SUSPENDED', 'CLOSED', 'SUSPENDED']), bf);
    for (const name of ['topic.betfair.market.freshness', 'store.betfair_runner.freshness']) {
      assert.equal(find(checks, name)!.status, 'pass', name);
      assert.match(find(checks, name)!.detail, /expected: Betfair market\(s\) SUSPENDED\/CLOSED/);
    }
    assert.equal(overallStatus(checks), 'healthy');
  });
  it('one market OPEN, none reported, or statuses unknown: the same silence fails', () => {
    for (const statuses of [['SUSPENDED', 'OPEN'], [], ['UNKNOWN'], undefined]) {
      const checks = evaluate(silent(statuses), bf);
      assert.equal(find(checks, 'topic.betfair.market.freshness')!.status, 'fail', JSON.stringify(statuses));
      assert.equal(find(checks, 'store.betfair_runner.freshness')!.status, 'fail', JSON.stringify(statuses));
    }
  });
});
