/**
 * SIGKILL of a publisher and of a subscriber under load (a simulated Kraken ticker at 2,000 records/s,
 * a real influxd), each case counted seq by seq: published (witness / session file) vs stored vs the
 * sequence gaps nbpy reported. (The supervisor's own SIGKILL is in supervisor.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startInfluxd, type TestInfluxd } from '../support/influxd.js';
import {
  Procs,
  Witness,
  accountFor,
  assertConsistent,
  assertLossReported,
  assertNoLoss,
  describe,
  drained,
  eventCount,
  getJson,
  makeFaultStack,
  sessionFile,
  sessionOf,
  stopClean,
  storeView,
  storedSeqs,
  waitFor,
  waitReady,
} from './harness.js';

const PUB = 'kraken_tick';
const SUB = 'kraken_influxdb_tick';
const RATE = 2000;
let influx: TestInfluxd;

before(async () => {
  influx = await startInfluxd();
});
after(async () => {
  await influx?.stop();
});

test('publisher SIGKILL under load: the killed session is stored up to its last sent seq; the new session loses nothing unreported', async () => {
  const stack = await makeFaultStack({
    influxUrl: influx.url,
    database: 'f_pubkill',
    publishers: { [PUB]: { ratePerS: RATE } },
    subscribers: [SUB],
  });
  const procs = new Procs();
  const pubPort = stack.config.publishers[0].port as number;
  const witness = new Witness([pubPort], ['kraken.']);
  const subPort = stack.subscriberPort(SUB);
  try {
    const sub = procs.start(['subscriber', 'run', SUB], stack.configPath);
    await waitReady(sub, subPort);
    const pubA = procs.start(['publisher', 'run', PUB], stack.configPath);
    const a = await sessionOf(pubA);
    await waitFor('session A flowing', async () => (await getJson(subPort, '/health')).points_written > 3000, 60_000, 200);
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

    const v = storeView(influx, stack, SUB);
    // Session A died with SIGKILL: what left it is what the witness received (without a hole).
    assert.equal(witness.sessions.get(a)?.holes, 0, 'the witness itself missed records');
    const accA = await accountFor(v, a, witness.max(a));
    console.log(`# publisher SIGKILL, killed session: ${describe(accA)}`);
    const head = assertNoLoss(accA, { firstSession: true });
    console.log(`# publisher SIGKILL: silent head of the first session: ${head}`);
    // Session B: whatever the subscriber missed while reconnecting is reported as a gap (1..k).
    const accB = await accountFor(v, b, fileB.last_seq);
    console.log(`# publisher SIGKILL, new session: ${describe(accB)}`);
    assertLossReported(accB);
    // The restart itself is a record: one publisher_restart gap naming session A's end.
    assert.equal(await eventCount(v, 'publisher_restart', PUB), 1);
  } finally {
    await witness.close();
    await procs.killAll();
    rmSync(stack.dir, { recursive: true, force: true });
  }
});

test('subscriber SIGKILL under load: loss confined to the kill window, and after the restart nothing unreported', async () => {
  const stack = await makeFaultStack({
    influxUrl: influx.url,
    database: 'f_subkill',
    publishers: { [PUB]: { ratePerS: RATE } },
    subscribers: [SUB],
  });
  const procs = new Procs();
  const pubPort = stack.config.publishers[0].port as number;
  const witness = new Witness([pubPort], ['kraken.']);
  const subPort = stack.subscriberPort(SUB);
  const v = storeView(influx, stack, SUB);
  try {
    const sub1 = procs.start(['subscriber', 'run', SUB], stack.configPath);
    await waitReady(sub1, subPort);
    const pub = procs.start(['publisher', 'run', PUB], stack.configPath);
    const s = await sessionOf(pub);
    await waitFor('flowing', async () => (await getJson(subPort, '/health')).points_written > 4000, 60_000, 200);
    sub1.child.kill('SIGKILL');
    await sub1.exited;
    // What the killed subscriber had written: everything up to `prefix` is in the store for good.
    const before = new Set(await storedSeqs(v, s));
    let prefix = 0;
    while (before.has(prefix + 1)) prefix++;
    assert.ok(prefix > 1000, `stored before the kill: ${prefix}`);

    const sub2 = procs.start(['subscriber', 'run', SUB], stack.configPath);
    // The first moment the new subscriber has records: beyond this seq it is connected and counting.
    await waitFor('restarted subscriber receiving', async () => (await getJson(subPort, '/health')).records_in > 0, 60_000, 50);
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
  } finally {
    await witness.close();
    await procs.killAll();
    rmSync(stack.dir, { recursive: true, force: true });
  }
});

test('subscriber SIGKILL while the store is stalled: what it held only in memory is asked for again after the restart, lost 0', async () => {
  const stack = await makeFaultStack({
    influxUrl: influx.url,
    database: 'f_subkill_stalled',
    publishers: { [PUB]: { ratePerS: RATE } },
    subscribers: [SUB],
    requestTimeoutMs: 5000,
  });
  assert.ok(stack.config.publishers[0].retransmitPort !== undefined, 'the demo config journals for retransmission');
  const procs = new Procs();
  const subPort = stack.subscriberPort(SUB);
  const recoveryFile = join(stack.config.runDir, 'recovery', `${SUB}.json`);
  try {
    const sub1 = procs.start(['subscriber', 'run', SUB], stack.configPath);
    await waitReady(sub1, subPort);
    const pub = procs.start(['publisher', 'run', PUB], stack.configPath);
    const s = await sessionOf(pub);
    await waitFor('flowing', async () => (await getJson(subPort, '/health')).points_written > 2000, 60_000, 200);
    // The store freezes: the subscriber goes on receiving and releasing records it cannot write yet.
    // Killed after two seconds of that (two saves of its resume point), before any write times out.
    influx.pause();
    let saved = 0;
    try {
      const at = (await getJson(subPort, '/health')).records_in;
      await waitFor('records held in memory', async () => (await getJson(subPort, '/health')).records_in > at + 2 * RATE, 60_000, 50);
      sub1.child.kill('SIGKILL');
      await sub1.exited;
      saved = (JSON.parse(readFileSync(recoveryFile, 'utf8')) as { sessions: { session: string; last: number }[] }).sessions.find(
        (x) => x.session === s,
      )!.last;
    } finally {
      influx.resume();
    }
    const sub2 = procs.start(['subscriber', 'run', SUB], stack.configPath);
    await waitReady(sub2, subPort);
    await waitFor('restarted subscriber writing', async () => (await getJson(subPort, '/health')).points_written > 2000, 60_000, 200);
    await stopClean(pub, 'publisher');
    const file = sessionFile(stack, PUB);
    assert.equal(file.clean_stop, true);
    await drained(subPort);
    await stopClean(sub2, 'subscriber 2');

    const acc = await accountFor(storeView(influx, stack, SUB), s, file.last_seq);
    console.log(`# subscriber SIGKILL with the store stalled (resume point saved: seq ${saved}): ${describe(acc)}`);
    assertNoLoss(acc, { firstSession: true });
  } finally {
    influx.resume();
    await procs.killAll();
    rmSync(stack.dir, { recursive: true, force: true });
  }
});
