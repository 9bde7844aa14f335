// Betfair session + TLS transport against the local simulator over real TLS (loopback, port 0).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import type { Draft, GapRecord, RunnerRecord, StatusRecord } from '../../src/core/records.js';
import { createBetfairMarketModel, startBetfairSimulator, type BetfairSimulator } from '../../src/simulators/betfair.js';
import type { FrameError } from '../../src/venues/connector.js';
import { createBetfairSession, createBetfairTransport, type BetfairFeedSession } from '../../src/venues/betfair/index.js';
import { runFeed } from '../../src/venues/reconnect.js';
import { waitFor } from '../support/wait.js';

const MARKETS = ['1.100000001', '1.100000002', '1.100000003'];
const creds = { appKey: 'sim-app-key-123', sessionToken: 'sim-session-token-456' };
const cfg = { markets: MARKETS, eventTypeIds: [], marketTypes: [], ladderLevels: 3, staleAfterMs: 4000 };

function startFeed(sim: BetfairSimulator, session = createBetfairSession(cfg, creds)) {
  const records: Draft[] = [];
  const errors: FrameError[] = [];
  const states: string[] = [];
  const ac = new AbortController();
  const done = runFeed({
    transport: createBetfairTransport({ host: sim.host, port: sim.port, ca: sim.ca }),
    session,
    clock: systemClock,
    venue: 'betfair',
    staleAfterMs: 4000,
    backoff: { initialMs: 10, maxMs: 50, jitter: 0 },
    signal: ac.signal,
    onRecords: (r) => records.push(...r),
    onError: (e) => errors.push(e),
    onState: (s, d) => states.push(d ? `${s}: ${d}` : s),
  });
  return { session, records, errors, states, stop: async () => (ac.abort(), await done) };
}

/** The session's cache equals the seeded simulator model replayed to the last clk the session saw. */
function assertMatchesModel(session: BetfairFeedSession, seed: number): void {
  const clk = Number(/^c(\d+)$/.exec(Buffer.from(session.clocks().clk ?? '', 'base64').toString())?.[1]);
  assert.ok(clk > 0);
  const replica = createBetfairMarketModel({ markets: MARKETS, runnersPerMarket: 4, seed });
  while (replica.clk < clk) replica.step();
  const view = { fields: new Set(['EX_BEST_OFFERS', 'EX_LTP', 'EX_TRADED_VOL']), ladderLevels: 3 };
  let compared = 0;
  MARKETS.forEach((marketId, mi) => {
    const market = session.cache.market(marketId);
    assert.ok(market, marketId);
    for (const rc of replica.imageOf(mi, view).rc as { id: number; batb: number[][]; batl: number[][]; ltp?: number; tv?: number }[]) {
      const r = market.runners.get(`${rc.id}:0`);
      assert.ok(r);
      const levels = (l: number[][]) => l.map(([, p, sz]) => [String(p), String(sz)]);
      assert.deepEqual(r.batb?.top(3) ?? [], levels(rc.batb), `back ${marketId}/${rc.id}`);
      assert.deepEqual(r.batl?.top(3) ?? [], levels(rc.batl), `lay ${marketId}/${rc.id}`);
      assert.equal(r.ltp, rc.ltp === undefined ? null : String(rc.ltp));
      assert.equal(r.tv, rc.tv === undefined ? null : String(rc.tv));
      compared++;
    }
  });
  assert.equal(compared, MARKETS.length * 4);
}

describe('betfair connector over TLS', () => {
  let sim: BetfairSimulator;
  before(async () => {
    sim = await startBetfairSimulator({ markets: MARKETS, runnersPerMarket: 4, ratePerS: 400, seed: 7, ...creds, heartbeatMs: 500 });
  });
  after(async () => sim.close());

  test('authenticates, subscribes, gets an image then deltas as records', async () => {
    const feed = startFeed(sim);
    const runners = () => feed.records.filter((r): r is Draft<RunnerRecord> => r.kind === 'runner');
    await waitFor('200 delta runner records', () => runners().filter((r) => !r.snapshot).length >= 200, 20_000, 5);
    await feed.stop();
    const statuses = feed.records.filter((r): r is Draft<StatusRecord> => r.kind === 'status').map((r) => r.status);
    assert.deepEqual(statuses.slice(0, 3), ['connected', 'authenticated', 'subscribed']);
    const snaps = runners().filter((r) => r.snapshot);
    assert.equal(snaps.length, MARKETS.length * 4, 'one image record per runner');
    assert.deepEqual(new Set(snaps.map((r) => r.market_id)), new Set(MARKETS));
    assert.equal(feed.records.filter((r) => r.kind === 'market').length >= MARKETS.length, true);
    for (const r of runners()) {
      assert.ok(r.back.length <= 3 && r.lay.length <= 3);
      // back best-first = descending, lay ascending, and the book never crosses
      for (let i = 1; i < r.back.length; i++) assert.ok(Number(r.back[i - 1]![0]) > Number(r.back[i]![0]));
      for (let i = 1; i < r.lay.length; i++) assert.ok(Number(r.lay[i - 1]![0]) < Number(r.lay[i]![0]));
      if (r.back[0] && r.lay[0]) assert.ok(Number(r.back[0][0]) < Number(r.lay[0][0]), `crossed book ${JSON.stringify(r)}`);
      assert.equal(r.instrument, `${r.market_id}:${r.selection_id}:0`);
      assert.match(r.clk ?? '', /^[A-Za-z0-9+/=]+$/);
    }
    assert.deepEqual(feed.errors, []);
    assert.ok(feed.session.clocks().initialClk);
  });

  test('wrong session token: FAILURE status, reconnect requested, secret never printed', async () => {
    const feed = startFeed(sim, createBetfairSession(cfg, { appKey: creds.appKey, sessionToken: 'wrong-token-value' }));
    await waitFor(
      'auth failure',
      () => feed.records.some((r) => r.kind === 'status' && r.status === 'FAILURE:INVALID_SESSION_INFORMATION'),
      20_000,
      5,
    );
    await waitFor('reconnect on auth failure', () => feed.states.some((s) => s.includes('INVALID_SESSION_INFORMATION')), 20_000, 5);
    await feed.stop();
    const text = JSON.stringify({ r: feed.records, s: feed.states });
    assert.ok(!text.includes('wrong-token-value') && !text.includes(creds.appKey), 'no secret in records or reasons');
    assert.ok(
      feed.states.some((s) => s.includes('NBPY_BETFAIR') || s.includes('session token')),
      'reason says what to fix',
    );
  });

  test('dropped connection: reconnects and resumes with clk (RESUB_DELTA, no new image)', async () => {
    const session = createBetfairSession(cfg, creds);
    const feed = startFeed(sim, session);
    await waitFor(
      'first image and deltas',
      () => session.stats().images === 1 && feed.records.filter((r) => r.kind === 'runner' && !r.snapshot).length > 50,
      20_000,
      5,
    );
    const imagesBefore = sim.stats().images;
    const resubBefore = sim.stats().resubDeltas;
    sim.dropAll();
    await waitFor('RESUB_DELTA after reconnect', () => session.stats().resubDeltas === 1, 20_000, 5);
    const n = feed.records.length;
    await waitFor('deltas after resume', () => feed.records.length > n + 50, 20_000, 5);
    await feed.stop();
    assert.equal(sim.stats().images, imagesBefore, 'the simulator sent no new image');
    assert.equal(sim.stats().resubDeltas, resubBefore + 1);
    assert.equal(session.stats().images, 1);
    const gaps = feed.records.filter((r): r is Draft<GapRecord> => r.kind === 'gap');
    assert.equal(gaps.length, 1);
    assert.ok(feed.records.some((r) => r.kind === 'status' && r.status === 'resubscribed'));
    assert.ok(
      !feed.records.slice(feed.records.indexOf(gaps[0]!)).some((r) => r.kind === 'runner' && r.snapshot),
      'no snapshot after resume',
    );
    assertMatchesModel(session, 7);
    assert.deepEqual(feed.errors, []);
  });
});

test('repeated drops (simulator fault dropEveryMs): every reconnect resumes, the cache stays exact', async () => {
  const sim = await startBetfairSimulator({
    markets: MARKETS,
    runnersPerMarket: 4,
    ratePerS: 500,
    seed: 8,
    ...creds,
    faults: { dropEveryMs: 250 },
  });
  try {
    const session = createBetfairSession(cfg, creds);
    const feed = startFeed(sim, session);
    await waitFor('three resumed reconnects', () => session.stats().resubDeltas >= 3, 20_000, 5);
    await feed.stop();
    assert.equal(session.stats().images, 1, 'one image for the whole run');
    assert.equal(feed.records.filter((r) => r.kind === 'gap').length >= 3, true);
    assert.deepEqual(feed.errors, []);
    assertMatchesModel(session, 8);
  } finally {
    await sim.close();
  }
});
