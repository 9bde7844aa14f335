/**
 * Subscriber processes against a real influxd, fed by real publisher processes on simulated venues:
 * - `nbpy retention create` twice: the second run changes nothing; SHOW RETENTION POLICIES (influx
 *   CLI) lists the three policies with durations and shard durations, `default` as the default;
 * - publishers -> subscribers -> InfluxDB: for every topic, the points stored for the publisher
 *   session are exactly its seqs from the first one received to the publisher's last seq (zero lost);
 * - SIGTERM flushes everything held (a long flushIntervalMs keeps a partial batch in memory).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { startInfluxd, type TestInfluxd } from '../support/influxd.js';
import { runNbpy } from '../support/cli.js';
import { getJson, makeStack, startProc, waitFor, type Proc, type Stack } from '../support/stack.js';

let influx: TestInfluxd;
let stack: Stack;
const PUBS = { kraken_tick: 150, oanda_tick: 150, kraken_depth: 100 };
const SUBS = { kraken_influxdb_tick: 'kraken_tick', oanda_influxdb_tick: 'oanda_tick', kraken_influxdb_depth: 'kraken_depth' } as const;
const MEAS: Record<string, string> = { kraken_tick: 'kraken_tick', oanda_tick: 'oanda_tick', kraken_depth: 'kraken_depth' };

before(async () => {
  influx = await startInfluxd();
  // A long age flush: at SIGTERM the subscribers hold a partial batch that only the flush writes.
  stack = await makeStack({
    backend: 'influxdb',
    influxUrl: influx.url,
    publishers: PUBS,
    subscribers: Object.keys(SUBS),
    flushIntervalMs: 60_000,
  });
  for (const s of stack.config.subscribers) s.batchSize = 1000;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(stack.configPath, JSON.stringify(stack.config));
});
after(async () => {
  await influx?.stop();
  if (stack) rmSync(stack.dir, { recursive: true, force: true });
});

test('retention create is idempotent and SHOW RETENTION POLICIES lists the three policies', async () => {
  const first = await runNbpy(['retention', 'create', '--config', stack.configPath]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /retention policy high_frequency created/);
  const second = await runNbpy(['retention', 'create', '--config', stack.configPath]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /influxdb: no changes/);
  const out = execFileSync('influx', ['-host', '127.0.0.1', '-port', String(influx.port), '-execute', 'SHOW RETENTION POLICIES ON tick'], {
    encoding: 'utf8',
  });
  const rows = out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((c) => ['default', 'high_frequency', 'long_term'].includes(c[0]!));
  const byName = Object.fromEntries(rows.map((c) => [c[0], c]));
  assert.deepEqual(byName.default?.slice(1), ['720h0m0s', '24h0m0s', '1', 'true']);
  assert.deepEqual(byName.high_frequency?.slice(1), ['168h0m0s', '1h0m0s', '1', 'false']);
  assert.deepEqual(byName.long_term?.slice(1), ['8760h0m0s', '168h0m0s', '1', 'false']);
  const list = await runNbpy(['retention', 'list', '--json', '--config', stack.configPath]);
  assert.equal(list.code, 0, list.stderr);
  const names = (JSON.parse(list.stdout)[0].result as { name: string }[]).map((x) => x.name);
  for (const n of ['default', 'high_frequency', 'long_term']) assert.ok(names.includes(n), `list shows ${n}`);
});

test('publishers -> subscribers -> InfluxDB: every published seq stored once, SIGTERM flushes what is held', async () => {
  const subs: Record<string, Proc> = {};
  for (const s of Object.keys(SUBS)) subs[s] = startProc(['subscriber', 'run', s], stack.configPath);
  for (const s of Object.keys(SUBS))
    await waitFor(`${s} ready`, async () => (await getJson(stack.subscriberPort(s), '/health')).ready, 30_000);
  const pubs: Record<string, Proc> = {};
  for (const p of Object.keys(PUBS)) pubs[p] = startProc(['publisher', 'run', p], stack.configPath);
  // ~15 s of data: wait until every subscriber received at least 1500 records.
  for (const s of Object.keys(SUBS))
    await waitFor(`${s} records`, async () => (await getJson(stack.subscriberPort(s), '/health')).records_in >= 1500, 60_000, 250);
  const last: Record<string, { session: string; lastSeq: number }> = {};
  for (const [name, p] of Object.entries(pubs)) {
    p.child.kill('SIGTERM');
    const ex = await p.exited;
    assert.equal(ex.code, 0, `publisher ${name} exit: ${p.stderr()}`);
    const start = p.lines.find((l) => l.msg === 'publisher starting');
    const stop = p.lines.find((l) => l.msg === 'publisher stopped');
    last[name] = { session: String(start?.session), lastSeq: Number(stop?.last_seq) };
  }
  // The subscribers have received everything (their last seq per topic = the publisher's) but hold a partial batch.
  for (const [s, pub] of Object.entries(SUBS)) {
    const h = await waitFor(
      `${s} caught up`,
      async () => {
        const h = await getJson(stack.subscriberPort(s), '/health');
        return h.topics[stack.config.publishers.find((p: { name: string }) => p.name === pub).topic]?.last_record_age_ms > 500 && h;
      },
      20_000,
    );
    assert.ok(h.queue_depth > 0, `${s} holds a partial batch at SIGTERM (queue_depth ${h.queue_depth})`);
    // Records sent before the subscriber's connection completed (ZeroMQ's slow joiner) count as
    // missing and are fetched back from the publisher's journal: nothing stays unrecovered.
    assert.equal(
      h.unrecovered_records,
      0,
      `${s}: nothing unrecovered on the bus (seq_missing ${h.seq_missing}, recovered ${h.recovered_records})`,
    );
    assert.equal(h.seq_missing, h.recovered_records, `${s}: every hole recovered`);
  }
  for (const [s, p] of Object.entries(subs)) {
    p.child.kill('SIGTERM');
    const ex = await p.exited;
    assert.equal(ex.code, 0, `subscriber ${s} exit code (stderr: ${p.stderr()})`);
    assert.ok(
      p.lines.some((l) => l.msg === 'stopped; everything held was written'),
      `${s} flushed on SIGTERM`,
    );
  }
  for (const [pub, { session, lastSeq }] of Object.entries(last)) {
    // Data records go to the topic's measurement, status/gap records to nbpy_events: together they are every seq.
    let count = 0;
    let min = Infinity;
    let max = 0;
    for (const m of [MEAS[pub]!, 'nbpy_events']) {
      const r = await influx.query(`SELECT count(seq), min(seq), max(seq) FROM high_frequency.${m} WHERE session = '${session}'`);
      const v = r.results[0].series?.[0]?.values?.[0];
      if (!v) continue;
      count += v[1];
      min = Math.min(min, v[2]);
      max = Math.max(max, v[3]);
    }
    assert.equal(max, lastSeq, `${pub}: the last published seq is stored`);
    assert.equal(count, max - min + 1, `${pub}: every seq from ${min} to ${max} stored exactly once`);
    // The head of the session (sent before the subscriber had connected) was recovered from the journal.
    assert.equal(min, 1, `${pub}: stored from seq ${min}`);
  }
});
