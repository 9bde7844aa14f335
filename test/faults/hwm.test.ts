/**
 * A subscriber so slow that the publisher's high-water mark is hit: the subscriber is frozen (SIGSTOP)
 * for 8 s under 5,000 records/s with a tiny sendHwm on the publisher and rcvHwm on the subscriber, so
 * ZeroMQ's PUB drops for it. An independent witness on the bus is unaffected. After SIGCONT nothing may
 * be lost silently: lost == exactly the records nbpy reported in sequence gap records (0 when gap
 * recovery fetched them back from the publisher's journal).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { startInfluxd, type TestInfluxd } from '../support/influxd.js';
import {
  Procs,
  Witness,
  accountFor,
  assertLossReported,
  describe,
  drained,
  getJson,
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
let influx: TestInfluxd;
before(async () => {
  influx = await startInfluxd();
});
after(async () => {
  await influx?.stop();
});

test('slow subscriber past the high-water mark (SIGSTOP 8 s at 5,000/s): lost == exactly what was reported', async () => {
  const stack = await makeFaultStack({
    influxUrl: influx.url,
    database: 'f_hwm',
    publishers: { [PUB]: { ratePerS: 5000 } },
    subscribers: [SUB],
    subscriber: { rcvHwm: 20 },
  });
  stack.config.publishers[0].sendHwm = 20;
  writeFileSync(stack.configPath, JSON.stringify(stack.config, null, 2));
  const procs = new Procs();
  const port = stack.subscriberPort(SUB);
  const witness = new Witness([stack.config.publishers[0].port as number], ['kraken.']);
  try {
    const sub = procs.start(['subscriber', 'run', SUB], stack.configPath);
    await waitReady(sub, port);
    const pub = procs.start(['publisher', 'run', PUB], stack.configPath);
    const s = await sessionOf(pub);
    await waitFor('flowing', async () => (await getJson(port, '/health')).points_written > 3000, 60_000, 200);
    const frozenAt = witness.max(s);
    sub.child.kill('SIGSTOP');
    try {
      // The freeze is the fault: held until the publisher has sent 40,000 more records past it.
      await waitFor('40,000 records published during the freeze', () => witness.max(s) > frozenAt + 40_000, 120_000, 100);
    } finally {
      sub.child.kill('SIGCONT');
    }
    await waitFor('more after the freeze', () => witness.max(s) > frozenAt + 50_000, 120_000, 200);
    const ph = await waitFor('publisher health', () => getJson(stack.publisherStatusPort(PUB), '/health'), 60_000, 500);
    await stopClean(pub, 'publisher');
    await drained(port);
    await stopClean(sub, 'subscriber');
    assert.equal(witness.sessions.get(s)?.holes, 0, 'the witness itself missed records');
    const file = sessionFile(stack, PUB);
    const acc = await accountFor(storeView(influx, stack, SUB), s, file.last_seq);
    const requests = (ph.journal?.requests as number | undefined) ?? 0;
    console.log(`# HWM: ${describe(acc)} retransmission requests ${requests}`);
    const head = assertLossReported(acc, { firstSession: true });
    console.log(`# HWM: silent head of the first session (subscriber joined mid-stream): ${head}`);
    // The fault happened: the bus dropped for this subscriber (a gap reported, or asked back).
    assert.ok(acc.reported > 0 || requests > 0, 'the high-water mark was hit');
  } finally {
    await witness.close();
    await procs.killAll();
    rmSync(stack.dir, { recursive: true, force: true });
  }
});
