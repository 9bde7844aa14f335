/**
 * Outage and crash behaviour of a subscriber process against a real influxd, fed by a publisher
 * process on a simulated Kraken at a few thousand records/s:
 * (b) influxd frozen (SIGSTOP) for a while mid-run: the subscriber reports the outage (/health and
 *     /metrics), spools, and once influxd answers again drains the spool: nothing lost;
 * (c) influxd frozen again, the subscriber SIGKILLed while its spool holds data and restarted by
 *     hand: every record that had reached the spool is stored, none twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { decodeFrame } from '../../src/storage/spool.js';
import { startInfluxd, type TestInfluxd } from '../support/influxd.js';
import { runNbpy } from '../support/cli.js';
import { getJson, getText, makeStack, startProc, waitFor, type Proc, type Stack } from '../support/stack.js';

let influx: TestInfluxd;
let stack: Stack;
const SUB = 'kraken_influxdb_tick';

before(async () => {
  influx = await startInfluxd();
  stack = await makeStack({
    backend: 'influxdb',
    influxUrl: influx.url,
    publishers: { kraken_tick: 3000 },
    subscribers: [SUB],
    flushIntervalMs: 200,
  });
  stack.config.influxdb.requestTimeoutMs = 1000;
  stack.config.subscribers[0].batchSize = 1000;
  writeFileSync(stack.configPath, JSON.stringify(stack.config));
  const r = await runNbpy(['retention', 'create', '--config', stack.configPath]);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  influx?.resume();
  await influx?.stop();
  if (stack) rmSync(stack.dir, { recursive: true, force: true });
});

const health = () => getJson(stack.subscriberPort(SUB), '/health');
const stored = async (session: string) => {
  const r = await influx.query(`SELECT count(seq), min(seq), max(seq) FROM high_frequency.kraken_tick WHERE session = '${session}'`);
  const v = r.results[0].series?.[0]?.values?.[0] ?? [0, 0, 0, 0];
  return { count: v[1] as number, min: v[2] as number, max: v[3] as number };
};

/** The (session, seq) of every record in the spool directory right now. */
function spooledSeqs(dir: string): Set<number> {
  const packr = new Packr({ useRecords: false, moreTypes: false });
  const out = new Set<number>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.spl'))) {
    const payload = decodeFrame(readFileSync(join(dir, f)));
    if (!payload) continue;
    for (const r of packr.unpack(payload) as { seq: number; kind: string }[]) if (r.kind === 'tick') out.add(r.seq);
  }
  return out;
}

// Deadlines are generous: CI machines run this at half the speed of a development box, beside other tests.
test('store outage then subscriber SIGKILL with a full spool: nothing lost, nothing doubled', { timeout: 900_000 }, async () => {
  let sub: Proc = startProc(['subscriber', 'run', SUB], stack.configPath);
  await waitFor('subscriber ready', async () => (await health()).ready, 120_000);
  const pub = startProc(['publisher', 'run', 'kraken_tick'], stack.configPath);
  await waitFor('publisher session', () => pub.lines.find((l) => l.msg === 'publisher starting'), 120_000);
  const session = String(pub.lines.find((l) => l.msg === 'publisher starting')!.session);
  await waitFor('data flowing', async () => (await health()).points_written > 3000, 120_000);

  // (b) outage: influxd frozen; requests time out (1 s) -> store down -> spool.
  influx.pause();
  await waitFor(
    'outage noticed and spooling',
    async () => {
      const h = await health();
      return !h.store_up && h.spool_bytes > 200_000 && h;
    },
    120_000,
    200,
  );
  const metrics = await getText(stack.subscriberPort(SUB), '/metrics');
  assert.match(metrics, /nbpy_store_up\{service="kraken_influxdb_tick"\} 0/);
  assert.match(metrics, /nbpy_store_outages_total\{service="kraken_influxdb_tick"\} [1-9]/);
  influx.resume();
  const drained = await waitFor(
    'spool drained',
    async () => {
      const h = await health();
      // Drained, and no retransmission still in flight (held_records 0) so the counts below are final.
      return h.store_up && h.spool_bytes === 0 && h.queue_depth < 5000 && h.held_records === 0 && h;
    },
    240_000,
    200,
  );
  assert.ok(drained.outages >= 1);
  const afterOutage = await stored(session);
  // Batches are written concurrently (order does not matter: identity), so completeness up to
  // afterOutage.max is checked at the end, once everything is written.

  // Records sent before the subscriber had connected count as missing and come back from the journal.
  assert.equal(drained.unrecovered_records, 0, JSON.stringify(drained));
  assert.equal(drained.seq_missing, drained.recovered_records, JSON.stringify(drained));

  // (c) frozen again, then SIGKILL while the spool holds data.
  influx.pause();
  const spoolDir = join(stack.config.dataDir, 'spool', SUB);
  // Wait on the spool files themselves (not only the reported byte count) before the kill.
  await waitFor('spooling again', async () => (await health()).spool_bytes > 100_000 && spooledSeqs(spoolDir).size > 100, 120_000, 200);
  sub.child.kill('SIGKILL');
  await sub.exited;
  const spooled = spooledSeqs(spoolDir);
  assert.ok(
    spooled.size > 100,
    `the spool held ${spooled.size} records at the kill (files: ${readdirSync(spoolDir).slice(0, 5).join(', ')})`,
  );
  pub.child.kill('SIGTERM');
  await pub.exited;
  influx.resume();
  sub = startProc(['subscriber', 'run', SUB], stack.configPath);
  await waitFor(
    'restarted subscriber replays its spool',
    async () => {
      const h = await health();
      return h.ready && h.store_up && h.spool_bytes === 0 && h.points_written >= spooled.size && h;
    },
    240_000,
    200,
  );
  sub.child.kill('SIGTERM');
  assert.equal((await sub.exited).code, 0);

  const r = await influx.query(`SELECT seq FROM high_frequency.kraken_tick WHERE session = '${session}'`);
  const seqs: number[] = (r.results[0].series?.[0]?.values ?? []).map((v: number[]) => v[1]);
  const have = new Set(seqs);
  assert.equal(have.size, seqs.length, 'no seq stored twice');
  const missing = [...spooled].filter((s) => !have.has(s));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} spooled records not stored`);
  // Everything up to the end of the first outage is still complete.
  for (let s = afterOutage.min; s <= afterOutage.max; s++) if (!have.has(s)) assert.fail(`seq ${s} lost`);
});
