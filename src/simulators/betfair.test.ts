import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BetfairCache } from '../venues/betfair/cache.js';
import { parseBetfairMessage, type ChangeMessage } from '../venues/betfair/parse.js';
import { createBetfairMarketModel, type ModelChange } from './betfair.js';

const MARKETS = ['1.1', '1.2'];
const ALL = {
  fields: new Set(['EX_ALL_OFFERS', 'EX_BEST_OFFERS', 'EX_BEST_OFFERS_DISP', 'EX_TRADED', 'EX_TRADED_VOL', 'EX_LTP', 'EX_MARKET_DEF']),
  ladderLevels: 5,
};
const msg = (o: unknown): ChangeMessage => parseBetfairMessage(JSON.stringify(o)) as ChangeMessage;

function run(seed: number, steps: number): string[] {
  const m = createBetfairMarketModel({ markets: MARKETS, runnersPerMarket: 3, seed });
  const out = MARKETS.map((_, i) => JSON.stringify(m.imageOf(i, ALL)));
  for (let i = 0; i < steps; i++) out.push(JSON.stringify(m.deltaOf(m.step(), ALL)));
  return out;
}

test('deterministic with a seed; another seed gives another market', () => {
  assert.deepEqual(run(3, 500), run(3, 500));
  assert.notDeepEqual(run(3, 50), run(4, 50));
});

test('image + every delta through the cache equals a fresh image, for every ladder view', () => {
  const m = createBetfairMarketModel({ markets: MARKETS, runnersPerMarket: 3, seed: 11 });
  const cache = new BetfairCache();
  cache.apply(msg({ op: 'mcm', ct: 'SUB_IMAGE', clk: 'x', pt: 1, mc: MARKETS.map((_, i) => m.imageOf(i, ALL)) }));
  for (let i = 0; i < 3000; i++) {
    const c = m.step();
    const mc = m.deltaOf(c, ALL);
    if (mc) cache.apply(msg({ op: 'mcm', clk: 'x', pt: 2, mc: [mc] }));
  }
  assertSame(cache, m);
});

test('a resume patch (changes since a clk) on the old cache equals a fresh image', () => {
  const m = createBetfairMarketModel({ markets: MARKETS, runnersPerMarket: 3, seed: 12 });
  const cache = new BetfairCache();
  cache.apply(msg({ op: 'mcm', ct: 'SUB_IMAGE', clk: 'x', pt: 1, mc: MARKETS.map((_, i) => m.imageOf(i, ALL)) }));
  for (let i = 0; i < 200; i++) {
    const mc = m.deltaOf(m.step(), ALL);
    if (mc) cache.apply(msg({ op: 'mcm', clk: 'x', pt: 2, mc: [mc] }));
  }
  const missed: ModelChange[] = [];
  for (let i = 0; i < 2000; i++) missed.push(m.step());
  const patch = MARKETS.flatMap((_, i) => m.patchOf(i, missed, ALL) ?? []);
  cache.apply(msg({ op: 'mcm', ct: 'RESUB_DELTA', clk: 'y', pt: 3, mc: patch }));
  assertSame(cache, m);
});

function assertSame(cache: BetfairCache, m: ReturnType<typeof createBetfairMarketModel>) {
  const fresh = new BetfairCache();
  fresh.apply(msg({ op: 'mcm', ct: 'SUB_IMAGE', clk: 'x', pt: 1, mc: MARKETS.map((_, i) => m.imageOf(i, ALL)) }));
  let runners = 0;
  for (const id of MARKETS) {
    const a = cache.market(id)!;
    const b = fresh.market(id)!;
    assert.equal(a.tv, b.tv);
    assert.equal(a.definition?.version, b.definition?.version);
    for (const [key, rb] of b.runners) {
      const ra = a.runners.get(key)!;
      assert.deepEqual(ra.atb!.all(), rb.atb!.all(), `atb ${id}/${key}`);
      assert.deepEqual(ra.atl!.all(), rb.atl!.all(), `atl ${id}/${key}`);
      assert.deepEqual(ra.trd?.all() ?? [], rb.trd?.all() ?? []);
      for (const l of ['batb', 'batl', 'bdatb', 'bdatl'] as const) assert.deepEqual(ra[l]!.top(10), rb[l]!.top(10), `${l} ${id}/${key}`);
      assert.deepEqual([ra.ltp, ra.tv], [rb.ltp, rb.tv]);
      // never crossed
      const bb = rb.atb!.topDescending(1)[0];
      const bl = rb.atl!.topAscending(1)[0];
      if (bb && bl) assert.ok(Number(bb[0]) < Number(bl[0]));
      runners++;
    }
  }
  assert.equal(runners, 6);
}

test('a market set SUSPENDED: the delta is its new definition alone, and only open markets trade from then on', () => {
  const m = createBetfairMarketModel({ markets: MARKETS, runnersPerMarket: 3, seed: 9 });
  const v0 = (m.definition(0) as { version: number }).version;
  assert.equal(m.setStatus('1.1', 'OPEN'), null, 'already open: no change');
  const c = m.setStatus('1.1', 'SUSPENDED')!;
  assert.equal(c.clk, m.clk);
  const mc = m.deltaOf(c, ALL)!;
  assert.deepEqual(Object.keys(mc).sort(), ['id', 'marketDefinition', 'rc']);
  assert.deepEqual(mc.rc, []);
  const d = mc.marketDefinition as { status: string; version: number };
  assert.equal(d.status, 'SUSPENDED');
  assert.equal(d.version, v0 + 1);
  assert.equal((m.imageOf(0, ALL).marketDefinition as { status: string }).status, 'SUSPENDED');
  assert.equal(m.anyOpen, true);
  for (let i = 0; i < 300; i++) assert.equal(m.step().market, 1, 'the suspended market does not trade');
  m.setStatus('1.2', 'SUSPENDED');
  assert.equal(m.anyOpen, false);
  m.setStatus('1.1', 'OPEN');
  assert.equal(m.anyOpen, true);
  for (let i = 0; i < 300; i++) assert.equal(m.step().market, 0);
  assert.throws(() => m.setStatus('1.404', 'OPEN'), /no market 1\.404/);
});
