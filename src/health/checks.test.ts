import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  UptimeTracker,
  diskCheck,
  dropsCheck,
  fail,
  freshnessCheck,
  marketState,
  nextOandaOpenMs,
  oandaMarketOpen,
  overallStatus,
  pass,
  queueCheck,
  spoolCheck,
  warn,
} from './checks.js';

const at = (iso: string) => Date.parse(iso);

describe('overall status', () => {
  it('any fail is unhealthy, any warn degraded, all pass healthy, nothing unhealthy', () => {
    assert.equal(overallStatus([pass('a', ''), pass('b', '')]), 'healthy');
    assert.equal(overallStatus([pass('a', ''), warn('b', '')]), 'degraded');
    assert.equal(overallStatus([warn('a', ''), fail('b', ''), pass('c', '')]), 'unhealthy');
    assert.equal(overallStatus([]), 'unhealthy');
  });
});

describe('OANDA market hours (closed Fri 21:00 UTC -> Sun 21:00 UTC)', () => {
  // 2024-06-07 is a Friday.
  it('is open on a weekday and up to Friday 20:59 UTC', () => {
    assert.equal(oandaMarketOpen(at('2024-06-05T12:00:00Z')), true);
    assert.equal(oandaMarketOpen(at('2024-06-07T20:59:59Z')), true);
  });
  it('is closed from Friday 21:00 UTC through Saturday to Sunday 20:59 UTC', () => {
    assert.equal(oandaMarketOpen(at('2024-06-07T21:00:00Z')), false);
    assert.equal(oandaMarketOpen(at('2024-06-08T12:00:00Z')), false);
    assert.equal(oandaMarketOpen(at('2024-06-09T20:59:59Z')), false);
  });
  it('reopens Sunday 21:00 UTC', () => {
    assert.equal(oandaMarketOpen(at('2024-06-09T21:00:00Z')), true);
    assert.equal(nextOandaOpenMs(at('2024-06-08T12:00:00Z')), at('2024-06-09T21:00:00Z'));
  });
  it('Kraken never closes; Betfair is quiet only when every market is suspended/closed', () => {
    assert.equal(marketState('kraken', at('2024-06-08T12:00:00Z')).open, true);
    assert.equal(marketState('betfair', 0, ['OPEN', 'SUSPENDED']).open, true);
    assert.equal(marketState('betfair', 0, ['SUSPENDED', 'CLOSED']).open, false);
    assert.equal(marketState('betfair', 0, []).open, true);
  });
});

describe('freshness', () => {
  const base = { name: 't', staleAfterMs: 10_000, what: 'last record' };
  const weekday = at('2024-06-05T12:00:00Z');
  const saturday = at('2024-06-08T12:00:00Z');
  it('passes within the threshold and fails beyond it while the market is open', () => {
    assert.equal(freshnessCheck({ ...base, venue: 'kraken', ageMs: 2_000, nowMs: weekday }).status, 'pass');
    const c = freshnessCheck({ ...base, venue: 'kraken', ageMs: 30_000, nowMs: weekday });
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /stale/);
  });
  it('fails when nothing was ever seen on an open market', () => {
    assert.equal(freshnessCheck({ ...base, venue: 'oanda', ageMs: null, nowMs: weekday }).status, 'fail');
  });
  it('OANDA silence at the weekend is expected, not a failure', () => {
    const c = freshnessCheck({ ...base, venue: 'oanda', ageMs: 3_600_000, nowMs: saturday });
    assert.equal(c.status, 'pass');
    assert.match(c.detail, /closed/);
    assert.equal(freshnessCheck({ ...base, venue: 'oanda', ageMs: null, nowMs: saturday }).status, 'pass');
    // ...but Kraken on the same Saturday is judged normally
    assert.equal(freshnessCheck({ ...base, venue: 'kraken', ageMs: 3_600_000, nowMs: saturday }).status, 'fail');
  });
  it('a suspended Betfair market may be silent', () => {
    assert.equal(
      freshnessCheck({ ...base, venue: 'betfair', ageMs: 600_000, nowMs: weekday, betfairStatuses: ['SUSPENDED'] }).status,
      'pass',
    );
  });
});

describe('resource checks', () => {
  it('queue depth against batch size', () => {
    assert.equal(queueCheck('q', 100, 5000).status, 'pass');
    assert.equal(queueCheck('q', 30_000, 5000).status, 'warn');
    assert.equal(queueCheck('q', 200_000, 5000).status, 'fail');
  });
  it('spool: empty passes, holding warns, growing says so, nearly full fails', () => {
    assert.equal(spoolCheck('s', 0, undefined, 1000).status, 'pass');
    assert.equal(spoolCheck('s', 100, undefined, 1000).status, 'warn');
    assert.match(spoolCheck('s', 200, 100, 1000).detail, /growing/);
    assert.equal(spoolCheck('s', 950, 900, 1000).status, 'fail');
  });
  it('drops by reason', () => {
    assert.equal(dropsCheck('d', {}).status, 'pass');
    const c = dropsCheck('d', { field_type_conflict: 3, spool_full: 0 });
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /field_type_conflict=3/);
    assert.doesNotMatch(c.detail, /spool_full/);
  });
  it('disk free', () => {
    const G = 1024 ** 3;
    assert.equal(diskCheck('disk', '/d', 50 * G, 100 * G).status, 'pass');
    assert.equal(diskCheck('disk', '/d', 5 * G, 100 * G).status, 'warn');
    assert.equal(diskCheck('disk', '/d', 0.1 * G, 100 * G).status, 'fail');
  });
});

describe('UptimeTracker', () => {
  it('weights each sample by the time until the next one, over a sliding window', () => {
    const u = new UptimeTracker(100_000);
    assert.equal(u.percent('a', 0), null);
    u.record('a', true, 0);
    u.record('a', true, 30_000);
    u.record('a', false, 60_000);
    u.record('a', true, 90_000);
    // up 0-60s, down 60-90s
    assert.equal(u.percent('a', 90_000), (100 * 60) / 90);
    // the window slides: at 200s only 100-200 counts; samples end at 90s, nothing covers it
    u.record('a', true, 200_000);
    assert.equal(u.percent('a', 200_000), 100);
  });
});
