/**
 * A store outage under load (simulated Kraken ticker, one subscriber, a real influxd), counted seq by
 * seq against the publisher's session file after a clean stop: influxd SIGKILLed in the middle of a
 * 10,000 records/s run, left down 60 s, started again on the same data: lost 0, the spool drained,
 * the outage in the subscriber's metrics. (A stalled store: store-stall.test.ts; 500s and the
 * spool's disk budget: store-errors.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoLoss,
  describe,
  drained,
  getText,
  health,
  PUB,
  sessionFile,
  sleep,
  stopClean,
  SUB,
  tickerStack,
  useInfluxd,
  waitFor,
  waitWritten,
  withFaultStack,
} from './harness.js';

/** How long the store is down or frozen: the fault itself, not a wait for something. */
const DOWN_MS = 60_000;
const KILL_RATE = 10_000;
const influx = useInfluxd();

test(
  `influxd SIGKILLed at ${KILL_RATE} records/s, down ${DOWN_MS / 1000} s, restarted: lost 0, spool drained, outage in the metrics`,
  { timeout: 900_000 },
  async () => {
    await withFaultStack(influx(), tickerStack('f_kill', KILL_RATE), async ({ stack, subscriberPort, startPair, account }) => {
      const port = subscriberPort(SUB);
      const { sub, pub, session: s } = await startPair(SUB, PUB);
      await waitWritten(port, 2000);
      influx().kill('SIGKILL');
      await influx().exited();
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
      await influx().restart();
      await waitFor('store back', async () => (await health(port)).store_up, 120_000, 200);
      await stopClean(pub, 'publisher');
      await drained(port);
      const h = await health(port);
      assert.ok(h.outages >= 1, 'the outage was counted');
      assert.equal(h.spool_bytes, 0, 'the spool drained');
      console.log(`# influxd down ${DOWN_MS / 1000} s at ${KILL_RATE}/s: spool peaked above ${spoolLate} bytes`);
      await stopClean(sub, 'subscriber');
      const acc = await account(SUB, s, sessionFile(stack, PUB).last_seq);
      console.log(`# influxd SIGKILL+restart: ${describe(acc)}`);
      assertNoLoss(acc, { firstSession: true });
    });
  },
);
