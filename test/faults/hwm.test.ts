/**
 * A subscriber so slow that the publisher's high-water mark is hit: the subscriber is frozen (SIGSTOP)
 * under 10,000 records/s until 130,000 records (~38 MB) have gone past it, with a tiny sendHwm on the
 * publisher and rcvHwm on the subscriber, so ZeroMQ's PUB drops for it. The freeze is sized past what
 * loopback TCP can buffer for a stopped reader here (up to 32 MB received, tcp_rmem, + 4 MB sent): a
 * smaller one (40,000 records, ~12 MB) could be absorbed whole, as recovery-gaps (b) once was. An independent witness on the bus is unaffected. After SIGCONT nothing may
 * be lost silently: lost == exactly the records nbpy reported in sequence gap records (0 when gap
 * recovery fetched them back from the publisher's journal).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import {
  assertLossReported,
  describe,
  drained,
  health,
  PUB,
  sessionFile,
  stopClean,
  SUB,
  tickerStack,
  useInfluxd,
  waitFor,
  waitWritten,
  withFaultStack,
} from './harness.js';

const influx = useInfluxd();

test('slow subscriber past the high-water mark (SIGSTOP for 130,000 records at 10,000/s): lost == exactly what was reported', async () => {
  await withFaultStack(
    influx(),
    tickerStack('f_hwm', 10_000, { subscriber: { rcvHwm: 20 } }),
    async ({ stack, subscriberPort, startPair, account, witness: newWitness }) => {
      stack.config.publishers[0].sendHwm = 20;
      writeFileSync(stack.configPath, JSON.stringify(stack.config, null, 2));
      const port = subscriberPort(SUB);
      const witness = newWitness([stack.config.publishers[0].port as number], ['kraken.']);
      const { sub, pub, session: s } = await startPair(SUB, PUB);
      await waitWritten(port, 3000);
      // Holes before the freeze (the head of the session, when the subscriber joined late) resolved
      // and counted first, so that what follows is about the freeze's own hole.
      const base = await waitFor(
        'no hole open before the freeze',
        async () => {
          const h = await health(port);
          return h.held_records === 0 && h;
        },
        60_000,
        200,
      );
      const frozenAt = witness.max(s);
      sub.child.kill('SIGSTOP');
      try {
        // The freeze is the fault: held until the publisher has sent 130,000 more records past it.
        await waitFor('130,000 records published during the freeze', () => witness.max(s) > frozenAt + 130_000, 180_000, 100);
      } finally {
        sub.child.kill('SIGCONT');
      }
      const sentByResume = witness.max(s);
      // The subscriber has seen (read, or counted missing) everything sent by the resume, and every
      // hole is resolved, before the publisher is stopped: a hole asked for after that stop is
      // answered by nobody.
      const settled = await waitFor(
        "the freeze's hole seen and resolved",
        async () => {
          const h = await health(port);
          return h.seq_gaps > base.seq_gaps && h.held_records === 0 && h.records_in + h.seq_missing >= sentByResume && h;
        },
        180_000,
        200,
      );
      const ph = await waitFor('publisher health', () => health(stack.publisherStatusPort(PUB)), 60_000, 500);
      await stopClean(pub, 'publisher');
      await drained(port);
      await stopClean(sub, 'subscriber');
      assert.equal(witness.sessions.get(s)?.holes, 0, 'the witness itself missed records');
      const file = sessionFile(stack, PUB);
      const acc = await account(SUB, s, file.last_seq);
      const requests = (ph.journal?.requests as number | undefined) ?? 0;
      console.log(`# HWM: ${describe(acc)} retransmission requests ${requests}`);
      const head = assertLossReported(acc, { firstSession: true });
      console.log(`# HWM: silent head of the first session (subscriber joined mid-stream): ${head}`);
      // The fault happened: the bus dropped for this subscriber (a gap reported, or asked back).
      assert.ok(settled.seq_missing > base.seq_missing, 'the high-water mark was hit');
      assert.ok(acc.reported > 0 || requests > 0, 'what the bus dropped was reported or asked back');
    },
  );
});
