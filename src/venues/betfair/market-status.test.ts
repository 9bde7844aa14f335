import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { loadRecording } from '../recording.js';
import { MarketStatusBook, UNKNOWN_MARKET_STATUS } from './market-status.js';
import { createBetfairReplaySession, createBetfairSession, isBetfairFeedSession } from './session.js';
import type { FeedSession } from '../connector.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/recorded/betfair/', import.meta.url));
const fixture = (name: string) => `${FIXTURES}${name}`;

interface RawMc {
  id: string;
  marketDefinition?: { status: string };
}
/** The raw lines' market changes, read straight from the JSON (independently of our parser). */
const rawMcs = (name: string): RawMc[][] =>
  readFileSync(fixture(name), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => ((JSON.parse(l) as { mc?: RawMc[] }).mc ?? []) as RawMc[]);

const count = (xs: string[]) => xs.reduce<Record<string, number>>((o, x) => ((o[x] = (o[x] ?? 0) + 1), o), {});

describe('Betfair market statuses from recorded streams', () => {
  test('greyhound market (flumine recorder): OPEN, then SUSPENDED, then CLOSED; still reported after the cache drops it', () => {
    const name = 'recorder_full_depth_and_best_display_1.197931750_2022-04-19.jsonl';
    const frames = loadRecording(fixture(name));
    assert.equal(frames.length, 166);
    const s = createBetfairReplaySession();
    const seen: string[] = [];
    for (const fr of frames) {
      s.onFrame(fr);
      const st = s.marketStatuses().map((e) => `${e.marketId}=${e.status}`);
      if (seen.at(-1) !== st.join()) seen.push(st.join());
    }
    assert.deepEqual(seen, ['1.197931750=OPEN', '1.197931750=SUSPENDED', '1.197931750=CLOSED']);
    assert.equal(s.cache.marketCount, 0, 'the price cache dropped the closed market');
    assert.deepEqual(
      s.marketStatuses().map((e) => e.status),
      ['CLOSED'],
    );
  });

  test('horse-racing PLACE market (2000 lines, 35 definitions): after every line the status is the last definition sent', () => {
    const name = 'recorder_sp_fields_1.181223995_2021-03-29_prefix2000.jsonl';
    const frames = loadRecording(fixture(name));
    const raw = rawMcs(name);
    const s = createBetfairReplaySession();
    let expected: string | undefined;
    let suspensions = 0;
    let reopenings = 0;
    let prev: string | undefined;
    frames.forEach((fr, i) => {
      for (const mc of raw[i]!) if (mc.marketDefinition) expected = mc.marketDefinition.status;
      s.onFrame(fr);
      const got = s.marketStatuses();
      assert.deepEqual(
        got.map((e) => [e.marketId, e.status]),
        [['1.181223995', expected]],
        `line ${i + 1}`,
      );
      if (prev === 'OPEN' && expected === 'SUSPENDED') suspensions++;
      if (prev === 'SUSPENDED' && expected === 'OPEN') reopenings++;
      prev = expected;
    });
    // The recording suspends the market 7 times, each reopened on the next line (PROVENANCE.md: 35 definitions).
    assert.equal(suspensions, 7);
    assert.equal(reopenings, 7);
  });

  test('137-market SUB_IMAGE: one status per market, 2 without a definition are UNKNOWN', () => {
    const name = 'esa_sub_image_best_display_137_markets_2020-02-19.jsonl';
    const raw = rawMcs(name)[0]!;
    const s = createBetfairReplaySession();
    for (const fr of loadRecording(fixture(name))) s.onFrame(fr);
    const got = s.marketStatuses();
    assert.equal(got.length, 137);
    assert.deepEqual(
      got.map((e) => e.marketId),
      raw.map((mc) => mc.id),
    );
    assert.deepEqual(count(got.map((e) => e.status)), { OPEN: 123, CLOSED: 11, SUSPENDED: 1, [UNKNOWN_MARKET_STATUS]: 2 });
    for (const [i, mc] of raw.entries()) assert.equal(got[i]!.status, mc.marketDefinition?.status ?? UNKNOWN_MARKET_STATUS);
  });

  test('43-market RESUB_DELTA with 2 definitions: those two known (OPEN, SUSPENDED), the rest UNKNOWN', () => {
    const name = 'esa_resub_delta_43_markets_2016-11-05.jsonl';
    const s = createBetfairReplaySession();
    for (const fr of loadRecording(fixture(name))) s.onFrame(fr);
    const byId = Object.fromEntries(s.marketStatuses().map((e) => [e.marketId, e.status]));
    assert.equal(Object.keys(byId).length, 43);
    assert.equal(byId['1.128049357'], 'OPEN');
    assert.equal(byId['1.128049352'], 'SUSPENDED');
    assert.equal(count(Object.values(byId))[UNKNOWN_MARKET_STATUS], 41);
  });
});

describe('Betfair market statuses in a live session', () => {
  const cfg = { markets: ['1.100000001', '1.100000002'], eventTypeIds: [], marketTypes: [], ladderLevels: 3 };
  const f = (o: unknown) => ({ text: JSON.stringify(o), receivedAtUs: 1 });
  const subscribed = () => {
    const s = createBetfairSession(cfg, { appKey: 'k', sessionToken: 's' });
    s.onFrame(f({ op: 'connection', connectionId: 'x' }));
    s.onFrame(f({ op: 'status', id: 1, statusCode: 'SUCCESS', connectionClosed: false }));
    s.onFrame(f({ op: 'status', id: 2, statusCode: 'SUCCESS', connectionClosed: false }));
    return s;
  };
  const def = (status: string, version: number) => ({ status, inPlay: false, version, runners: [] });
  const statuses = (s: ReturnType<typeof subscribed>) => s.marketStatuses().map((e) => `${e.marketId}=${e.status}`);

  test('configured markets are reported UNKNOWN before the image, then as the definitions say', () => {
    const s = subscribed();
    assert.ok(isBetfairFeedSession(s));
    const other: FeedSession = { onOpen: () => [], onFrame: () => ({ records: [], send: [], errors: [] }), reset: () => {} };
    assert.ok(!isBetfairFeedSession(other));
    assert.deepEqual(statuses(s), ['1.100000001=UNKNOWN', '1.100000002=UNKNOWN']);
    s.onFrame(
      f({
        op: 'mcm',
        id: 2,
        ct: 'SUB_IMAGE',
        initialClk: 'i',
        clk: 'c1',
        pt: 1,
        mc: [
          { id: '1.100000002', img: true, marketDefinition: def('SUSPENDED', 1), rc: [] },
          { id: '1.100000001', img: true, marketDefinition: def('OPEN', 1), rc: [] },
        ],
      }),
    );
    assert.deepEqual(statuses(s), ['1.100000001=OPEN', '1.100000002=SUSPENDED'], 'config order, not message order');
    // A delta without a definition leaves the status alone; one with a definition replaces it.
    s.onFrame(f({ op: 'mcm', id: 2, clk: 'c2', pt: 2, mc: [{ id: '1.100000001', rc: [{ id: 5, batb: [[0, 2, 10]] }] }] }));
    assert.deepEqual(statuses(s), ['1.100000001=OPEN', '1.100000002=SUSPENDED']);
    s.onFrame(f({ op: 'mcm', id: 2, clk: 'c3', pt: 3, mc: [{ id: '1.100000001', marketDefinition: def('SUSPENDED', 2) }] }));
    assert.deepEqual(statuses(s), ['1.100000001=SUSPENDED', '1.100000002=SUSPENDED']);
    // A reconnect does not change a market's status: kept through reset().
    s.reset();
    assert.deepEqual(statuses(s), ['1.100000001=SUSPENDED', '1.100000002=SUSPENDED']);
  });

  test('a new SUB_IMAGE forgets markets it no longer carries, except closed ones', () => {
    const s = createBetfairSession({ ...cfg, markets: [] }, { appKey: 'k', sessionToken: 's' });
    s.onFrame(f({ op: 'connection', connectionId: 'x' }));
    s.onFrame(f({ op: 'status', id: 1, statusCode: 'SUCCESS', connectionClosed: false }));
    const image = (clk: string, mc: unknown[]) => f({ op: 'mcm', id: 2, ct: 'SUB_IMAGE', initialClk: 'i', clk, pt: 1, mc });
    s.onFrame(
      image('c1', [
        { id: '1.1', img: true, marketDefinition: def('OPEN', 1) },
        { id: '1.2', img: true, marketDefinition: def('CLOSED', 1) },
        { id: '1.3', img: true, marketDefinition: def('SUSPENDED', 1) },
      ]),
    );
    assert.deepEqual(statuses(s), ['1.1=OPEN', '1.2=CLOSED', '1.3=SUSPENDED']);
    s.onFrame(image('c2', [{ id: '1.3', img: true, marketDefinition: def('OPEN', 2) }]));
    assert.deepEqual(statuses(s), ['1.2=CLOSED', '1.3=OPEN']);
  });
});

describe('MarketStatusBook', () => {
  test('over the cap the longest-closed unsubscribed market goes first, subscribed ones never', () => {
    const b = new MarketStatusBook(['1.9'], 3);
    b.note('1.1', 'OPEN');
    b.note('1.2', 'OPEN');
    b.note('1.3', 'OPEN');
    b.note('1.2', 'CLOSED');
    b.note('1.1', 'CLOSED');
    b.note('1.4', 'OPEN'); // 4 unsubscribed: 1.2 closed longest ago
    assert.deepEqual(b.statuses(), ['UNKNOWN', 'OPEN', 'CLOSED', 'OPEN']);
    assert.deepEqual(
      b.entries().map((e) => e.marketId),
      ['1.9', '1.3', '1.1', '1.4'],
    );
    b.note('1.5', 'OPEN'); // no closed left but 1.1: it goes
    b.note('1.6', 'INACTIVE'); // none closed: the oldest seen (1.3) goes
    assert.deepEqual(
      b.entries().map((e) => `${e.marketId}=${e.status}`),
      ['1.9=UNKNOWN', '1.4=OPEN', '1.5=OPEN', '1.6=INACTIVE'],
    );
  });

  test('a market seen without a definition is UNKNOWN until one comes; null never erases a status', () => {
    const b = new MarketStatusBook();
    b.note('1.1', null);
    assert.deepEqual(b.statuses(), ['UNKNOWN']);
    b.note('1.1', 'OPEN');
    b.note('1.1', null);
    assert.deepEqual(b.statuses(), ['OPEN']);
  });
});
