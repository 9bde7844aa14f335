/**
 * A stalled store under load (simulated Kraken ticker, one subscriber, a real influxd), counted seq by
 * seq against the publisher's session file after a clean stop: influxd stalled (SIGSTOP) for 60 s,
 * resumed: lost 0; then stalled again and the services stopped (publisher, then subscriber, as
 * `nbpy stop` does) during the stall: what cannot be written stays in the durable spool, and a
 * subscriber started after influxd is back writes it: lost 0. (A killed store: store-outage.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoLoss,
  describe,
  drained,
  health,
  PUB,
  sessionFile,
  sleep,
  stopClean,
  SUB,
  tickerStack,
  useInfluxd,
  waitFor,
  waitReady,
  waitWritten,
  withFaultStack,
} from './harness.js';

const RATE = 1500;
/** How long the store is down or frozen: the fault itself, not a wait for something. */
const DOWN_MS = 60_000;
const influx = useInfluxd();

test(
  `influxd stalled (SIGSTOP ${DOWN_MS / 1000} s) and resumed: lost 0; stopped during a second stall: spooled, written after restart, lost 0`,
  { timeout: 900_000 },
  async () => {
    await withFaultStack(
      influx(),
      tickerStack('f_stall', RATE, { requestTimeoutMs: 1000, phaseTimeoutMs: 3000 }),
      async ({ stack, procs, subscriberPort, startPair, account }) => {
        const port = subscriberPort(SUB);
        const { sub, pub, session: s } = await startPair(SUB, PUB);
        await waitWritten(port, 2000);

        influx().pause();
        try {
          // A fixed stall is the fault itself (not a wait for something): influxd frozen for DOWN_MS.
          await waitFor('outage seen', async () => !(await health(port)).store_up, 60_000, 200);
          await sleep(DOWN_MS);
          assert.ok((await health(port)).spool_bytes > 0, 'records went to the spool during the stall');
        } finally {
          influx().resume();
        }
        await waitFor(
          'store back, spool drained',
          async () => {
            const h = await health(port);
            return h.store_up && h.spool_bytes === 0 && h;
          },
          90_000,
          200,
        );

        // Second stall, and the stop (publisher first, then the subscriber) happens during it.
        influx().pause();
        let spooledAtExit = 0;
        try {
          await waitFor(
            'outage seen again',
            async () => {
              const h = await health(port);
              return !h.store_up && h.spool_bytes > 0 && h;
            },
            60_000,
            200,
          );
          await stopClean(pub, 'publisher');
          sub.child.kill('SIGTERM');
          const e = await sub.exited;
          assert.equal(e.code, 0, `subscriber exit during the stall: ${sub.stderr()}`);
          const last = sub.lines.filter((l) => typeof l.msg === 'string' && String(l.msg).startsWith('stopped')).pop();
          assert.ok(last, 'the subscriber logged its stop summary');
          spooledAtExit = Number(last.spool_batches);
          assert.ok(spooledAtExit > 0, `the spool keeps what the stalled store did not take: ${JSON.stringify(last)}`);
        } finally {
          influx().resume();
        }
        const sub2 = procs.start(['subscriber', 'run', SUB], stack.configPath);
        await waitReady(sub2, port);
        await drained(port);
        await stopClean(sub2, 'subscriber 2');
        const file = sessionFile(stack, PUB);
        assert.equal(file.clean_stop, true);
        const acc = await account(SUB, s, file.last_seq);
        console.log(`# influxd stall + stop during stall (${spooledAtExit} batches spooled at exit): ${describe(acc)}`);
        assertNoLoss(acc, { firstSession: true });
      },
    );
  },
);
