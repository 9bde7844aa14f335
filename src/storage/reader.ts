/**
 * Read access to a store for the subscriber's `/store/*` JSON routes, one code path for callers
 * (validator, console, `nbpy retention` while a subscriber holds the DuckDB file):
 *   /store/count?measurement=M&since_us=N   -> { measurement, since_us, count }
 *   /store/newest?window_s=N                -> per measurement: points in the last window, newest point
 *   /store/latest?measurement=M&limit=N     -> the newest rows, newest first
 *   /store/stats                            -> the RetentionAdmin stats (points, series, first/last ...)
 *   /store/has?measurement=M&session=S&seq=N&time_us=T -> { found }: is that exact record stored (the validator's probe)
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { EmbeddedSink } from './embedded/store.js';
import { ident as sqlIdent, tableExists } from './embedded/store.js';
import { ident, rows, type InfluxClient } from './influx/client.js';
import type { Sink } from './sink.js';
import { pointTimeNs } from './fields.js';

export interface NewestInfo {
  measurement: string;
  /** Points whose time (venue event time) lies in the last `window_s` seconds. */
  points_last_window: number;
  window_s: number;
  /** Newest point time, µs since epoch; null when the measurement is empty. */
  newest_us: number | null;
  /** now - newest_us, ms; null when empty. */
  newest_age_ms: number | null;
}

export interface StoreReader {
  count(measurement: string, sinceUs?: number): Promise<number>;
  newest(measurements: readonly string[], windowS: number): Promise<NewestInfo[]>;
  latest(measurement: string, limit: number): Promise<Record<string, unknown>[]>;
  /** Is the point of this record (its identity: session + event time + seq) stored? */
  has(measurement: string, session: string, seq: number, tsEventUs: number): Promise<boolean>;
}

const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : typeof v === 'bigint' ? Number(v) : Number(v));

/** JSON-safe row: bigints become numbers (µs and ns times beyond 2^53 become strings). */
function jsonRow(r: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v;
  return out;
}

/** Reader over the subscriber's own DuckDB file (through the sink's serialised connection). */
export class EmbeddedReader implements StoreReader {
  constructor(
    private readonly sink: EmbeddedSink,
    private readonly nowUs: () => number = () => Date.now() * 1000,
  ) {}

  count(measurement: string, sinceUs?: number): Promise<number> {
    return this.sink.count(measurement, sinceUs);
  }

  newest(measurements: readonly string[], windowS: number): Promise<NewestInfo[]> {
    const now = this.nowUs();
    return this.sink.withConnection(async (conn: DuckDBConnection) => {
      const out: NewestInfo[] = [];
      for (const m of measurements) {
        if (!(await tableExists(conn, m))) {
          out.push({ measurement: m, points_last_window: 0, window_s: windowS, newest_us: null, newest_age_ms: null });
          continue;
        }
        const r = (
          await conn.runAndReadAll(
            `SELECT count(*) FILTER (WHERE time_us >= ${Math.floor(now - windowS * 1e6)})::DOUBLE AS n, max(time_us)::DOUBLE AS newest FROM ${sqlIdent(m)}`,
          )
        ).getRowObjectsJS()[0];
        const newest = num(r?.newest);
        out.push({
          measurement: m,
          points_last_window: num(r?.n) ?? 0,
          window_s: windowS,
          newest_us: newest,
          newest_age_ms: newest === null ? null : Math.round((now - newest) / 1000),
        });
      }
      return out;
    });
  }

  latest(measurement: string, limit: number): Promise<Record<string, unknown>[]> {
    return this.sink.withConnection(async (conn) => {
      if (!(await tableExists(conn, measurement))) return [];
      const res = await conn.runAndReadAll(
        `SELECT * FROM ${sqlIdent(measurement)} ORDER BY time_ns DESC LIMIT ${Math.max(1, Math.floor(limit))}`,
      );
      return res.getRowObjectsJS().map((r) => jsonRow(r as Record<string, unknown>));
    });
  }

  has(measurement: string, session: string, seq: number, tsEventUs: number): Promise<boolean> {
    return this.sink.withConnection(async (conn) => {
      if (!(await tableExists(conn, measurement))) return false;
      const r = (
        await conn.runAndReadAll(
          `SELECT count(*)::DOUBLE AS n FROM ${sqlIdent(measurement)} WHERE session = ${sqlText(session)} AND time_ns = ${pointTimeNs(tsEventUs, seq)}`,
        )
      ).getRowObjectsJS()[0];
      return (num(r?.n) ?? 0) > 0;
    });
  }
}

/** Reader over InfluxDB (one retention policy: the subscriber's). */
export class InfluxReader implements StoreReader {
  constructor(
    private readonly opts: { client: InfluxClient; database: string; retentionPolicy: string; sink: Sink },
    private readonly nowUs: () => number = () => Date.now() * 1000,
  ) {}

  private from(m: string): string {
    return `${ident(this.opts.database)}.${ident(this.opts.retentionPolicy)}.${ident(m)}`;
  }

  count(measurement: string, sinceUs?: number): Promise<number> {
    return this.opts.sink.count(measurement, sinceUs);
  }

  async newest(measurements: readonly string[], windowS: number): Promise<NewestInfo[]> {
    const now = this.nowUs();
    const out: NewestInfo[] = [];
    for (const m of measurements) {
      const q = { db: this.opts.database, epoch: 'u' as const };
      const c = rows(
        await this.opts.client.query(`SELECT count(*) FROM ${this.from(m)} WHERE time >= ${Math.floor(now - windowS * 1e6)}u`, q),
      )[0];
      let n = 0;
      if (c) for (const [k, v] of Object.entries(c)) if (k.startsWith('count_') && typeof v === 'number' && v > n) n = v;
      const last = rows(await this.opts.client.query(`SELECT * FROM ${this.from(m)} ORDER BY time DESC LIMIT 1`, q))[0];
      const newest = last ? num(last.time) : null;
      out.push({
        measurement: m,
        points_last_window: n,
        window_s: windowS,
        newest_us: newest,
        newest_age_ms: newest === null ? null : Math.round((now - newest) / 1000),
      });
    }
    return out;
  }

  async has(measurement: string, session: string, seq: number, tsEventUs: number): Promise<boolean> {
    const q = `SELECT * FROM ${this.from(measurement)} WHERE ${ident('session')} = ${influxText(session)} AND time = ${pointTimeNs(tsEventUs, seq)}`;
    return rows(await this.opts.client.query(q, { db: this.opts.database, epoch: 'u' })).length > 0;
  }

  async latest(measurement: string, limit: number): Promise<Record<string, unknown>[]> {
    return rows(
      await this.opts.client.query(`SELECT * FROM ${this.from(measurement)} ORDER BY time DESC LIMIT ${Math.max(1, Math.floor(limit))}`, {
        db: this.opts.database,
        epoch: 'u',
      }),
    );
  }
}

/** InfluxQL string literal. */
const influxText = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Route handlers for startStatusServer's `routes` option. */
export function storeRoutes(
  reader: StoreReader,
  opts: { measurements: readonly string[]; stats: () => Promise<unknown>; defaultWindowS?: number },
): Record<string, (url: URL) => Promise<unknown>> {
  const known = new Set(opts.measurements);
  const measurementParam = (url: URL): string => {
    const m = url.searchParams.get('measurement');
    if (!m) throw new Error('measurement=<name> is required');
    if (!known.has(m)) throw new Error(`measurement ${m} is not written by this subscriber (it writes ${[...known].join(', ')})`);
    return m;
  };
  const intParam = (url: URL, name: string, dflt: number): number => {
    const v = url.searchParams.get(name);
    if (v === null || v === '') return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: expected a non-negative number, got ${v}`);
    return n;
  };
  return {
    '/store/count': async (url) => {
      const m = measurementParam(url);
      const since = url.searchParams.has('since_us') ? intParam(url, 'since_us', 0) : undefined;
      return { measurement: m, since_us: since ?? null, count: await reader.count(m, since) };
    },
    '/store/newest': async (url) => ({
      measurements: await reader.newest([...known], intParam(url, 'window_s', opts.defaultWindowS ?? 60)),
    }),
    '/store/latest': async (url) => {
      const m = measurementParam(url);
      return { measurement: m, rows: await reader.latest(m, Math.min(1000, intParam(url, 'limit', 50))) };
    },
    '/store/stats': async () => opts.stats(),
    '/store/has': async (url) => {
      const m = measurementParam(url);
      const session = url.searchParams.get('session');
      if (!session) throw new Error('session=<publisher session id> is required');
      return { measurement: m, found: await reader.has(m, session, intParam(url, 'seq', 0), intParam(url, 'time_us', 0)) };
    },
  };
}
