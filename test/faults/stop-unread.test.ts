/**
 * A publisher that stops while its subscriber is far behind on the bus: the subscriber is frozen
 * (SIGSTOP) while 100,000 records are published, then the publisher is stopped cleanly (`nbpy stop`
 * order: publishers first). Its ZeroMQ linger runs out with messages still queued for the frozen
 * subscriber, and its journal ends with the process, so that tail is gone. The subscriber, resumed
 * and stopped, reads what reached it and then stores the rest as a gap with its exact range, from the
 * publisher's session file: lost == exactly what was reported, nothing silent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertLossReported,
  describe,
  health,
  PUB,
  reportedGaps,
  sessionFile,
  stopClean,
  storeView,
  SUB,
  tickerStack,
  useInfluxd,
  waitFor,
  waitReady,
  waitWritten,
  withFaultStack,
} from './harness.js';

const influx = useInfluxd();

test('publisher stopped while its subscriber is frozen far behind: the unread tail is stored as an exact gap at the stop', async () => {
  await withFaultStack(influx(), tickerStack('f_stop_unread', 5000), async ({ stack, procs, subscriberPort, startPair, account }) => {
    const port = subscriberPort(SUB);
    const pubPort = stack.publisherStatusPort(PUB);
    const { sub, pub, session: s } = await startPair(SUB, PUB);
    await waitWritten(port, 3000);
    const frozenAt = (await health(pubPort)).last_seq as number;
    sub.child.kill('SIGSTOP');
    try {
      // More than the loopback TCP buffers hold: the rest waits in the publisher's ZeroMQ queue.
      await waitFor(
        '100,000 records published during the freeze',
        async () => (await health(pubPort)).last_seq > frozenAt + 100_000,
        120_000,
        200,
      );
      await stopClean(pub, 'publisher (its linger runs out with messages still queued for the frozen subscriber)');
    } finally {
      sub.child.kill('SIGCONT');
    }
    await stopClean(sub, 'subscriber');
    // Started and stopped again with the publisher still stopped: it reads nothing of that session, so
    // it reports nothing again (the range is stored once).
    const sub2 = procs.start(['subscriber', 'run', SUB], stack.configPath);
    await waitReady(sub2, port);
    await stopClean(sub2, 'subscriber 2');
    const file = sessionFile(stack, PUB);
    assert.equal(file.clean_stop, true);
    const acc = await account(SUB, s, file.last_seq);
    console.log(`# stop with the tail unread: ${describe(acc)}`);
    const head = assertLossReported(acc, { firstSession: true });
    console.log(`# stop with the tail unread: silent head of the first session: ${head}`);
    // The fault happened: part of the session never reached the subscriber, and it was reported.
    assert.ok(acc.lost - head > 0 && acc.reported === acc.lost - head, describe(acc));
    const gaps = await reportedGaps(storeView(influx(), stack, SUB), s);
    assert.equal(gaps.length, 1, `one gap record for the unread tail: ${JSON.stringify(gaps)}`);
  });
});
