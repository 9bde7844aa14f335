/**
 * SIGKILL of a publisher and of a subscriber under load (a simulated Kraken ticker at 2,000 records/s,
 * a real influxd), each case counted seq by seq: published (witness / session file) vs stored vs the
 * sequence gaps nbpy reported. (The supervisor's own SIGKILL is in supervisor.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  accountFor,
  assertConsistent,
  assertLossReported,
  assertNoLoss,
  describe,
  drained,
  eventCount,
  health,
  PUB,
  sessionFile,
  sessionOf,
  stopClean,
  storedSeqs,
  storeView,
  SUB,
  tickerStack,
  useInfluxd,
  waitFor,
  waitReady,
  waitWritten,
  withFaultStack,
} from './harness.js';

const RATE = 2000;
const influx = useInfluxd();

test('publisher SIGKILL under load: the killed session is stored up to its last sent seq; the new session loses nothing unreported', async () => {
  await withFaultStack(
    influx(),
    tickerStack('f_pubkill', RATE),
    async ({ stack, procs, subscriberPort, startPair, witness: newWitness }) => {
      const pubPort = stack.config.publishers[0].port as number;
      const witness = newWitness([pubPort], ['kraken.']);
      const subPort = subscriberPort(SUB);
      const { sub, pub: pubA, session: a } = await startPair(SUB, PUB);
      await waitWritten(subPort, 3000, 'session A flowing');
      pubA.child.kill('SIGKILL');
      await pubA.exited;
      const pubB = procs.start(['publisher', 'run', PUB], stack.configPath);
      const b = await sessionOf(pubB);
      await waitFor('session B flowing', () => witness.max(b) > 3000, 60_000, 200);
      await stopClean(pubB, 'publisher B');
      const fileB = sessionFile(stack, PUB);
      assert.equal(fileB.session, b);
      assert.equal(fileB.clean_stop, true);
      await drained(subPort);
      await stopClean(sub, 'subscriber');

      const v = storeView(influx(), stack, SUB);
      // Session A died with SIGKILL: what left it is what the witness received (without a hole).
      assert.equal(witness.sessions.get(a)?.holes, 0, 'the witness itself missed records');
      const accA = await accountFor(v, a, witness.max(a));
      console.log(`# publisher SIGKILL, killed session: ${describe(accA)}`);
      // The one silent loss a SIGKILLed publisher can cause: its ZeroMQ socket hands each message to
      // every connection's pipe, and the I/O thread writes the connections out one after another, so
      // the process can die with its last messages written to one connection (the witness's) and not
      // yet to another (the subscriber's). No one can know of those: the publisher_restart record
      // (below) says the session ended without a clean stop. Allowed as a tail of at most 250 ms of
      // publishing, nothing in the middle; everything before it is stored.
      const silent = assertLossReported(accA, { firstSession: true, tail: true });
      const tail = accA.unreported.at(-1);
      const tailLen = tail && tail[1] === accA.published ? tail[1] - tail[0] + 1 : 0;
      assert.ok(tailLen <= RATE / 4, `the killed session's silent tail is ${tailLen} records: ${describe(accA)}`);
      assert.equal(accA.reported, 0, `gap reported in the killed session: ${describe(accA)}`);
      console.log(`# publisher SIGKILL: silent head and tail of the first session: ${silent} (tail ${tailLen})`);
      // Session B: whatever the subscriber missed while reconnecting is reported as a gap (1..k).
      const accB = await accountFor(v, b, fileB.last_seq);
      console.log(`# publisher SIGKILL, new session: ${describe(accB)}`);
      assertLossReported(accB);
      // The restart itself is a record: one publisher_restart gap naming session A's end.
      assert.equal(await eventCount(v, 'publisher_restart', PUB), 1);
    },
  );
});

test('subscriber SIGKILL under load: loss confined to the kill window, and after the restart nothing unreported', async () => {
  await withFaultStack(
    influx(),
    tickerStack('f_subkill', RATE),
    async ({ stack, procs, subscriberPort, startPair, witness: newWitness }) => {
      const pubPort = stack.config.publishers[0].port as number;
      const witness = newWitness([pubPort], ['kraken.']);
      const subPort = subscriberPort(SUB);
      const v = storeView(influx(), stack, SUB);
      const { sub: sub1, pub, session: s } = await startPair(SUB, PUB);
      await waitWritten(subPort, 4000);
      sub1.child.kill('SIGKILL');
      await sub1.exited;
      // What the killed subscriber had written: everything up to `prefix` is in the store for good.
      const before = new Set(await storedSeqs(v, s));
      let prefix = 0;
      while (before.has(prefix + 1)) prefix++;
      assert.ok(prefix > 1000, `stored before the kill: ${prefix}`);

      const sub2 = procs.start(['subscriber', 'run', SUB], stack.configPath);
      // The first moment the new subscriber has records: beyond this seq it is connected and counting.
      await waitFor('restarted subscriber receiving', async () => (await health(subPort)).records_in > 0, 60_000, 50);
      const connectedBy = witness.max(s);
      await waitFor('more after restart', () => witness.max(s) > connectedBy + 2000, 60_000, 200);
      await stopClean(pub, 'publisher');
      const file = sessionFile(stack, PUB);
      assert.equal(file.clean_stop, true);
      await drained(subPort);
      await stopClean(sub2, 'subscriber 2');

      const acc = await accountFor(v, s, file.last_seq);
      console.log(
        `# subscriber SIGKILL: ${describe(acc)} kill window seq ${prefix + 1}..${connectedBy}, unreported ranges ${JSON.stringify(acc.unreported)}`,
      );
      assertConsistent(acc);
      if (stack.config.publishers[0].retransmitPort !== undefined) {
        // Gap recovery on: the restarted subscriber knows its last-seen seq and asks the publisher's
        // journal for the rest; what the journal no longer holds is a reported gap. Nothing silent.
        assertLossReported(acc, { firstSession: true });
        return;
      }
      // Without gap recovery, exact bounds: nothing at or before the stored prefix lost; nothing after the restarted
      // subscriber was receiving lost without a report. Only the kill window itself (what the killed
      // process held in memory, and what was published while no subscriber was connected) may be
      // missing silently: a restarted subscriber joins its publisher's session mid-stream.
      // (A head 1..k is the silent head of a first session, see assertLossReported.)
      for (const [lo, hi] of acc.unreported.filter(([lo]) => lo !== 1)) {
        assert.ok(lo > prefix, `unreported loss ${lo}-${hi} before the kill-time prefix ${prefix}`);
        assert.ok(hi <= connectedBy, `unreported loss ${lo}-${hi} after the restarted subscriber was receiving (${connectedBy})`);
      }
      assert.equal(acc.lost, acc.reported + acc.unreportedCount);
    },
  );
});

test('subscriber SIGKILL while the store is stalled: what it held only in memory is asked for again after the restart, lost 0', async () => {
  await withFaultStack(
    influx(),
    tickerStack('f_subkill_stalled', RATE, { requestTimeoutMs: 5000 }),
    async ({ stack, procs, subscriberPort, startPair, account }) => {
      assert.ok(stack.config.publishers[0].retransmitPort !== undefined, 'the demo config journals for retransmission');
      const subPort = subscriberPort(SUB);
      const recoveryFile = join(stack.config.runDir, 'recovery', `${SUB}.json`);
      const { sub: sub1, pub, session: s } = await startPair(SUB, PUB);
      await waitWritten(subPort, 2000);
      // The store freezes: the subscriber goes on receiving and releasing records it cannot write yet.
      // Killed after two seconds of that (two saves of its resume point), before any write times out.
      influx().pause();
      let saved = 0;
      try {
        const at = (await health(subPort)).records_in;
        await waitFor('records held in memory', async () => (await health(subPort)).records_in > at + 2 * RATE, 60_000, 50);
        sub1.child.kill('SIGKILL');
        await sub1.exited;
        saved = (JSON.parse(readFileSync(recoveryFile, 'utf8')) as { sessions: { session: string; last: number }[] }).sessions.find(
          (x) => x.session === s,
        )!.last;
      } finally {
        influx().resume();
      }
      const sub2 = procs.start(['subscriber', 'run', SUB], stack.configPath);
      await waitReady(sub2, subPort);
      await waitWritten(subPort, 2000, 'restarted subscriber writing');
      await stopClean(pub, 'publisher');
      const file = sessionFile(stack, PUB);
      assert.equal(file.clean_stop, true);
      await drained(subPort);
      await stopClean(sub2, 'subscriber 2');

      const acc = await account(SUB, s, file.last_seq);
      console.log(`# subscriber SIGKILL with the store stalled (resume point saved: seq ${saved}): ${describe(acc)}`);
      assertNoLoss(acc, { firstSession: true });
    },
  );
});
