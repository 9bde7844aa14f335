/**
 * Storage core benchmark: synthetic tick records pushed as fast as the pipeline takes them into a
 * StoragePipeline writing to InfluxDB at `url`; reports what got stored per second and what was lost.
 * Used by the `ingest` bench (bus -> store); runnable alone against a private influxd:
 *   node --import tsx bench/ingest-core.ts [seconds] [--url http://127.0.0.1:8086] [--no-gzip]
 * Backpressure: the producer waits while more than a few batches are held, so the figure is the
 * store's sustained rate rather than the spool's.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { configSchema } from '../src/config/schema.js';
import type { TickRecord } from '../src/core/records.js';
import { InfluxClient } from '../src/storage/influx/client.js';
import { InfluxSink } from '../src/storage/influx/writer.js';
import { InfluxAdmin } from '../src/storage/influx/admin.js';
import { StoragePipeline } from '../src/storage/pipeline.js';

export interface IngestCoreOptions {
  url: string;
  seconds: number;
  /** Default true (the config default). */
  gzip?: boolean;
  /** Batches in flight (default 4). */
  concurrency?: number;
  batchSize?: number;
}

export async function run(opts: IngestCoreOptions): Promise<{ persisted_per_s: number; lost: number; pushed: number; seconds: number }> {
  const cfg = configSchema.parse(JSON.parse(readFileSync(new URL('../integration_config.json', import.meta.url), 'utf8')));
  const client = new InfluxClient({ url: opts.url, gzip: opts.gzip ?? true, requestTimeoutMs: 30_000 });
  await new InfluxAdmin({ client, influxdb: cfg.influxdb }).create();
  const sink = new InfluxSink({ client, database: cfg.influxdb.database, measurements: cfg.influxdb.measurements });
  await sink.open();
  const batchSize = opts.batchSize ?? 5000;
  const spoolDir = mkdtempSync(join(tmpdir(), 'nbpy-bench-spool-'));
  const pipeline = new StoragePipeline({
    sink,
    target: { measurements: { tick: 'kraken_tick' }, eventsMeasurement: cfg.influxdb.eventsMeasurement, retentionPolicy: 'high_frequency' },
    batchSize,
    flushIntervalMs: 1000,
    maxBatchBytes: 8 * 1024 * 1024,
    spoolDir,
    spoolMaxBytes: 1024 * 1024 * 1024,
    concurrency: opts.concurrency ?? 4,
    maxQueuedBatches: 8,
  });
  const session = randomUUID();
  const instruments = ['XBT/USD', 'ETH/USD', 'SOL/USD', 'XRP/USD'];
  const t0us = Date.now() * 1000 - opts.seconds * 2_000_000;
  let seq = 0;
  const chunk = (n: number): TickRecord[] => {
    const out: TickRecord[] = new Array(n);
    for (let i = 0; i < n; i++) {
      seq++;
      const px = 60_000 + (seq % 1000) / 10;
      out[i] = {
        v: 1,
        topic: 'kraken.tick',
        venue: 'kraken',
        kind: 'tick',
        publisher: 'bench',
        session,
        seq,
        ts_event_us: t0us + seq,
        ts_recv_us: t0us + seq + 150,
        instrument: instruments[seq & 3]!,
        bid: px.toFixed(1),
        bid_qty: '0.25',
        ask: (px + 0.1).toFixed(1),
        ask_qty: '1.5',
        last: px.toFixed(1),
        volume: '1234.5678',
        tradeable: true,
      };
    }
    return out;
  };
  const started = performance.now();
  const endAt = started + opts.seconds * 1000;
  const maxHeld = batchSize * ((opts.concurrency ?? 4) + 2);
  while (performance.now() < endAt) {
    if (pipeline.stats().queue_depth > maxHeld) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    pipeline.push(chunk(1000));
    await new Promise((r) => setImmediate(r));
  }
  await pipeline.flush();
  const elapsedS = (performance.now() - started) / 1000;
  const r = await client.query(`SELECT count("seq") FROM "high_frequency"."kraken_tick" WHERE "session" = '${session}'`, {
    db: cfg.influxdb.database,
  });
  const stored = Number(r[0]?.series?.[0]?.values?.[0]?.[1] ?? 0);
  await pipeline.close();
  rmSync(spoolDir, { recursive: true, force: true });
  return { persisted_per_s: Math.round(stored / elapsedS), lost: seq - stored, pushed: seq, seconds: Math.round(elapsedS * 100) / 100 };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const args = process.argv.slice(2);
  const seconds = Number(args.find((a) => /^\d+(\.\d+)?$/.test(a)) ?? 10);
  const urlIdx = args.indexOf('--url');
  let url = urlIdx >= 0 ? args[urlIdx + 1]! : '';
  let stop: (() => Promise<void>) | undefined;
  if (!url) {
    const { startInfluxd } = await import('../test/support/influxd.js');
    const s = await startInfluxd();
    url = s.url;
    stop = s.stop;
  }
  const res = await run({ url, seconds, gzip: !args.includes('--no-gzip'), concurrency: Number(process.env.NBPY_BENCH_CONCURRENCY ?? 4) });
  await stop?.();
  console.log(`bench ingest-core persisted_per_s=${res.persisted_per_s} lost=${res.lost} pushed=${res.pushed} seconds=${res.seconds}`);
}
