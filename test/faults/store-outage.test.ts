/**
 * A store outage under load (simulated Kraken ticker, one subscriber, a real influxd), counted seq by
 * seq against the publisher's session file after a clean stop: influxd SIGKILLed in the middle of a
 * 10,000 records/s run, left down 60 s, started again on the same data: lost 0, the spool drained,
 * the outage in the subscriber's metrics. (A stalled store: store-stall.test.ts; 500s and the
 * spool's disk budget: store-errors.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startInfluxd, type TestInfluxd } from '../support/influxd.js';
import {
  Procs,
  accountFor,
  assertNoLoss,
  describe,
  drained,
  getJson,
  getText,
  makeFaultStack,
  sessionFile,
  sessionOf,
  stopClean,
  storeView,
  waitFor,
  waitReady,
} from './harness.js';

const PUB = 'kraken_tick';
const SUB = 'kraken_influxdb_tick';
/** How long the store is down or frozen: the fault itself, not a wait for something. */
const DOWN_MS = 60_000;
const KILL_RATE = 10_000;
let influx: TestInfluxd;

before(async () => {
  influx = await startInfluxd();
});
after(async () => {
  influx?.resume();
  await influx?.stop();
});

const health = (port: number) => getJson(port, '/health');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test(
  `influxd SIGKILLed at ${KILL_RATE} records/s, down ${DOWN_MS / 1000} s, restarted: lost 0, spool drained, outage in the metrics`,
  { timeout: 900_000 },
  async () => {
    const stack = await makeFaultStack({
      influxUrl: influx.url,
      database: 'f_kill',
      publishers: { [PUB]: { ratePerS: KILL_RATE } },
      subscribers: [SUB],
    });
    const procs = new Procs();
    const port = stack.subscriberPort(SUB);
    try {
      const sub = procs.start(['subscriber', 'run', SUB], stack.configPath);
      await waitReady(sub, port);
      const pub = procs.start(['publisher', 'run', PUB], stack.configPath);
      const s = await sessionOf(pub);
      await waitFor('flowing', async () => (await health(port)).points_written > 2000, 60_000, 200);
      influx.kill('SIGKILL');
      await influx.exited();
      await waitFor(
        'outage seen, spooling',
        async () => {
          const h = await health(port);
          return !h.store_up && h.spool_bytes > 0 && h;
        },
        60_000,
        200,
      );
      const spoolEarly = (await health(port)).spool_bytes as number;
      await sleep(DOWN_MS);
      const spoolLate = (await health(port)).spool_bytes as number;
      assert.ok(spoolLate > spoolEarly, `the spool grew while the store was down (${spoolEarly} -> ${spoolLate} bytes)`);
      const metrics = await getText(port, '/metrics');
      assert.match(metrics, /^nbpy_store_up\{[^}]*\} 0$/m, 'store down in the metrics');
      assert.match(metrics, /^nbpy_store_outages_total\{[^}]*\} [1-9]/m, 'the outage counted in the metrics');
      await influx.restart();
      await waitFor('store back', async () => (await health(port)).store_up, 120_000, 200);
      await stopClean(pub, 'publisher');
      await drained(port);
      const h = await health(port);
      assert.ok(h.outages >= 1, 'the outage was counted');
      assert.equal(h.spool_bytes, 0, 'the spool drained');
      console.log(`# influxd down ${DOWN_MS / 1000} s at ${KILL_RATE}/s: spool peaked above ${spoolLate} bytes`);
      await stopClean(sub, 'subscriber');
      const acc = await accountFor(storeView(influx, stack, SUB), s, sessionFile(stack, PUB).last_seq);
      console.log(`# influxd SIGKILL+restart: ${describe(acc)}`);
      assertNoLoss(acc, { firstSession: true });
    } finally {
      await procs.killAll();
      rmSync(stack.dir, { recursive: true, force: true });
    }
  },
);
