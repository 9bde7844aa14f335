/**
 * Venue faults from the simulators, all through the real connectors, publishers and subscribers into a
 * real influxd. Venue faults lose venue data (the outage is a `gap` record); they must never lose
 * anything on the bus: every seq published is stored (lost 0), and the gap records are there.
 * - Kraken book: connection dropped every 2.5 s, stalls (1.5 s, longer than staleAfterMs 1 s),
 *   garbage frames, bad checksums: every depth record with checksum_ok=false is followed by exactly
 *   one `checksum` gap record;
 * - Betfair: connection dropped every 2.5 s, resubscribed with the clk resume token;
 * - OANDA weekend: prices not tradeable, then heartbeats only: no reconnect, no stale gap, the
 *   connection stays up through 12 s of silence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accountFor,
  assertNoLoss,
  describe,
  drained,
  eventCount,
  health,
  sessionFile,
  stopClean,
  storeView,
  type StoreView,
  useInfluxd,
  waitFor,
  waitReady,
  withFaultStack,
} from './harness.js';

const influx = useInfluxd();

async function count(v: StoreView, q: string): Promise<number> {
  const r = await v.influx.query(q, v.database);
  return (r.results?.[0]?.series?.[0]?.values?.[0]?.[1] as number | undefined) ?? 0;
}

test('venue faults (Kraken drop/stall/garbage/bad checksum, Betfair resubscribe, OANDA weekend): lost 0 on the bus, gaps recorded', async () => {
  await withFaultStack(
    influx(),
    {
      database: 'f_venue',
      publishers: {
        kraken_depth: {
          ratePerS: 200,
          staleAfterMs: 1000,
          faults: { dropEveryMs: 2500, stallEveryMs: 3700, stallMs: 1500, garbageRate: 0.01, badChecksumRate: 0.02 },
        },
        betfair_stream: { ratePerS: 100, faults: { dropEveryMs: 2500 } },
        oanda_tick: { ratePerS: 50, weekend: true },
      },
      subscribers: ['kraken_influxdb_depth', 'betfair_influxdb_stream', 'oanda_influxdb_tick'],
    },
    async ({ stack, procs, subscriberPort }) => {
      const pubs = ['kraken_depth', 'betfair_stream', 'oanda_tick'];
      const subs = ['kraken_influxdb_depth', 'betfair_influxdb_stream', 'oanda_influxdb_tick'];
      const sp = subs.map((s) => procs.start(['subscriber', 'run', s], stack.configPath));
      for (const [i, s] of subs.entries()) await waitReady(sp[i]!, subscriberPort(s), s);
      const pp = pubs.map((p) => procs.start(['publisher', 'run', p], stack.configPath));
      const ph = (p: string) => health(stack.publisherStatusPort(p));
      const startedAt = Date.now();
      await waitFor(
        'kraken faults seen',
        async () => {
          const h = await ph('kraken_depth');
          return h.reconnects >= 3 && h.checksum_failures >= 2 && h.parse_errors >= 1 && h;
        },
        120_000,
        250,
      );
      await waitFor('betfair reconnected twice', async () => (await ph('betfair_stream')).reconnects >= 2, 120_000, 250);
      // OANDA weekend: at least 12 s of heartbeats-only silence (longer than two heartbeats at 5 s).
      await waitFor('12 s of weekend', () => Date.now() - startedAt > 12_000, 60_000, 250);
      const oanda = await ph('oanda_tick');
      assert.equal(oanda.connected, true, 'OANDA stays connected over the weekend');
      assert.equal(oanda.reconnects, 0, `no reconnect during the weekend: ${JSON.stringify(oanda)}`);

      for (const p of pp) await stopClean(p, 'publisher');
      for (const s of subs) await drained(subscriberPort(s));
      for (const p of sp) await stopClean(p, 'subscriber');

      for (const [i, p] of pubs.entries()) {
        const v = storeView(influx(), stack, subs[i]!);
        const f = sessionFile(stack, p);
        assert.equal(f.clean_stop, true);
        const acc = await accountFor(v, f.session, f.last_seq);
        console.log(`# venue faults ${p}: ${describe(acc)}`);
        assertNoLoss(acc, { firstSession: true });
      }

      const kd = storeView(influx(), stack, 'kraken_influxdb_depth');
      const bad = await count(kd, `SELECT count(seq) FROM "high_frequency"."kraken_depth" WHERE checksum_ok = false`);
      const checksumGaps = await eventCount(kd, 'checksum', 'kraken_depth');
      console.log(
        `# kraken faults: bad checksums ${bad}, checksum gaps ${checksumGaps}, reconnect gaps ${await eventCount(kd, 'reconnect', 'kraken_depth')}, stale gaps ${await eventCount(kd, 'stale', 'kraken_depth')}`,
      );
      assert.ok(bad >= 2);
      assert.equal(checksumGaps, bad, 'one checksum gap record per depth record whose checksum failed');
      assert.ok((await eventCount(kd, 'reconnect', 'kraken_depth')) + (await eventCount(kd, 'stale', 'kraken_depth')) >= 2);

      const bf = storeView(influx(), stack, 'betfair_influxdb_stream');
      assert.ok((await eventCount(bf, 'reconnect', 'betfair_stream')) >= 1, 'Betfair reconnects are gap records');

      const oa = storeView(influx(), stack, 'oanda_influxdb_tick');
      assert.equal(await eventCount(oa, 'stale', 'oanda_tick'), 0, 'heartbeats keep the weekend connection alive');
      assert.equal(await count(oa, `SELECT count(seq) FROM "high_frequency"."oanda_tick" WHERE tradeable = true`), 0);
      // The weekend publishes the opening snapshot (one non-tradeable price per instrument) and then
      // nothing but heartbeats. (Those two may be the silent head of a first session, see harness.)
      assert.equal(sessionFile(stack, 'oanda_tick').last_seq, 2, 'only the weekend snapshot was published');
    },
  );
});
