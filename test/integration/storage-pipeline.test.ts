import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema.js';
import type { TickRecord } from '../../src/core/records.js';
import { InfluxClient } from '../../src/storage/influx/client.js';
import { InfluxSink } from '../../src/storage/influx/writer.js';
import { InfluxAdmin } from '../../src/storage/influx/admin.js';
import { StoragePipeline } from '../../src/storage/pipeline.js';
import { freePort, startInfluxd, type TestInfluxd } from '../support/influxd.js';
import { waitFor } from '../support/wait.js';

const cfg = configSchema.parse(JSON.parse(readFileSync(new URL('../../integration_config.json', import.meta.url), 'utf8')));
const target = { measurements: { tick: 'kraken_tick' }, eventsMeasurement: 'nbpy_events', retentionPolicy: 'high_frequency' };
const T0 = Date.now() * 1000;

function ticks(session: string, from: number, n: number): TickRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    v: 1,
    topic: 'kraken.tick',
    venue: 'kraken' as const,
    kind: 'tick' as const,
    publisher: 'kraken_tick',
    session,
    seq: from + i,
    ts_event_us: T0 + from + i,
    ts_recv_us: T0 + from + i,
    instrument: 'XBT/USD',
    bid: '1797.30',
    bid_qty: '1',
    ask: '1797.40',
    ask_qty: '2',
    last: '1797.35',
    volume: null,
    tradeable: true,
  }));
}

let influx: TestInfluxd;
let client: InfluxClient;
const dirs: string[] = [];
const spoolDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'nbpy-spool-it-'));
  dirs.push(d);
  return d;
};
const sinkFor = (c: InfluxClient) => new InfluxSink({ client: c, database: 'tick', measurements: cfg.influxdb.measurements });
const pipelineFor = (c: InfluxClient, dir: string, logs: string[] = []) =>
  new StoragePipeline({
    sink: sinkFor(c),
    target,
    batchSize: 1000,
    flushIntervalMs: 200,
    maxBatchBytes: 4 * 1024 * 1024,
    spoolDir: dir,
    spoolMaxBytes: 512 * 1024 * 1024,
    concurrency: 2,
    maxQueuedBatches: 4,
    backoff: { baseMs: 50, maxMs: 400 },
    log: (_l, m) => logs.push(m),
  });
const countSession = async (session: string) => {
  const r = await client.query(`SELECT count("seq") FROM "tick"."high_frequency"."kraken_tick" WHERE "session" = '${session}'`, {
    db: 'tick',
  });
  return Number(r[0]?.series?.[0]?.values?.[0]?.[1] ?? 0);
};

before(async () => {
  influx = await startInfluxd();
  client = new InfluxClient({ url: influx.url, requestTimeoutMs: 2000 });
  await new InfluxAdmin({ client, influxdb: cfg.influxdb }).create();
});
after(async () => {
  await influx?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('influxd killed (SIGKILL) mid-run, then restarted: the pipeline loses nothing', async () => {
  const logs: string[] = [];
  const p = pipelineFor(client, spoolDir(), logs);
  const total = 60_000;
  let pushed = 0;
  const pushSome = async (n: number) => {
    for (let i = 0; i < n; i += 500) {
      // Backpressure as the subscriber applies it: wait for room while the store is up but behind.
      await p.waitForCapacity();
      p.push(ticks('kill', pushed + 1, 500));
      pushed += 500;
      await new Promise((r) => setImmediate(r));
    }
  };
  await pushSome(20_000);
  await waitFor('first writes', () => p.stats().points_written > 0, 30_000, 20);
  influx.kill('SIGKILL');
  await influx.exited();
  await pushSome(30_000);
  await waitFor('outage noticed and spool in use', () => !p.stats().store_up && p.stats().spool_batches > 0, 30_000, 20);
  const during = p.stats();
  assert.ok(during.queue_depth <= 8 * 1000, `memory bounded, queue_depth=${during.queue_depth}`);
  await influx.restart();
  await pushSome(total - pushed);
  // flush() with the store known to be down would spill to disk (SIGTERM semantics); wait for recovery.
  await waitFor('store back', () => p.stats().store_up, 30_000, 20);
  await p.flush();
  const st = p.stats();
  assert.equal(st.records_in, total);
  assert.equal(st.store_up, true);
  assert.equal(st.outage_count, 1);
  assert.equal(st.spool_batches, 0);
  assert.deepEqual(st.dropped_by_reason, {});
  assert.equal(await countSession('kill'), total);
  assert.ok(logs.some((m) => m.includes('store is back')));
  await p.close();
});

test('spool survives a process restart: store unreachable, close() spills, a new pipeline replays', async () => {
  const dir = spoolDir();
  const dead = new InfluxClient({ url: `http://127.0.0.1:${await freePort()}`, requestTimeoutMs: 500 });
  const p1 = pipelineFor(dead, dir);
  p1.push(ticks('spool', 1, 12_345));
  await waitFor('outage noticed', () => !p1.stats().store_up, 30_000, 20);
  await p1.close();
  assert.equal(p1.stats().queue_depth, 0);
  assert.ok(p1.stats().spool_batches >= 12);
  const p2 = pipelineFor(client, dir);
  assert.ok(p2.stats().spool_bytes > 0, 'found the old spool');
  await p2.flush();
  assert.equal(p2.stats().spool_batches, 0);
  assert.equal(p2.stats().points_written, 12_345);
  assert.equal(await countSession('spool'), 12_345);
  await p2.close();
});
