/**
 * What influxd alone takes: pre-built line-protocol bodies (the lines our LineBuilder makes for bench
 * tick records, or 10+10-level depth records with `--kind depth`) posted as fast as influxd answers,
 * for a grid of batch size x concurrency x gzip.
 * Building and compressing happen before the clock starts, so the figure is influxd's write path
 * plus one HTTP client; influxd's CPU time over each run is read from /proc.
 *   node --import tsx bench/ingest-influxd.ts [--points N] [--batch 5000,20000] [--conc 2,4] [--gzip 0,1] [--kind tick|depth] (--help)
 */
import { readFileSync } from 'node:fs';
import { cpuSeconds, influxdPid } from './ingest.js';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { configSchema } from '../src/config/schema.js';
import type { DepthRecord, Level, TickRecord } from '../src/core/records.js';
import { InfluxClient } from '../src/storage/influx/client.js';
import { InfluxAdmin } from '../src/storage/influx/admin.js';
import { LineBuilder } from '../src/storage/influx/line-protocol.js';
import { startInfluxd } from '../test/support/influxd.js';
import { BenchUsageError, exitForUsage, parseBenchArgs } from './args.js';

function options() {
  try {
    const a = parseBenchArgs(
      'node --import tsx bench/ingest-influxd.ts',
      'What influxd alone takes: pre-built line protocol posted as fast as it answers, for a grid of\nbatch size x concurrency x gzip; its CPU per point from /proc.',
      {
        points: { type: 'string', value: 'N', help: 'points per run', default: '600000' },
        batch: { type: 'string', value: 'N,N', help: 'batch sizes (lines)', default: '5000,20000' },
        conc: { type: 'string', value: 'N,N', help: 'requests in flight', default: '2,4' },
        gzip: { type: 'string', value: '0,1', help: 'uncompressed (0) and/or gzip (1)', default: '0,1' },
        kind: { type: 'string', value: 'tick|depth', help: 'tick points, or 10+10-level depth points', default: 'tick' },
      },
      process.argv.slice(2),
    );
    const list = (name: string, def: string, ok: (x: string) => boolean) => {
      const v = a.str(name, def)!;
      const xs = v.split(',');
      if (!xs.every(ok))
        throw new BenchUsageError(`bench/ingest-influxd.ts: --${name}: expected a comma-separated list, got ${JSON.stringify(v)}`);
      return xs;
    };
    const positive = (x: string) => Number(x) >= 1;
    return {
      points: a.num('points', 600_000, 1),
      batches: list('batch', '5000,20000', positive).map(Number),
      concs: list('conc', '2,4', positive).map(Number),
      gzips: list('gzip', '0,1', (x) => x === '0' || x === '1').map((x) => x === '1'),
      kind: a.oneOf('kind', ['tick', 'depth'] as const, 'tick'),
    };
  } catch (e) {
    return exitForUsage(e);
  }
}
const { points, batches, concs, gzips, kind } = options();

const cfg = configSchema.parse(JSON.parse(readFileSync(new URL('../integration_config.json', import.meta.url), 'utf8')));
const influx = await startInfluxd();
const pid = influxdPid(influx.dir);

try {
  const client0 = new InfluxClient({ url: influx.url, gzip: false, requestTimeoutMs: 60_000 });
  await new InfluxAdmin({ client: client0, influxdb: cfg.influxdb }).create();
  const builder = new LineBuilder(cfg.influxdb.measurements);
  const target = {
    measurements: { tick: 'kraken_tick', depth: 'kraken_depth' },
    eventsMeasurement: cfg.influxdb.eventsMeasurement,
    retentionPolicy: 'high_frequency',
  };
  const instruments = ['XBT/USD', 'ETH/USD', 'SOL/USD', 'XRP/USD'];
  for (const batch of batches)
    for (const conc of concs)
      for (const gz of gzips) {
        const session = randomUUID();
        const t0us = Date.now() * 1000 - 3_600_000_000;
        const bodies: Buffer[] = [];
        for (let seq = 1; seq <= points; seq += batch) {
          const recs: (TickRecord | DepthRecord)[] = [];
          for (let s = seq; s < seq + batch && s <= points; s++) {
            const px = 60_000 + (s % 1000) / 10;
            const levels = (from: number, step: number): Level[] =>
              Array.from({ length: 10 }, (_, i) => [(from + i * step).toFixed(1), (0.25 + i).toFixed(8)] as const);
            const base = {
              v: 1,
              venue: 'kraken' as const,
              publisher: 'bench',
              session,
              seq: s,
              ts_event_us: t0us + s,
              ts_recv_us: t0us + s + 150,
              instrument: instruments[s & 3]!,
            };
            if (kind === 'depth') {
              recs.push({
                ...base,
                topic: 'kraken.depth',
                kind: 'depth',
                bids: levels(px, -0.1),
                asks: levels(px + 0.1, 0.1),
                snapshot: false,
                checksum: 3_310_070_434,
                checksum_ok: true,
              });
              continue;
            }
            recs.push({
              ...base,
              topic: 'kraken.tick',
              kind: 'tick',
              bid: px.toFixed(1),
              bid_qty: '0.25',
              ask: (px + 0.1).toFixed(1),
              ask_qty: '1.5',
              last: px.toFixed(1),
              volume: '1234.5678',
              tradeable: true,
            });
          }
          const body = Buffer.from(builder.build(recs, target).lines.join('\n'));
          bodies.push(gz ? gzipSync(body, { level: 1 }) : body);
        }
        const client = new InfluxClient({ url: influx.url, gzip: false, requestTimeoutMs: 60_000 });
        const headers: Record<string, string> = gz ? { 'content-encoding': 'gzip' } : {};
        let next = 0;
        const cpu0 = pid ? cpuSeconds(pid) : 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: conc }, async () => {
            while (next < bodies.length) {
              const b = bodies[next++]!;
              const r = await fetch(`${client.url}/write?db=${cfg.influxdb.database}&rp=high_frequency&precision=ns`, {
                method: 'POST',
                headers,
                body: b as unknown as BodyInit,
              });
              if (r.status !== 204) throw new Error(`write ${r.status}: ${await r.text()}`);
              await r.arrayBuffer();
            }
          }),
        );
        const s = (performance.now() - started) / 1000;
        const cpu = pid ? cpuSeconds(pid) - cpu0 : NaN;
        console.log(
          `influxd alone (${kind}): batch=${batch} conc=${conc} gzip=${gz ? 1 : 0}: ${Math.round(points / s).toLocaleString('en')} points/s, influxd CPU ${(cpu / s).toFixed(2)} cores (${((cpu / points) * 1e6).toFixed(1)} µs/point)`,
        );
      }
} finally {
  await influx.stop();
}
