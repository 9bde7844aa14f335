/**
 * A publisher that stops while its subscriber is far behind on the bus: the subscriber is frozen
 * (SIGSTOP) while 150,000 records (~43 MB) are published at 10,000/s, then the publisher is stopped cleanly (`nbpy stop`
 * order: publishers first). Its ZeroMQ linger runs out with messages still queued for the frozen
 * subscriber, so that tail never arrives on the bus. The publisher saved its journal at its stop
 * (`<runDir>/sessions/<publisher>.journal`): the subscriber, resumed and stopped, reads what reached it
 * and takes the rest from that file, so nothing is lost. Without the file (a publisher on another
 * host, or a file that cannot be read) it stores the rest as a gap with its exact range, from the
 * publisher's session file: lost == exactly what was reported, nothing silent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
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

async function stopBehind(database: string, savedJournal: boolean): Promise<void> {
  await withFaultStack(influx(), tickerStack(database, 10_000), async ({ stack, procs, subscriberPort, startPair, account }) => {
    const port = subscriberPort(SUB);
    const pubPort = stack.publisherStatusPort(PUB);
    const { sub, pub, session: s } = await startPair(SUB, PUB);
    await waitWritten(port, 3000);
    const frozenAt = (await health(pubPort)).last_seq as number;
    sub.child.kill('SIGSTOP');
    const journalFile = join(stack.config.runDir, 'sessions', `${PUB}.journal`);
    try {
      // More than loopback TCP can buffer for a stopped reader here (up to 32 MB received, tcp_rmem,
      // + 4 MB sent): the rest waits in the publisher's ZeroMQ queue.
      await waitFor(
        '150,000 records published during the freeze',
        async () => (await health(pubPort)).last_seq > frozenAt + 150_000,
        120_000,
        200,
      );
      await stopClean(pub, 'publisher (its linger runs out with messages still queued for the frozen subscriber)');
      if (!savedJournal) rmSync(journalFile);
    } finally {
      sub.child.kill('SIGCONT');
    }
    await stopClean(sub, 'subscriber');
    const stopped = sub.lines.find((l) => 'recovered_at_stop' in l) as { recovered_at_stop: number; unread_at_stop: number } | undefined;
    assert.ok(stopped, `the subscriber's stop line: ${JSON.stringify(sub.lines.slice(-5))}`);
    // Started and stopped again with the publisher still stopped: it reads nothing of that session, so
    // it reports nothing again (the range is stored once).
    const sub2 = procs.start(['subscriber', 'run', SUB], stack.configPath);
    await waitReady(sub2, port);
    await stopClean(sub2, 'subscriber 2');
    const file = sessionFile(stack, PUB);
    assert.equal(file.clean_stop, true);
    const acc = await account(SUB, s, file.last_seq);
    const what = savedJournal ? 'saved journal' : 'no saved journal';
    console.log(`# stop with the tail unread (${what}): ${describe(acc)}; stop line ${JSON.stringify(stopped)}`);
    const head = assertLossReported(acc, { firstSession: true });
    console.log(`# stop with the tail unread (${what}): silent head of the first session: ${head}`);
    const gaps = await reportedGaps(storeView(influx(), stack, SUB), s);
    if (savedJournal) {
      // The fault happened (the tail did not come over the bus), and the saved journal gave it back.
      assert.ok(stopped.recovered_at_stop > 0 && stopped.unread_at_stop === 0, JSON.stringify(stopped));
      assert.equal(acc.lost - head, 0, describe(acc));
      assert.equal(gaps.length, 0, `no gap record: ${JSON.stringify(gaps)}`);
    } else {
      // Part of the session never reached the subscriber, and it was reported.
      assert.ok(stopped.recovered_at_stop === 0 && stopped.unread_at_stop > 0, JSON.stringify(stopped));
      assert.ok(acc.lost - head > 0 && acc.reported === acc.lost - head, describe(acc));
      assert.equal(gaps.length, 1, `one gap record for the unread tail: ${JSON.stringify(gaps)}`);
    }
  });
}

test('publisher stopped while its subscriber is frozen far behind: the subscriber takes the unread tail from the journal the publisher saved', async () => {
  await stopBehind('f_stop_unread', true);
});

test('the same without the saved journal: the unread tail is stored as an exact gap at the stop', async () => {
  await stopBehind('f_stop_unread_nofile', false);
});
