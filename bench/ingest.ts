/**
 * `npm run bench -- ingest [--records N]`: records/s from the bus into a private InfluxDB, and records
 * lost. A publisher process (bench/bus-child.ts) puts N tick records on the bus as fast as it can;
 * this process subscribes, batches them through the StoragePipeline into InfluxDB, and then counts
 * what InfluxDB holds for that publisher session.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.js';
import { BusSubscriber } from '../src/bus/subscriber.js';
import { InfluxClient } from '../src/storage/influx/client.js';
import { InfluxSink } from '../src/storage/influx/writer.js';
import { InfluxAdmin } from '../src/storage/influx/admin.js';
import { StoragePipeline } from '../src/storage/pipeline.js';
import { startInfluxd } from '../test/support/influxd.js';
import { freePort } from '../test/support/ports.js';

export async function run(args: string[]): Promise<string> {
  const i = args.indexOf('--records');
  const count = i >= 0 ? Number(args[i + 1]) : 1_000_000;
  const influx = await startInfluxd();
  const spoolDir = mkdtempSync(join(tmpdir(), 'nbpy-bench-ingest-'));
  try {
    const cfg = configSchema.parse(JSON.parse(readFileSync(new URL('../integration_config.json', import.meta.url), 'utf8')));
    const client = new InfluxClient({ url: influx.url, gzip: true, requestTimeoutMs: 30_000 });
    await new InfluxAdmin({ client, influxdb: cfg.influxdb }).create();
    const sink = new InfluxSink({ client, database: cfg.influxdb.database, measurements: cfg.influxdb.measurements });
    await sink.open();
    const pipeline = new StoragePipeline({
      sink,
      target: {
        measurements: { tick: 'kraken_tick' },
        eventsMeasurement: cfg.influxdb.eventsMeasurement,
        retentionPolicy: 'high_frequency',
      },
      batchSize: 5000,
      flushIntervalMs: 1000,
      maxBatchBytes: 8 * 1024 * 1024,
      spoolDir,
      spoolMaxBytes: 4 * 1024 * 1024 * 1024,
      concurrency: 4,
      maxQueuedBatches: 16,
    });
    const endpoint = `tcp://127.0.0.1:${await freePort()}`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./bus-child.ts', import.meta.url)), endpoint, String(count)],
      {
        stdio: ['pipe', 'ignore', 'inherit'],
      },
    );
    const exited = new Promise((r) => child.once('exit', r));
    const sub = new BusSubscriber({ endpoints: [endpoint], topics: ['bench.'] });
    let received = 0;
    let session = '';
    let started = 0;
    let go = false;
    let idle = 0;
    let last = -1;
    const progress = setInterval(() => {
      const s = pipeline.stats();
      process.stderr.write(
        `ingest: ${received.toLocaleString('en')} received, ${s.points_written.toLocaleString('en')} written, ${s.queue_depth} held, spool ${s.spool_bytes} B\n`,
      );
      idle = received === last && received > 0 ? idle + 1 : 0;
      last = received;
      if (idle >= 5) sub.close();
    }, 1000);
    for await (const batch of sub.batches()) {
      const data = batch.filter((r) => {
        if (r.kind !== 'heartbeat') return true;
        if (!go) {
          go = true;
          child.stdin.write('go\n');
        }
        return false;
      });
      if (!data.length) continue;
      if (!started) started = performance.now();
      session = data[0]!.session;
      received += data.length;
      pipeline.push(data);
      if (received >= count) break;
      // Backpressure: while the store is up but behind, leave records in ZeroMQ's queue rather than
      // spilling them to the spool (the spool is for outages). The subscriber process does the same.
      while (pipeline.stats().queue_depth > 40_000 && pipeline.stats().store_up) await new Promise((r) => setTimeout(r, 2));
    }
    sub.close();
    await pipeline.flush();
    clearInterval(progress);
    const seconds = (performance.now() - started) / 1000;
    await exited;
    const r = await client.query(`SELECT count("seq") FROM "high_frequency"."kraken_tick" WHERE "session" = '${session}'`, {
      db: cfg.influxdb.database,
    });
    const stored = Number(r[0]?.series?.[0]?.values?.[0]?.[1] ?? 0);
    await pipeline.close();
    const rate = Math.round(stored / seconds);
    console.log(
      `ingest: ${stored.toLocaleString('en')} of ${count.toLocaleString('en')} records from the bus stored in InfluxDB in ${seconds.toFixed(2)} s (${rate.toLocaleString('en')} points/s)`,
    );
    return `bench ingest persisted_per_s=${rate} lost=${count - stored}`;
  } finally {
    await influx.stop();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}
