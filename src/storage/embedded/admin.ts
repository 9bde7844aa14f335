/**
 * Retention, statistics and downsampling for the embedded store, with the same policy names and
 * durations as InfluxDB. Every row carries its `retention_policy`; `cleanup` deletes rows older than
 * their policy's duration (InfluxDB drops whole shards instead; the visible result is the same up
 * to one shard duration). `downsample` writes 1-minute bars into `<measurement>_1m` under
 * `long_term`, deleting and rewriting the covered minutes so re-running a range is idempotent.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { systemClock, type Clock } from '../../core/clock.js';
import { NbpyError } from '../../core/errors.js';
import type { MeasurementSchema } from '../../config/schema.js';
import { parseDurationUs } from './duration.js';
import { SESSION_COLUMN, ident, literal, tableExists, type EmbeddedSink } from './store.js';

/** Table in which `create` records the retention policies. */
export const POLICY_TABLE = 'nbpy_retention_policies';
/** Suffix of the 1-minute bar table of a measurement. */
export const BAR_SUFFIX = '_1m';
/** Policy the bars are written under. */
export const BAR_RETENTION_POLICY = 'long_term';
const MINUTE_US = 60_000_000;

export interface RetentionPolicySpec {
  name: string;
  /** InfluxDB duration literal (`7d`, `INF`). */
  duration: string;
  default?: boolean;
}

export interface RetentionPolicyInfo {
  name: string;
  duration: string;
  /** Infinity for INF. */
  durationUs: number;
  default: boolean;
}

export interface MeasurementStats {
  measurement: string;
  points: number;
  /** Distinct tag sets. */
  series: number;
  /** Oldest and newest point time (µs), null when empty. */
  firstUs: number | null;
  lastUs: number | null;
  /** Points with a time in the last 60 s (by the admin's clock). */
  lastMinutePoints: number;
}

export interface CleanupEntry {
  measurement: string;
  retentionPolicy: string;
  /** Rows deleted (or, on a dry run, that would be). */
  points: number;
  /** Rows older than this (µs) were affected. */
  olderThanUs: number;
}

export interface CleanupResult {
  dryRun: boolean;
  entries: CleanupEntry[];
  total: number;
}

export interface DownsampleResult {
  measurement: string;
  target: string;
  /** The minutes re-covered: [fromUs, toUs). */
  fromUs: number;
  toUs: number;
  /** Bars written. */
  bars: number;
}

export interface EmbeddedAdminOptions {
  /** The policies `create` records (config `influxdb.retentionPolicies`). */
  retentionPolicies: readonly RetentionPolicySpec[];
  clock?: Clock;
}

/** Columns of a bar table besides the measurement's tags. */
export const BAR_COLUMNS = [
  'mid_open',
  'mid_high',
  'mid_low',
  'mid_close',
  'last_open',
  'last_high',
  'last_low',
  'last_close',
  'count',
  'volume',
] as const;

function barTableSql(table: string, schema: MeasurementSchema): string {
  const cols = [
    'retention_policy VARCHAR NOT NULL',
    ...schema.tags.map((t) => `${ident(t)} VARCHAR NOT NULL DEFAULT ''`),
    `${SESSION_COLUMN} VARCHAR NOT NULL DEFAULT ''`,
    'time_ns BIGINT NOT NULL',
    'time_us BIGINT NOT NULL',
    ...BAR_COLUMNS.map((c) => `${ident(c)} ${c === 'count' ? 'BIGINT' : 'DOUBLE'}`),
  ];
  const key = ['retention_policy', ...schema.tags.map(ident), SESSION_COLUMN, 'time_ns'];
  return `CREATE TABLE IF NOT EXISTS ${ident(table)} (${cols.join(', ')}, PRIMARY KEY (${key.join(', ')}))`;
}

/**
 * The SELECT producing 1-minute bars of `measurement` for [fromUs, toUs) (both on minute
 * boundaries). Mid = (bid + ask) / 2 where both are present; "last" is the `last` field, else a
 * trade's `price`; volume is the sum of `qty` (trades) or else the newest `volume` (a tick's
 * rolling 24 h volume as of the bar's close); NULL where the measurement has none of these.
 */
export function barSelectSql(measurement: string, schema: MeasurementSchema, fromUs: number, toUs: number): string {
  const has = (f: string) => Object.hasOwn(schema.fields, f);
  const mid = has('bid') && has('ask') ? '(bid + ask) / 2' : 'NULL::DOUBLE';
  const last = has('last') ? ident('last') : has('price') ? ident('price') : 'NULL::DOUBLE';
  const volume = has('qty') ? 'sum(qty)' : has('volume') ? 'arg_max(volume, time_ns) FILTER (WHERE volume IS NOT NULL)' : 'NULL::DOUBLE';
  const tags = schema.tags.map(ident);
  const ohlc = (x: string) =>
    [
      `arg_min(${x}, time_ns) FILTER (WHERE ${x} IS NOT NULL)`,
      `max(${x})`,
      `min(${x})`,
      `arg_max(${x}, time_ns) FILTER (WHERE ${x} IS NOT NULL)`,
    ].join(', ');
  return (
    `SELECT ${literal(BAR_RETENTION_POLICY)}, ${[...tags, ''].join(', ')} '' AS session, bucket * 1000, bucket, ${ohlc('mid')}, ${ohlc('lastp')}, count(*), ${volume} ` +
    `FROM (SELECT *, ${mid} AS mid, ${last} AS lastp, time_us - (time_us % ${MINUTE_US}) AS bucket FROM ${ident(measurement)} ` +
    `WHERE time_us >= ${fromUs} AND time_us < ${toUs}) ` +
    `GROUP BY ${[...tags, 'bucket'].join(', ')}`
  );
}

/** The embedded store's retention admin. Uses the sink's connection, serialised with its writes. */
export class EmbeddedRetentionAdmin {
  private readonly clock: Clock;
  constructor(
    private readonly sink: EmbeddedSink,
    private readonly opts: EmbeddedAdminOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    for (const p of opts.retentionPolicies) {
      if (parseDurationUs(p.duration) === null)
        throw new NbpyError('E_CONFIG', `retention policy ${p.name}: ${p.duration} is not a duration such as 7d or INF`, false);
    }
  }

  /** Record the configured policies (insert or update by name). Returns them all. */
  async create(): Promise<RetentionPolicyInfo[]> {
    await this.sink.withConnection(async (conn) => {
      await ensurePolicyTable(conn);
      for (const p of this.opts.retentionPolicies) {
        await conn.run(`INSERT OR REPLACE INTO ${POLICY_TABLE} VALUES (${literal(p.name)}, ${literal(p.duration)}, ${p.default === true})`);
      }
    });
    return this.list();
  }

  /** The recorded policies, by name. */
  async list(): Promise<RetentionPolicyInfo[]> {
    return this.sink.withConnection(async (conn) => {
      await ensurePolicyTable(conn);
      const rows = (await conn.runAndReadAll(`SELECT name, duration, is_default FROM ${POLICY_TABLE} ORDER BY name`)).getRowObjectsJS();
      return rows.map((r) => ({
        name: String(r.name),
        duration: String(r.duration),
        durationUs: parseDurationUs(String(r.duration)) ?? Infinity,
        default: r.is_default === true,
      }));
    });
  }

  /** Points, series, first/last time and points in the last minute of every measurement and bar table. */
  async stats(): Promise<MeasurementStats[]> {
    const sinceUs = this.clock.nowUs() - MINUTE_US;
    return this.sink.withConnection(async (conn) => {
      const out: MeasurementStats[] = [];
      for (const [table, schema] of await this.tables(conn)) {
        const tags = schema.tags.length ? `(${schema.tags.map(ident).join(', ')})` : `0`;
        const row = (
          await conn.runAndReadAll(
            `SELECT count(*)::DOUBLE AS points, count(DISTINCT ${tags})::DOUBLE AS series, min(time_us)::DOUBLE AS first_us, max(time_us)::DOUBLE AS last_us, ` +
              `count(*) FILTER (WHERE time_us >= ${sinceUs})::DOUBLE AS recent FROM ${ident(table)}`,
          )
        ).getRowObjectsJS()[0]!;
        out.push({
          measurement: table,
          points: Number(row.points),
          series: Number(row.series),
          firstUs: row.first_us === null ? null : Number(row.first_us),
          lastUs: row.last_us === null ? null : Number(row.last_us),
          lastMinutePoints: Number(row.recent),
        });
      }
      return out;
    });
  }

  /** Delete rows older than their retention policy's duration (dry run: only count them). */
  async cleanup(opts: { dryRun?: boolean } = {}): Promise<CleanupResult> {
    const policies = (await this.list()).filter((p) => Number.isFinite(p.durationUs));
    const nowUs = this.clock.nowUs();
    const dryRun = opts.dryRun === true;
    const entries = await this.sink.withConnection(async (conn) => {
      const found: CleanupEntry[] = [];
      await conn.run('BEGIN TRANSACTION');
      try {
        for (const [table] of await this.tables(conn)) {
          for (const p of policies) {
            const olderThanUs = nowUs - p.durationUs;
            const where = `WHERE retention_policy = ${literal(p.name)} AND time_us < ${olderThanUs}`;
            const n = Number(
              (await conn.runAndReadAll(`SELECT count(*)::DOUBLE AS n FROM ${ident(table)} ${where}`)).getRowObjectsJS()[0]?.n ?? 0,
            );
            if (n === 0) continue;
            if (!dryRun) await conn.run(`DELETE FROM ${ident(table)} ${where}`);
            found.push({ measurement: table, retentionPolicy: p.name, points: n, olderThanUs });
          }
        }
        await conn.run('COMMIT');
      } catch (err) {
        await conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
      return found;
    });
    return { dryRun, entries, total: entries.reduce((s, e) => s + e.points, 0) };
  }

  /**
   * Write 1-minute bars of `measurement` for the minutes covering [fromUs, toUs) into
   * `<measurement>_1m` under `long_term`, replacing the bars already there for those minutes.
   */
  async downsample(measurement: string, range: { fromUs: number; toUs: number }): Promise<DownsampleResult> {
    const schema = Object.hasOwn(this.sink.measurements, measurement) ? this.sink.measurements[measurement] : undefined;
    if (!schema)
      throw new NbpyError('E_STORE_NO_MEASUREMENT', `no measurement ${measurement} in influxdb.measurements: nothing to downsample`, false);
    const fromUs = Math.floor(range.fromUs / MINUTE_US) * MINUTE_US;
    const toUs = Math.ceil(range.toUs / MINUTE_US) * MINUTE_US;
    const target = `${measurement}${BAR_SUFFIX}`;
    const bars = await this.sink.withConnection(async (conn) => {
      await conn.run(barTableSql(target, schema));
      await conn.run('BEGIN TRANSACTION');
      try {
        await conn.run(
          `DELETE FROM ${ident(target)} WHERE retention_policy = ${literal(BAR_RETENTION_POLICY)} AND time_us >= ${fromUs} AND time_us < ${toUs}`,
        );
        const r = await conn.run(`INSERT INTO ${ident(target)} ${barSelectSql(measurement, schema, fromUs, toUs)}`);
        await conn.run('COMMIT');
        return r.rowsChanged;
      } catch (err) {
        await conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
    return { measurement, target, fromUs, toUs, bars };
  }

  /** Measurement tables and the bar tables that exist, with the schema (bars: tags only). */
  private async tables(conn: DuckDBConnection): Promise<[string, MeasurementSchema][]> {
    const out: [string, MeasurementSchema][] = [];
    for (const [m, schema] of Object.entries(this.sink.measurements)) {
      out.push([m, schema]);
      if (await tableExists(conn, `${m}${BAR_SUFFIX}`)) out.push([`${m}${BAR_SUFFIX}`, { tags: schema.tags, fields: {} }]);
    }
    return out;
  }
}

async function ensurePolicyTable(conn: DuckDBConnection): Promise<void> {
  await conn.run(
    `CREATE TABLE IF NOT EXISTS ${POLICY_TABLE} (name VARCHAR PRIMARY KEY, duration VARCHAR NOT NULL, is_default BOOLEAN NOT NULL)`,
  );
}
