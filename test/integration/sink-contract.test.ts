/**
 * The sink contract suite against every driver: the embedded store (DuckDB file in a temp dir) and
 * InfluxDB (a private influxd from test/support/influxd.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedSink, ident, literal } from '../../src/storage/embedded/store.js';
import { CONTRACT_MEASUREMENTS, sinkContract } from '../support/sink-contract.js';

const RETENTION = [
  { name: 'default', duration: '30d' },
  { name: 'high_frequency', duration: '7d' },
  { name: 'long_term', duration: '365d' },
];

sinkContract('embedded (DuckDB file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-embedded-contract-'));
  const sink = new EmbeddedSink({ path: join(dir, 'store.duckdb'), measurements: CONTRACT_MEASUREMENTS, retentionPolicies: RETENTION });
  await sink.open();
  return {
    sink,
    readString: (m, field, tag, value) =>
      sink.withConnection(async (conn) => {
        const rows = (
          await conn.runAndReadAll(
            `SELECT ${ident(field)} AS v FROM ${ident(m)} WHERE ${ident(tag)} = ${literal(value)} ORDER BY time_ns DESC LIMIT 1`,
          )
        ).getRowObjectsJS();
        return rows[0] ? (rows[0].v as string | null) : null;
      }),
    cleanup: async () => {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

// The InfluxDB arm. Loaded dynamically so a missing or broken driver FAILS this suite with a clear
// message instead of taking the embedded arm down with it or being skipped.
sinkContract('influxdb (private influxd)', async () => {
  const [{ InfluxSink }, { InfluxClient, ident: iq, literal: il }, { startInfluxd }] = await Promise.all([
    import('../../src/storage/influx/writer.js'),
    import('../../src/storage/influx/client.js'),
    import('../support/influxd.js'),
  ]).catch((err: unknown) => {
    throw new Error(
      `the InfluxDB sink (src/storage/influx/writer.ts: InfluxSink) or test/support/influxd.ts cannot be loaded: ${String(err)}`,
    );
  });
  const influxd = await startInfluxd();
  try {
    const database = 'tick';
    const sink = new InfluxSink({
      client: new InfluxClient({ url: influxd.url, gzip: false }),
      database,
      measurements: CONTRACT_MEASUREMENTS,
    });
    await sink.open();
    for (const p of RETENTION)
      await influxd.query(`CREATE RETENTION POLICY ${iq(p.name)} ON ${iq(database)} DURATION ${p.duration} REPLICATION 1`, database);
    return {
      sink,
      readString: async (m, field, tag, value) => {
        const res = await influxd.query(
          `SELECT last(${iq(field)}) AS v FROM ${iq(database)}."high_frequency".${iq(m)} WHERE ${iq(tag)} = ${il(value)}`,
          database,
        );
        const v = res?.results?.[0]?.series?.[0]?.values?.[0]?.[1];
        return typeof v === 'string' ? v : null;
      },
      cleanup: async () => {
        await sink.close();
        await influxd.stop();
      },
    };
  } catch (err) {
    await influxd.stop();
    throw err;
  }
});
