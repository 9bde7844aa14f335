/**
 * The Kraken session + ws transport against the Kraken simulator through a real loopback socket.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import type { DepthRecord, Draft, GapRecord } from '../../src/core/records.js';
import { startKrakenSimulator, type KrakenSimulator } from '../../src/simulators/kraken.js';
import type { FeedCounter, TransportConnection } from '../../src/venues/connector.js';
import { createKrakenSession, createKrakenTransport } from '../../src/venues/kraken/index.js';
import { runFeed } from '../../src/venues/reconnect.js';
import { krakenPublisherSchema } from '../../src/config/schema.js';

const sims: KrakenSimulator[] = [];
after(async () => {
  for (const s of sims) await s.close();
});

function config(feed: 'book' | 'ticker' | 'trade', url: string) {
  return krakenPublisherSchema.parse({
    name: `kraken_${feed}`,
    venue: 'kraken',
    feed,
    topic: `kraken.${feed}`,
    port: 1,
    statusPort: 2,
    instruments: ['BTC/USD', 'ETH/USD'],
    bookDepth: 10,
    publishLevels: 10,
    source: { type: 'live', url },
  });
}

/** Pump frames from a connection through a session until `done()` says so or the deadline passes. */
async function drive(
  conn: TransportConnection,
  session: ReturnType<typeof createKrakenSession>,
  done: (all: Draft[]) => boolean,
  deadlineMs = 10_000,
): Promise<{ records: Draft[]; errors: number; sent: string[]; counters: Partial<Record<FeedCounter, number>> }> {
  const records: Draft[] = [];
  const sent: string[] = [];
  const counters: Partial<Record<FeedCounter, number>> = {};
  let errors = 0;
  for (const m of session.onOpen(systemClock.nowUs())) conn.send(m);
  const timer = setTimeout(() => conn.close(), deadlineMs);
  try {
    for await (const f of conn.frames) {
      const r = session.onFrame(f);
      records.push(...r.records);
      errors += r.errors.length;
      for (const [k, v] of Object.entries(r.counters ?? {})) counters[k as FeedCounter] = (counters[k as FeedCounter] ?? 0) + v;
      for (const m of r.send) {
        sent.push(m);
        conn.send(m);
      }
      if (done(records)) break;
    }
  } finally {
    clearTimeout(timer);
    conn.close();
  }
  return { records, errors, sent, counters };
}

test('book feed: snapshots and updates arrive with verified checksums', async () => {
  const sim = await startKrakenSimulator({ instruments: ['BTC/USD', 'ETH/USD'], ratePerS: 500, seed: 7 });
  sims.push(sim);
  const session = createKrakenSession(config('book', sim.url));
  const conn = await createKrakenTransport(sim.url).connect(new AbortController().signal);
  const { records, errors, counters } = await drive(conn, session, (all) => all.filter((r) => r.kind === 'depth').length >= 300);
  const depth = records.filter((r): r is Draft<DepthRecord> => r.kind === 'depth');
  assert.ok(depth.length >= 300, `only ${depth.length} depth records`);
  assert.equal(errors, 0);
  assert.equal(counters.checksum_failures ?? 0, 0);
  assert.ok(depth.every((d) => d.checksum_ok && d.checksum !== null));
  assert.deepEqual(new Set(depth.map((d) => d.instrument)), new Set(['BTC/USD', 'ETH/USD']));
  assert.equal(depth.filter((d) => d.snapshot).length, 2);
  const d = depth.at(-1) as Draft<DepthRecord>;
  assert.equal(d.bids.length, 10);
  assert.equal(d.asks.length, 10);
  // best first, and the exact decimal text of the venue (trailing zeros kept)
  assert.ok(Number(d.bids[0]?.[0]) > Number(d.bids[1]?.[0]));
  assert.ok(Number(d.asks[0]?.[0]) < Number(d.asks[1]?.[0]));
  assert.match(d.asks[0]?.[1] ?? '', /^\d+\.\d{8}$/);
  assert.ok(records.some((r) => r.kind === 'status'));
});

test('bad checksum from the venue -> gap, resubscribe, then a fresh snapshot that verifies', async () => {
  const sim = await startKrakenSimulator({
    instruments: ['BTC/USD', 'ETH/USD'],
    ratePerS: 500,
    seed: 3,
    faults: { badChecksumRate: 0.02 },
  });
  sims.push(sim);
  const session = createKrakenSession(config('book', sim.url));
  const conn = await createKrakenTransport(sim.url).connect(new AbortController().signal);
  let gapAt = -1;
  const { records, sent, counters } = await drive(conn, session, (all) => {
    if (gapAt < 0) gapAt = all.findIndex((r) => r.kind === 'gap');
    if (gapAt < 0) return false;
    const gap = all[gapAt] as Draft<GapRecord>;
    return all.slice(gapAt + 1).some((r) => r.kind === 'depth' && r.instrument === gap.instrument && r.snapshot && r.checksum_ok);
  });
  assert.ok(gapAt >= 0, 'no gap record');
  const gap = records[gapAt] as Draft<GapRecord>;
  assert.equal(gap.reason, 'checksum');
  const bad = records[gapAt - 1] as Draft<DepthRecord>;
  assert.equal(bad.kind, 'depth');
  assert.equal(bad.checksum_ok, false);
  assert.ok((counters.checksum_failures ?? 0) >= 1);
  assert.ok((counters.resubscribes ?? 0) >= 1);
  const unsub = sent.find((m) => m.includes('"unsubscribe"'));
  assert.ok(unsub?.includes(gap.instrument), 'unsubscribe names the symbol');
  assert.ok(sent.some((m) => m.includes('"subscribe"') && m.includes(gap.instrument) && m.includes('"snapshot":true')));
  const after = records.slice(gapAt + 1).filter((r): r is Draft<DepthRecord> => r.kind === 'depth' && r.instrument === gap.instrument);
  const firstSnap = after.findIndex((r) => r.snapshot);
  assert.ok(firstSnap >= 0);
  // nothing for that symbol between the gap and the new snapshot: its updates had no base book
  assert.equal(firstSnap, 0);
  assert.equal(after[firstSnap]?.checksum_ok, true);
  assert.ok(sim.stats().badChecksums >= 1);
});

test('ticker and trade feeds; ping gets a pong without errors', async () => {
  const sim = await startKrakenSimulator({ instruments: ['BTC/USD', 'ETH/USD'], ratePerS: 400, seed: 11 });
  sims.push(sim);
  for (const feed of ['ticker', 'trade'] as const) {
    const session = createKrakenSession(config(feed, sim.url));
    const conn = await createKrakenTransport(sim.url).connect(new AbortController().signal);
    conn.send(session.keepAlive?.(0)[0] ?? '');
    const { records, errors } = await drive(
      conn,
      session,
      (all) => all.filter((r) => r.kind === (feed === 'ticker' ? 'tick' : 'trade')).length >= 50,
    );
    assert.equal(errors, 0);
    const data = records.filter((r) => r.kind === (feed === 'ticker' ? 'tick' : 'trade'));
    assert.ok(data.length >= 50);
    for (const r of data) {
      if (r.kind === 'tick') {
        assert.ok(r.bid && r.ask && r.bid_qty && r.ask_qty && r.last);
        assert.ok(Number(r.bid) < Number(r.ask));
      } else if (r.kind === 'trade') {
        assert.match(r.trade_id, /^\d+$/);
        assert.ok(r.side === 'buy' || r.side === 'sell');
      }
    }
    if (feed === 'trade') {
      const ids = data.map((r) => (r.kind === 'trade' ? `${r.instrument}:${r.trade_id}` : ''));
      assert.equal(new Set(ids).size, ids.length, 'no duplicate trades');
    }
  }
  assert.ok(sim.stats().pings >= 2);
});

test('through the reconnect loop: a dropped connection gives one gap and the books recover', async () => {
  const sim = await startKrakenSimulator({ instruments: ['BTC/USD', 'ETH/USD'], ratePerS: 300, seed: 5 });
  sims.push(sim);
  const session = createKrakenSession(config('book', sim.url));
  const ac = new AbortController();
  const records: Draft[] = [];
  let dropped = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const deadline = setTimeout(() => ac.abort(), 20_000);
  const loop = runFeed({
    transport: createKrakenTransport(sim.url),
    session,
    clock: systemClock,
    venue: 'kraken',
    staleAfterMs: 5000,
    backoff: { initialMs: 50, maxMs: 200 },
    signal: ac.signal,
    onRecords: (drafts) => {
      records.push(...drafts);
      const depth = records.filter((r) => r.kind === 'depth');
      if (!dropped && depth.length >= 50) {
        dropped = true;
        sim.dropAll();
      }
      const gapAt = records.findIndex((r) => r.kind === 'gap');
      if (gapAt >= 0 && records.slice(gapAt).filter((r) => r.kind === 'depth' && r.checksum_ok).length >= 50) resolveDone();
    },
    onError: (e) => assert.fail(`frame error ${e.code}: ${e.message}`),
  });
  await Promise.race([done, loop]);
  ac.abort();
  await loop;
  clearTimeout(deadline);
  const gaps = records.filter((r): r is Draft<GapRecord> => r.kind === 'gap');
  assert.equal(gaps.length, 1);
  assert.equal(gaps[0]?.reason, 'reconnect');
  const gapAt = records.indexOf(gaps[0] as Draft);
  const afterGap = records.slice(gapAt + 1).filter((r): r is Draft<DepthRecord> => r.kind === 'depth');
  assert.ok(afterGap.length >= 50);
  assert.ok(afterGap.every((d) => d.checksum_ok));
  // books were reset: each symbol restarts with a snapshot
  for (const sym of ['BTC/USD', 'ETH/USD']) assert.equal(afterGap.find((d) => d.instrument === sym)?.snapshot, true);
  assert.ok(sim.stats().connectionsTotal >= 2);
});
