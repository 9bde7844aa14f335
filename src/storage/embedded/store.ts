/**
 * The embedded default store: a DuckDB file holding the same measurements, tags, fields and point
 * identity as InfluxDB (see ../fields.ts), so nothing but Node is needed to capture data.
 *
 * One table per measurement of `influxdb.measurements`:
 *   retention_policy VARCHAR, <tags> VARCHAR ('' = absent), session VARCHAR (publisher session:
 *   part of the identity, as the InfluxDB driver's session tag), time_ns BIGINT (the InfluxDB point
 *   timestamp), time_us BIGINT (venue event time), <fields> typed (float DOUBLE, integer BIGINT,
 *   string VARCHAR, boolean BOOLEAN); primary key (retention_policy, tags, session, time_ns).
 * The record -> point mapping and the point identity are the shared ones of ../fields.ts (no
 * batch-dependent shifting: the same record is always the same row). A write stages the batch through the Appender into a temp table, then upserts it in one
 * transaction; an upsert keeps fields the new point lacks, as an InfluxDB overwrite does.
 *
 * DuckDB lets one process hold a file open for writing: a second process gets a lock error, which
 * this sink reports as retriable (E_STORE_LOCKED) so the caller spools and retries.
 */
import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { DuckDBAppender, DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { BusRecord } from '../../core/records.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { NbpyError } from '../../core/errors.js';
import type { Config, FieldType, MeasurementSchema } from '../../config/schema.js';
import { pointTimeNsBig, recordsToPoints, type FieldValue, type Point } from '../fields.js';
import type { DropReason, Sink, WriteResult, WriteTarget } from '../sink.js';
import { parseDurationUs } from './duration.js';

/** Columns every measurement table has besides its tags and fields. */
export const RESERVED_COLUMNS = ['retention_policy', 'time_ns', 'time_us'] as const;
/** The session key column; a schema may list it as a string field (it is then that column). */
export const SESSION_COLUMN = 'session';

export const SQL_TYPE: Readonly<Record<FieldType, string>> = { float: 'DOUBLE', integer: 'BIGINT', string: 'VARCHAR', boolean: 'BOOLEAN' };

/** Quote an SQL identifier. */
export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
/** Quote an SQL string literal. */
export const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** Minimal logger shape (pino's). */
export interface SinkLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface EmbeddedSinkOptions {
  /** DuckDB file, or ':memory:' (tests). Its directory is created when missing. */
  path: string;
  /** Measurement schemas (config `influxdb.measurements`): one table each. */
  measurements: Readonly<Record<string, MeasurementSchema>>;
  /**
   * Retention policies the store knows (config `influxdb.retentionPolicies`). When given, as in
   * InfluxDB, a write to another policy is dropped (`bad_request`) and points older than the
   * policy's duration are dropped (`beyond_retention`). When omitted, any policy name is accepted.
   */
  retentionPolicies?: readonly { name: string; duration: string }[];
  clock?: Clock;
  logger?: SinkLogger;
}

/** Sink options from the config: file `storage.embeddedFile` under `dataDir` (unless absolute). */
export function embeddedSinkOptionsFromConfig(config: Config, overrides: Partial<EmbeddedSinkOptions> = {}): EmbeddedSinkOptions {
  const file = config.storage.embeddedFile;
  return {
    path: file === ':memory:' || isAbsolute(file) ? file : join(config.dataDir, file),
    measurements: config.influxdb.measurements,
    retentionPolicies: config.influxdb.retentionPolicies,
    ...overrides,
  };
}

/** DuckDB says a file is held by another process, or the disk cannot take the write: retrying later can help. */
const UNAVAILABLE = /could not set lock|conflicting lock|lock on file|resource temporarily unavailable|no space left|database is locked/i;

function storeError(err: unknown, path: string, what: string): NbpyError {
  if (err instanceof NbpyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (UNAVAILABLE.test(message)) {
    return new NbpyError(
      'E_STORE_LOCKED',
      `embedded store ${path} is unavailable while trying to ${what} (${message.split('\n')[0]}); another process may hold it: stop it or point storage.embeddedFile elsewhere`,
      true,
    );
  }
  return new NbpyError('E_STORE_FAILED', `embedded store ${path}: ${what} failed: ${message}`, false);
}

interface ColumnPlan {
  name: string;
  /** How to take this column's value from a point. */
  source: 'rp' | 'tag' | 'session' | 'time_ns' | 'time_us' | 'field';
  type: FieldType;
}

interface TablePlan {
  measurement: string;
  stage: string;
  columns: ColumnPlan[];
  keyColumns: string[];
  upsertSql: string;
}

/** DDL for one measurement table (exported for the admin and tests). */
export function createTableSql(measurement: string, schema: MeasurementSchema): string {
  const cols = [
    'retention_policy VARCHAR NOT NULL',
    ...schema.tags.map((t) => `${ident(t)} VARCHAR NOT NULL DEFAULT ''`),
    `${SESSION_COLUMN} VARCHAR NOT NULL DEFAULT ''`,
    'time_ns BIGINT NOT NULL',
    'time_us BIGINT NOT NULL',
    ...Object.entries(schema.fields)
      .filter(([f]) => f !== SESSION_COLUMN)
      .map(([f, type]) => `${ident(f)} ${SQL_TYPE[type]}`),
  ];
  const key = ['retention_policy', ...schema.tags.map(ident), SESSION_COLUMN, 'time_ns'];
  return `CREATE TABLE IF NOT EXISTS ${ident(measurement)} (${cols.join(', ')}, PRIMARY KEY (${key.join(', ')}))`;
}

/** Check a schema can be a table: no tag/field named like a reserved column, no name used twice. */
export function schemaProblems(measurement: string, schema: MeasurementSchema): string[] {
  const problems: string[] = [];
  const seen = new Set<string>([...RESERVED_COLUMNS, ...schema.tags.map((t) => t.toLowerCase())]);
  if (seen.has(SESSION_COLUMN))
    problems.push(`influxdb.measurements.${measurement}: ${SESSION_COLUMN} is part of every point's identity and cannot be a tag`);
  const sessionType = schema.fields[SESSION_COLUMN];
  if (sessionType !== undefined && sessionType !== 'string')
    problems.push(`influxdb.measurements.${measurement}: field ${SESSION_COLUMN} must be a string`);
  for (const t of schema.tags)
    if (RESERVED_COLUMNS.some((r) => r === t.toLowerCase())) problems.push(`influxdb.measurements.${measurement}: column ${t} is reserved`);
  seen.add(SESSION_COLUMN);
  for (const name of Object.keys(schema.fields).filter((f) => f !== SESSION_COLUMN)) {
    if (seen.has(name.toLowerCase())) problems.push(`influxdb.measurements.${measurement}: column ${name} is reserved or used twice`);
    seen.add(name.toLowerCase());
  }
  return problems;
}

function appendValue(app: DuckDBAppender, type: FieldType, value: FieldValue | undefined): void {
  if (value === undefined) return app.appendNull();
  switch (type) {
    case 'float':
      // Floats arrive as the venue's decimal text (see ../fields.ts): converted once, here.
      return app.appendDouble(typeof value === 'number' ? value : Number(value));
    case 'integer':
      return app.appendBigInt(BigInt(value as number));
    case 'boolean':
      return app.appendBoolean(value as boolean);
    case 'string':
      return app.appendVarchar(String(value));
  }
}

/** The embedded (DuckDB) implementation of the sink contract. */
export class EmbeddedSink implements Sink {
  readonly kind = 'embedded' as const;
  readonly path: string;
  private readonly schemas: Readonly<Record<string, MeasurementSchema>>;
  private readonly policiesUs: Map<string, number> | null;
  private readonly clock: Clock;
  private readonly logger: SinkLogger | undefined;
  private readonly loggedReasons = new Set<DropReason>();
  private instance: DuckDBInstance | null = null;
  private conn: DuckDBConnection | null = null;
  private plans = new Map<string, TablePlan>();
  /** Serialises everything that uses the connection (writes share the staging tables). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: EmbeddedSinkOptions) {
    this.path = opts.path;
    this.schemas = opts.measurements;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger;
    this.policiesUs = opts.retentionPolicies
      ? new Map(opts.retentionPolicies.map((p) => [p.name, parseDurationUs(p.duration) ?? Infinity]))
      : null;
    const problems = Object.entries(this.schemas).flatMap(([m, s]) => schemaProblems(m, s));
    if (problems.length) throw new NbpyError('E_CONFIG', problems.join('; '), false);
  }

  /** The measurement schemas this store was opened with. */
  get measurements(): Readonly<Record<string, MeasurementSchema>> {
    return this.schemas;
  }

  async open(): Promise<void> {
    await this.exclusive(() => this.ensureOpen());
  }

  async write(records: readonly BusRecord[], target: WriteTarget): Promise<WriteResult> {
    const batch = recordsToPoints(records, target, this.schemas);
    const dropped = { ...batch.dropped };
    const samples = { ...batch.samples };
    const rp = target.retentionPolicy;
    const keep: number[] = [];
    const rpDurationUs = this.policiesUs?.get(rp);
    if (this.policiesUs && rpDurationUs === undefined) {
      if (batch.points.length) {
        dropped.bad_request = (dropped.bad_request ?? 0) + batch.points.length;
        samples.bad_request ??= `retention policy not found: ${rp} (known: ${[...this.policiesUs.keys()].join(', ')})`;
      }
    } else {
      const oldestUs = rpDurationUs !== undefined && Number.isFinite(rpDurationUs) ? this.clock.nowUs() - rpDurationUs : -Infinity;
      batch.points.forEach((p, i) => {
        if (p.timeUs < oldestUs) {
          dropped.beyond_retention = (dropped.beyond_retention ?? 0) + 1;
          samples.beyond_retention ??= `${p.measurement} point at ${p.timeUs} us is older than retention policy ${rp}`;
        } else keep.push(i);
      });
    }
    this.logDrops(dropped, samples);
    if (keep.length === 0) return { written: 0, dropped };

    const byTable = new Map<string, { point: Point; ns: bigint }[]>();
    for (const i of keep) {
      const point = batch.points[i]!;
      let rows = byTable.get(point.measurement);
      if (!rows) byTable.set(point.measurement, (rows = []));
      rows.push({ point, ns: pointTimeNsBig(point.timeUs, point.seq) });
    }
    await this.exclusive(async () => {
      const conn = await this.ensureOpen();
      try {
        const staged: TablePlan[] = [];
        for (const [measurement, tableRows] of byTable) {
          const plan = this.plans.get(measurement)!;
          // One row per point identity (the last wins, as a later line does in one InfluxDB write).
          const rows = identityRows(tableRows);
          const app = await conn.createAppender(plan.stage, 'main', 'temp');
          try {
            for (const { point, ns } of rows) {
              for (const col of plan.columns) {
                switch (col.source) {
                  case 'rp':
                    app.appendVarchar(rp);
                    break;
                  case 'tag':
                    app.appendVarchar(point.tags[col.name] ?? '');
                    break;
                  case 'session':
                    app.appendVarchar(point.session);
                    break;
                  case 'time_ns':
                    app.appendBigInt(ns);
                    break;
                  case 'time_us':
                    app.appendBigInt(BigInt(point.timeUs));
                    break;
                  case 'field':
                    appendValue(app, col.type, Object.hasOwn(point.fields, col.name) ? point.fields[col.name] : undefined);
                    break;
                }
              }
              app.endRow();
            }
          } finally {
            app.closeSync();
          }
          staged.push(plan);
        }
        await conn.run('BEGIN TRANSACTION');
        try {
          for (const plan of staged) await conn.run(plan.upsertSql);
          await conn.run('COMMIT');
        } catch (err) {
          await conn.run('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          for (const plan of staged) await conn.run(`DELETE FROM temp.main.${ident(plan.stage)}`).catch(() => undefined);
        }
      } catch (err) {
        throw storeError(err, this.path, `write ${keep.length} points`);
      }
    });
    return { written: keep.length, dropped };
  }

  async count(measurement: string, sinceUs?: number): Promise<number> {
    return this.exclusive(async () => {
      const conn = await this.ensureOpen();
      if (!(await tableExists(conn, measurement))) return 0;
      const where = sinceUs === undefined ? '' : ` WHERE time_us >= ${Math.floor(sinceUs)}`;
      const rows = (await conn.runAndReadAll(`SELECT count(*)::DOUBLE AS n FROM ${ident(measurement)}${where}`)).getRowObjectsJS();
      return Number(rows[0]?.n ?? 0);
    });
  }

  async close(): Promise<void> {
    await this.exclusive(async () => {
      this.conn?.closeSync();
      this.instance?.closeSync();
      this.conn = null;
      this.instance = null;
      this.plans.clear();
    });
  }

  /**
   * Run `fn` with the open connection, serialised with writes (the retention admin uses this so
   * its deletes and downsampling never interleave with a batch).
   */
  withConnection<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    return this.exclusive(async () => fn(await this.ensureOpen()));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async ensureOpen(): Promise<DuckDBConnection> {
    if (this.conn) return this.conn;
    try {
      if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
      // Loaded on first use: the native module costs ~1 s of start-up that publishers never need.
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const instance = await DuckDBInstance.create(this.path);
      let conn: DuckDBConnection;
      try {
        conn = await instance.connect();
        await this.prepareTables(conn);
      } catch (err) {
        instance.closeSync();
        throw err;
      }
      this.instance = instance;
      this.conn = conn;
      return conn;
    } catch (err) {
      throw storeError(err, this.path, 'open');
    }
  }

  private async prepareTables(conn: DuckDBConnection): Promise<void> {
    let i = 0;
    for (const [measurement, schema] of Object.entries(this.schemas)) {
      await conn.run(createTableSql(measurement, schema));
      // A field added to the config later becomes a new column; a new tag cannot join the key.
      const existing = await tableColumns(conn, measurement);
      const missingTags = schema.tags.filter((t) => !existing.has(t));
      if (missingTags.length) {
        throw new NbpyError(
          'E_STORE_SCHEMA',
          `embedded store ${this.path}: table ${measurement} lacks tag column(s) ${missingTags.join(', ')}; tags are part of the key and cannot be added: use a new measurement name or a new file`,
          false,
        );
      }
      for (const [f, type] of Object.entries(schema.fields)) {
        if (!existing.has(f) && f !== SESSION_COLUMN)
          await conn.run(`ALTER TABLE ${ident(measurement)} ADD COLUMN ${ident(f)} ${SQL_TYPE[type]}`);
      }
      const stage = `nbpy_stage_${i++}`;
      await conn.run(`CREATE OR REPLACE TEMP TABLE ${ident(stage)} AS SELECT * FROM ${ident(measurement)} LIMIT 0`);
      const order = [...(await tableColumns(conn, measurement)).keys()];
      const tagSet = new Set(schema.tags);
      const columns: ColumnPlan[] = order.map((name) => {
        if (name === 'retention_policy') return { name, source: 'rp', type: 'string' };
        if (name === SESSION_COLUMN) return { name, source: 'session', type: 'string' };
        if (name === 'time_ns') return { name, source: 'time_ns', type: 'integer' };
        if (name === 'time_us') return { name, source: 'time_us', type: 'integer' };
        if (tagSet.has(name)) return { name, source: 'tag', type: 'string' };
        // Columns no longer in the schema stay NULL (type from the table is irrelevant then).
        return { name, source: 'field', type: schema.fields[name] ?? 'string' };
      });
      const keyColumns = ['retention_policy', ...schema.tags, SESSION_COLUMN, 'time_ns'];
      const valueColumns = order.filter((c) => !keyColumns.includes(c));
      const set = valueColumns.map((c) => `${ident(c)} = COALESCE(excluded.${ident(c)}, ${ident(measurement)}.${ident(c)})`);
      const upsertSql =
        `INSERT INTO ${ident(measurement)} SELECT * FROM temp.main.${ident(stage)} ` +
        `ON CONFLICT (${keyColumns.map(ident).join(', ')}) DO ${set.length ? `UPDATE SET ${set.join(', ')}` : 'NOTHING'}`;
      this.plans.set(measurement, { measurement, stage, columns, keyColumns, upsertSql });
    }
  }

  private logDrops(dropped: Partial<Record<DropReason, number>>, samples: Partial<Record<DropReason, string>>): void {
    if (!this.logger) return;
    for (const [reason, n] of Object.entries(dropped) as [DropReason, number][]) {
      if (this.loggedReasons.has(reason)) continue;
      this.loggedReasons.add(reason);
      this.logger.warn({ store: 'embedded', reason, dropped: n, sample: samples[reason] }, `embedded store dropped points: ${reason}`);
    }
  }
}

/** One row per (series, time_ns): the last point of the batch wins. */
function identityRows(rows: readonly { point: Point; ns: bigint }[]): { point: Point; ns: bigint }[] {
  const byKey = new Map<string, { point: Point; ns: bigint }>();
  for (const r of rows) {
    const tags = Object.keys(r.point.tags)
      .sort()
      .map((k) => `${k}=${r.point.tags[k]}`)
      .join('\u0000');
    byKey.set(`${tags}\u0001${r.point.session}\u0001${r.ns}`, r);
  }
  return [...byKey.values()];
}

/** Column names of a table in order (empty map when it does not exist). */
export async function tableColumns(conn: DuckDBConnection, table: string): Promise<Map<string, string>> {
  const rows = (
    await conn.runAndReadAll(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND database_name = current_database() AND table_name = ${literal(table)} ORDER BY column_index`,
    )
  ).getRowObjectsJS();
  return new Map(rows.map((r) => [String(r.column_name), String(r.data_type)]));
}

export async function tableExists(conn: DuckDBConnection, table: string): Promise<boolean> {
  const rows = (
    await conn.runAndReadAll(
      `SELECT 1 FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = current_database() AND table_name = ${literal(table)}`,
    )
  ).getRowObjectsJS();
  return rows.length > 0;
}
