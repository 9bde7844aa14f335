/**
 * InfluxSink: the Sink (../sink.ts) for InfluxDB 1.x.
 *
 * How write errors are classified (InfluxDB 1.6 behaviour, checked against a real influxd):
 * - network errors, timeouts, 5xx -> thrown, retriable: the pipeline keeps the batch and retries.
 *   "retention policy not found" (a 500) and auth refusals are also thrown as retriable: the data
 *   is fine, the setup is not, so it is held (spooled) until an operator fixes it.
 * - 404 "database not found" -> CREATE DATABASE, then the batch is sent again.
 * - 400 "partial write: ... dropped=N": InfluxDB already stored the good points of the batch and
 *   dropped N (field type conflict with stored data, points beyond the retention policy, lines it
 *   could not parse). We count the N by reason; nothing is re-sent.
 * - any other 400 (e.g. two points of one batch disagree on a field's type: InfluxDB rejects the
 *   whole batch) or 413 -> the batch is bisected and each half sent again until the bad lines are
 *   alone; they are dropped and counted, every other line is written. Re-sending is harmless: the
 *   same record always yields the same point identity (see line-protocol.ts), so it overwrites.
 * Each drop reason is logged once with a sample line, then only counted.
 */
import { NbpyError } from '../../core/errors.js';
import type { BusRecord } from '../../core/records.js';
import type { MeasurementSchema } from '../../config/schema.js';
import type { DropReason, Sink, WriteResult, WriteTarget } from '../sink.js';
import { InfluxHttpError, ident, rows, type InfluxClient } from './client.js';
import { LineBuilder, SESSION_TAG } from './line-protocol.js';

export type SinkLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface InfluxSinkOptions {
  client: InfluxClient;
  database: string;
  /** `influxdb.measurements` of the config. */
  measurements: Readonly<Record<string, MeasurementSchema>>;
  log?: SinkLog;
}

const PARSE_FAIL_RE = /unable to parse/g;

function addDrops(into: Partial<Record<DropReason, number>>, from: Partial<Record<DropReason, number>>) {
  for (const [k, v] of Object.entries(from) as [DropReason, number][]) if (v) into[k] = (into[k] ?? 0) + v;
}

/** The drop reason InfluxDB's error text points at. */
export function reasonOf(message: string): DropReason {
  if (/field type conflict/.test(message)) return 'field_type_conflict';
  if (/beyond retention/.test(message)) return 'beyond_retention';
  if (/unable to parse/.test(message)) return 'bad_request';
  return 'bad_request';
}

/** For a "partial write" answer: how many points were dropped and why. */
export function parsePartialWrite(message: string): { reason: DropReason; dropped: number } {
  const m = /dropped=(\d+)/.exec(message);
  const parseFails = message.match(PARSE_FAIL_RE)?.length ?? 0;
  const dropped = Math.max(m ? Number(m[1]) : 0, parseFails);
  const reason: DropReason = /field type conflict|beyond retention/.test(message) ? reasonOf(message) : 'partial_write';
  return { reason, dropped };
}

export class InfluxSink implements Sink {
  readonly kind = 'influxdb' as const;
  readonly builder: LineBuilder;
  private readonly client: InfluxClient;
  private readonly db: string;
  private readonly log: SinkLog;
  private readonly sampled = new Set<DropReason>();

  constructor(private readonly opts: InfluxSinkOptions) {
    this.client = opts.client;
    this.db = opts.database;
    this.builder = new LineBuilder(opts.measurements);
    this.log = opts.log ?? (() => {});
  }

  async open(): Promise<void> {
    await this.client.ping();
    await this.ensureDatabase();
    await this.checkFieldTypes();
  }

  private async ensureDatabase(): Promise<void> {
    const dbs = rows(await this.client.query('SHOW DATABASES')).map((r) => r.name);
    if (!dbs.includes(this.db)) {
      await this.client.query(`CREATE DATABASE ${ident(this.db)}`);
      this.log('info', `created InfluxDB database ${this.db}`, { database: this.db });
    }
  }

  /** Compare the configured field types with what InfluxDB has stored. Throws on a conflict. */
  async checkFieldTypes(): Promise<void> {
    const res = await this.client.query('SHOW FIELD KEYS', { db: this.db });
    const problems: string[] = [];
    for (const s of res[0]?.series ?? []) {
      const schema = s.name ? this.opts.measurements[s.name] : undefined;
      if (!schema) continue;
      for (const [key, type] of (s.values ?? []) as [string, string][]) {
        const want = schema.fields[key];
        if (!want || want === type || key === SESSION_TAG) continue;
        problems.push(
          `measurement "${s.name}" field "${key}" is ${type} in InfluxDB database "${this.db}" but ${want} in influxdb.measurements.${s.name}.fields.${key}; ` +
            `fix: set the config type to "${type}", or drop the stored data (DROP MEASUREMENT "${s.name}") or write to a new measurement name`,
        );
      }
    }
    if (problems.length) throw new NbpyError('E_INFLUX_FIELD_TYPE', problems.join('\n'), false);
  }

  private drop(reason: DropReason, n: number, sample: string, into: Partial<Record<DropReason, number>>) {
    if (n <= 0) return;
    into[reason] = (into[reason] ?? 0) + n;
    if (!this.sampled.has(reason)) {
      this.sampled.add(reason);
      this.log('warn', `InfluxDB dropped points (${reason}); further drops of this kind are only counted`, {
        reason,
        sample: sample.slice(0, 500),
      });
    }
  }

  async write(records: readonly BusRecord[], target: WriteTarget): Promise<WriteResult> {
    const built = this.builder.build(records, target);
    for (const [reason, n] of Object.entries(built.dropped) as [DropReason, number][])
      this.drop(reason, n, built.samples[reason] ?? '', {});
    const res = await this.writeLines(built.lines, target.retentionPolicy);
    addDrops(res.dropped, built.dropped);
    return res;
  }

  /** Write pre-built lines with the error handling described at the top. */
  async writeLines(lines: readonly string[], retentionPolicy: string): Promise<WriteResult> {
    const dropped: Partial<Record<DropReason, number>> = {};
    if (lines.length === 0) return { written: 0, dropped };
    const written = await this.send(lines, retentionPolicy, dropped, false);
    return { written, dropped };
  }

  private async send(
    lines: readonly string[],
    rp: string,
    dropped: Partial<Record<DropReason, number>>,
    createdDb: boolean,
  ): Promise<number> {
    try {
      await this.client.write(lines.join('\n'), { db: this.db, rp, precision: 'ns' });
      return lines.length;
    } catch (e) {
      if (!(e instanceof InfluxHttpError)) throw e;
      const msg = e.body;
      if (e.status === 404 && /database not found/.test(msg) && !createdDb) {
        await this.ensureDatabase();
        return this.send(lines, rp, dropped, true);
      }
      if (/retention policy not found/.test(msg))
        throw new NbpyError(
          'E_INFLUX_RP_MISSING',
          `retention policy "${rp}" does not exist on database "${this.db}"; create it (nbpy influx setup) - data is held until then`,
          true,
        );
      if (e.status === 401 || e.status === 403) throw new NbpyError(e.code, e.message, true);
      if (e.retriable) throw e;
      if (e.status === 400 && /^partial write/.test(msg)) {
        const { reason, dropped: n } = parsePartialWrite(msg);
        this.drop(reason, n, msg, dropped);
        return lines.length - Math.min(n, lines.length);
      }
      if (e.status === 400 || e.status === 413) {
        const parseFails = msg.match(PARSE_FAIL_RE)?.length ?? 0;
        if (lines.length === 1 || parseFails === lines.length) {
          this.drop(reasonOf(msg), lines.length, `${msg} | ${lines[0]}`, dropped);
          return 0;
        }
        const mid = lines.length >> 1;
        const a = await this.send(lines.slice(0, mid), rp, dropped, createdDb);
        const b = await this.send(lines.slice(mid), rp, dropped, createdDb);
        return a + b;
      }
      // Any other 4xx: the request itself is wrong; retrying the same bytes cannot help.
      this.drop('bad_request', lines.length, `${e.status} ${msg}`, dropped);
      return 0;
    }
  }

  /** Points of a measurement summed over every retention policy of the database. */
  async count(measurement: string, sinceUs?: number): Promise<number> {
    const rps = rows(await this.client.query(`SHOW RETENTION POLICIES ON ${ident(this.db)}`)).map((r) => String(r.name));
    const where = sinceUs !== undefined ? ` WHERE time >= ${sinceUs}u` : '';
    let total = 0;
    for (const rp of rps) {
      const r = rows(
        await this.client.query(`SELECT count(*) FROM ${ident(this.db)}.${ident(rp)}.${ident(measurement)}${where}`, { db: this.db }),
      );
      const row = r[0];
      if (!row) continue;
      let best = 0;
      for (const [k, v] of Object.entries(row)) if (k.startsWith('count_') && typeof v === 'number' && v > best) best = v;
      total += best;
    }
    return total;
  }

  async close(): Promise<void> {}
}
