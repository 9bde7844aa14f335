/**
 * `npm run bench -- ingest [--records N] [--no-gzip] [--concurrency N] [--rcv-hwm N]` (--help): records/s from the bus into
 * a private InfluxDB, and records lost. A publisher process (bench/bus-child.ts) puts N tick records
 * on the bus as fast as it can; this process subscribes, batches them through the StoragePipeline
 * into InfluxDB with the subscriber's settings and backpressure (waitForCapacity after each bus
 * message), and then counts what InfluxDB holds for that publisher session. Also printed: this
 * process's CPU time per point (less sensitive to a loaded machine than the rate), its peak RSS, and
 * influxd's CPU time per point.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
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
import { parseBenchArgs } from './args.js';

/** utime + stime of a process, seconds (Linux /proc). */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return NaN;
  }
}

/** The influxd whose command line names `dir` (test/support/influxd.ts does not expose the pid). */
export function influxdPid(dir: string): number {
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(dir)) return Number(d);
    } catch {
      // gone
    }
  }
  return 0;
}

export async function run(args: string[]): Promise<string> {
  const a = parseBenchArgs(
    'npm run bench -- ingest',
    "Records/s from the bus into a private InfluxDB (the subscriber's storage pipeline), and records lost.",
    {
      records: { type: 'string', value: 'N', help: 'records to send', default: '1000000' },
      concurrency: { type: 'string', value: 'N', help: 'write requests in flight', default: '4' },
      'no-gzip': { type: 'boolean', help: 'send the line protocol uncompressed' },
      'rcv-hwm': {
        type: 'string',
        value: 'N',
        help: "the subscriber socket's receive high-water mark (0: no limit)",
        default: "the bus's",
      },
    },
    args,
  );
  const count = a.num('records', 1_000_000, 1);
  const concurrency = a.num('concurrency', 4, 1);
  const gzip = !a.flag('no-gzip');
  const rcvHwm = a.optNum('rcv-hwm', 0);
  const influx = await startInfluxd();
  const influxPid = influxdPid(influx.dir);
  const spoolDir = mkdtempSync(join(tmpdir(), 'nbpy-bench-ingest-'));
  try {
    const cfg = configSchema.parse(JSON.parse(readFileSync(new URL('../integration_config.json', import.meta.url), 'utf8')));
    const client = new InfluxClient({ url: influx.url, gzip, requestTimeoutMs: 30_000 });
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
      // The subscriber's defaults (config subscribers[]): batchSize, maxBatchBytes, maxHeldBytes.
      batchSize: 5000,
      flushIntervalMs: 1000,
      maxBatchBytes: 4 * 1024 * 1024,
      maxHeldBytes: 24 * 1024 * 1024,
      spoolDir,
      spoolMaxBytes: 4 * 1024 * 1024 * 1024,
      concurrency,
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
    const sub = new BusSubscriber({ endpoints: [endpoint], topics: ['bench.'], rcvHwm });
    let received = 0;
    let session = '';
    let started = 0;
    let go = false;
    let idle = 0;
    let last = -1;
    let maxRss = 0;
    let cpu0 = process.cpuUsage();
    let influxCpu0 = 0;
    const rss = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage.rss())), 100);
    const progress = setInterval(() => {
      const s = pipeline.stats();
      process.stderr.write(
        `ingest: ${received.toLocaleString('en')} received, ${s.points_written.toLocaleString('en')} written, ${s.queue_depth} held, spool ${s.spool_bytes} B, held ~${(s.held_bytes / 1048576).toFixed(1)} MB, heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MB, rss ${(process.memoryUsage.rss() / 1048576).toFixed(0)} MB\n`,
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
      if (!started) {
        started = performance.now();
        cpu0 = process.cpuUsage();
        influxCpu0 = influxPid ? cpuSeconds(influxPid) : 0;
      }
      session = data[0]!.session;
      received += data.length;
      pipeline.push(data);
      if (received >= count) break;
      // Backpressure as in the subscriber process: records wait in ZeroMQ's queue while the pipeline is full.
      await pipeline.waitForCapacity();
    }
    sub.close();
    await pipeline.flush();
    clearInterval(progress);
    clearInterval(rss);
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const influxCpuS = influxPid ? cpuSeconds(influxPid) - influxCpu0 : NaN;
    await exited;
    const r = await client.query(`SELECT count("seq") FROM "high_frequency"."kraken_tick" WHERE "session" = '${session}'`, {
      db: cfg.influxdb.database,
    });
    const stored = Number(r[0]?.series?.[0]?.values?.[0]?.[1] ?? 0);
    await pipeline.close();
    const rate = Math.round(stored / seconds);
    const cpuUsPerPoint = (cpu.user + cpu.system) / Math.max(1, stored);
    const influxUsPerPoint = (influxCpuS * 1e6) / Math.max(1, stored);
    console.log(
      `ingest: ${stored.toLocaleString('en')} of ${count.toLocaleString('en')} records from the bus stored in InfluxDB in ${seconds.toFixed(2)} s (${rate.toLocaleString('en')} points/s); ` +
        `subscriber CPU ${cpuUsPerPoint.toFixed(2)} µs/point, peak RSS ${Math.round(maxRss / 1048576)} MB; influxd CPU ${influxUsPerPoint.toFixed(2)} µs/point; load ${loadavg()[0]!.toFixed(1)}`,
    );
    return `bench ingest persisted_per_s=${rate} lost=${count - stored} cpu_us_per_point=${cpuUsPerPoint.toFixed(2)} influxd_cpu_us_per_point=${influxUsPerPoint.toFixed(2)} max_rss_mb=${Math.round(maxRss / 1048576)}`;
  } finally {
    await influx.stop();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}
