/**
 * RetentionAdmin for InfluxDB 1.x: database, retention policies, stats, cleanup, downsampling.
 *
 * Downsampling writes 1-minute bars into the long-term policy as `<measurement>_1m`:
 * `mid_open/high/low/close` of the mid price where the measurement has bid+ask (or level-1 book,
 * or back/lay), `last_open/...` of the last price where it has one (`last`, `price`, `ltp`),
 * `count`, and `volume` (sum of `qty`) for trades. It is a scheduled job with explicit time
 * ranges (`SELECT ... INTO ... WHERE time >= a AND time < b GROUP BY time(1m), <tags>`) rather than
 * only a continuous query, because a CQ covers each interval once and misses late data; the job
 * re-covers a look-back window every run and each bar is simply overwritten. Bars group by the
 * configured tags (not by `session`), so a publisher restart does not split a minute.
 */
import type { Clock } from '../../core/clock.js';
import { NbpyError } from '../../core/errors.js';
import type { MeasurementSchema } from '../../config/schema.js';
import type {
  CleanupOptions,
  CleanupResult,
  DownsampleOptions,
  MeasurementStats,
  RetentionAdmin,
  RetentionPolicyInfo,
  StoreStats,
} from '../admin.js';
import { ident, rows, type InfluxClient } from './client.js';

export interface InfluxAdminConfig {
  database: string;
  retentionPolicies: readonly { name: string; duration: string; shardDuration: string; default: boolean }[];
  measurements: Readonly<Record<string, MeasurementSchema>>;
}

export interface InfluxAdminOptions {
  client: InfluxClient;
  /** `config.influxdb`. */
  influxdb: InfluxAdminConfig;
  /** Policy the raw data is read from for downsampling (default: high_frequency if configured, else the default). */
  sourceRetentionPolicy?: string;
  /** Policy the bars go to (default long_term). */
  targetRetentionPolicy?: string;
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  u: 1e-3,
  µ: 1e-3,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1e3,
  m: 60e3,
  h: 3600e3,
  d: 86400e3,
  w: 7 * 86400e3,
};
const DURATION_RE = /^(INF|inf|(\d+(ns|u|µ|ms|s|m|h|d|w))+)$/;

/** InfluxQL duration literal (30d, 1h30m, INF) -> ms (INF = 0, as InfluxDB reports it). */
export function influxDurationMs(text: string): number {
  if (/^inf$/i.test(text)) return 0;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ns|ms|µ|u|s|m|h|d|w)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/** Go duration text as InfluxDB reports it ("720h0m0s", "1h0m0s", "0s") -> ms. */
export function goDurationMs(text: string): number {
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|h|m|s)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

const MINUTE_US = 60_000_000;

/** What the bars of one measurement are built from. */
export interface BarSpec {
  tags: string[];
  mid?: [string, string];
  last?: string;
  volume?: string;
  countField: string;
}

/** Decide the bar fields of a measurement from its schema; undefined when it has no price. */
export function barSpec(schema: MeasurementSchema): BarSpec | undefined {
  const f = schema.fields;
  const isFloat = (k: string) => f[k] === 'float';
  const pairs: [string, string][] = [
    ['bid', 'ask'],
    ['bid_1_price', 'ask_1_price'],
    ['back_1_price', 'lay_1_price'],
  ];
  const mid = pairs.find(([a, b]) => isFloat(a) && isFloat(b));
  const last = ['last', 'price', 'ltp'].find(isFloat);
  if (!mid && !last) return undefined;
  const volume = last === 'price' && isFloat('qty') ? 'qty' : undefined;
  return { tags: schema.tags, mid, last, volume, countField: f.seq ? 'seq' : (mid?.[0] ?? last!) };
}

export class InfluxAdmin implements RetentionAdmin {
  private readonly client: InfluxClient;
  private readonly cfg: InfluxAdminConfig;
  private readonly db: string;

  constructor(private readonly opts: InfluxAdminOptions) {
    this.client = opts.client;
    this.cfg = opts.influxdb;
    this.db = opts.influxdb.database;
  }

  private get sourceRp(): string {
    if (this.opts.sourceRetentionPolicy) return this.opts.sourceRetentionPolicy;
    const rps = this.cfg.retentionPolicies;
    return (rps.find((r) => r.name === 'high_frequency') ?? rps.find((r) => r.default) ?? rps[0]!).name;
  }
  private get targetRp(): string {
    return this.opts.targetRetentionPolicy ?? 'long_term';
  }

  async create(): Promise<{ changed: string[] }> {
    const changed: string[] = [];
    const dbs = rows(await this.client.query('SHOW DATABASES')).map((r) => r.name);
    if (!dbs.includes(this.db)) {
      await this.client.query(`CREATE DATABASE ${ident(this.db)}`);
      changed.push(`database ${this.db} created`);
    }
    const have = new Map((await this.list()).map((r) => [r.name, r]));
    for (const want of this.cfg.retentionPolicies) {
      const spec = `DURATION ${want.duration} REPLICATION 1 SHARD DURATION ${want.shardDuration}${want.default ? ' DEFAULT' : ''}`;
      const cur = have.get(want.name);
      if (!cur) {
        await this.client.query(`CREATE RETENTION POLICY ${ident(want.name)} ON ${ident(this.db)} ${spec}`);
        changed.push(
          `retention policy ${want.name} created (${want.duration}, shards ${want.shardDuration}${want.default ? ', default' : ''})`,
        );
        continue;
      }
      const diffs: string[] = [];
      if (goDurationMs(cur.duration) !== influxDurationMs(want.duration)) diffs.push(`duration ${cur.duration} -> ${want.duration}`);
      if (goDurationMs(cur.shardDuration) !== influxDurationMs(want.shardDuration))
        diffs.push(`shard duration ${cur.shardDuration} -> ${want.shardDuration}`);
      if (want.default && !cur.default) diffs.push('made default');
      if (diffs.length) {
        await this.client.query(`ALTER RETENTION POLICY ${ident(want.name)} ON ${ident(this.db)} ${spec}`);
        changed.push(`retention policy ${want.name} altered (${diffs.join(', ')})`);
      }
    }
    return { changed };
  }

  async list(): Promise<RetentionPolicyInfo[]> {
    return rows(await this.client.query(`SHOW RETENTION POLICIES ON ${ident(this.db)}`)).map((r) => ({
      name: String(r.name),
      duration: String(r.duration),
      shardDuration: String(r.shardGroupDuration),
      replicaN: Number(r.replicaN),
      default: r.default === true,
    }));
  }

  private async measurementNames(): Promise<string[]> {
    return rows(await this.client.query('SHOW MEASUREMENTS', { db: this.db })).map((r) => String(r.name));
  }

  /** Largest count_* of a `SELECT count(*)` row (the points of a measurement). */
  private async countPoints(from: string, where: string): Promise<{ points: number; field?: string }> {
    const r = rows(await this.client.query(`SELECT count(*) FROM ${from}${where}`, { db: this.db }))[0];
    let points = 0;
    let field: string | undefined;
    for (const [k, v] of Object.entries(r ?? {}))
      if (k.startsWith('count_') && typeof v === 'number' && v > points) {
        points = v;
        field = k.slice('count_'.length);
      }
    return { points, field };
  }

  async stats(): Promise<StoreStats> {
    const rps = (await this.list()).map((r) => r.name);
    const names = await this.measurementNames();
    const measurements: MeasurementStats[] = [];
    for (const rp of rps)
      for (const m of names) {
        const from = `${ident(this.db)}.${ident(rp)}.${ident(m)}`;
        const { points, field } = await this.countPoints(from, '');
        if (!points || !field) continue;
        const first = rows(await this.client.query(`SELECT first(${ident(field)}) FROM ${from}`, { db: this.db, epoch: 'u' }))[0];
        const last = rows(await this.client.query(`SELECT last(${ident(field)}) FROM ${from}`, { db: this.db, epoch: 'u' }))[0];
        const recent = await this.countPoints(from, ' WHERE time > now() - 1m');
        const card = rows(await this.client.query(`SHOW SERIES EXACT CARDINALITY ON ${ident(this.db)} FROM ${from}`))[0];
        measurements.push({
          measurement: m,
          retentionPolicy: rp,
          points,
          series: typeof card?.count === 'number' ? card.count : -1,
          first_us: typeof first?.time === 'number' ? first.time : null,
          last_us: typeof last?.time === 'number' ? last.time : null,
          points_last_minute: recent.points,
        });
      }
    const disk = new Map<string, number>();
    try {
      for (const s of (await this.client.query(`SHOW STATS FOR 'shard'`))[0]?.series ?? []) {
        if (s.tags?.database !== this.db) continue;
        const i = s.columns.indexOf('diskBytes');
        const v = s.values?.[0]?.[i];
        if (typeof v === 'number') disk.set(s.tags.retentionPolicy ?? '', (disk.get(s.tags.retentionPolicy ?? '') ?? 0) + v);
      }
    } catch {
      // SHOW STATS needs admin rights; disk figures are optional.
    }
    return { measurements, disk: [...disk].map(([retentionPolicy, bytes]) => ({ retentionPolicy, bytes })) };
  }

  async cleanup(opts: CleanupOptions): Promise<CleanupResult> {
    if (!DURATION_RE.test(opts.olderThan) || /^inf$/i.test(opts.olderThan))
      throw new NbpyError('E_USAGE', `olderThan: expected a duration such as 30d or 12h, got ${JSON.stringify(opts.olderThan)}`, false);
    const names = opts.measurement ? [opts.measurement] : await this.measurementNames();
    const rps = (await this.list()).map((r) => r.name);
    const where = ` WHERE time < now() - ${opts.olderThan}`;
    const out: { measurement: string; points: number }[] = [];
    for (const m of names) {
      let points = 0;
      for (const rp of rps) points += (await this.countPoints(`${ident(this.db)}.${ident(rp)}.${ident(m)}`, where)).points;
      out.push({ measurement: m, points });
      // DELETE applies to every retention policy of the database.
      if (!opts.dryRun && points > 0) await this.client.query(`DELETE FROM ${ident(m)}${where}`, { db: this.db });
    }
    return { dryRun: opts.dryRun, olderThan: opts.olderThan, measurements: out, total: out.reduce((a, b) => a + b.points, 0) };
  }

  /** The SELECT ... INTO statements for one measurement and window (exported for tests and docs). */
  downsampleQueries(measurement: string, spec: BarSpec, sinceUs: number, untilUs: number): string[] {
    const src = `${ident(this.db)}.${ident(this.sourceRp)}.${ident(measurement)}`;
    const dst = `${ident(this.db)}.${ident(this.targetRp)}.${ident(measurement + '_1m')}`;
    const range = `time >= ${sinceUs}u AND time < ${untilUs}u`;
    const tags = spec.tags.map(ident);
    const groupBy = ['time(1m)', ...tags].join(', ');
    const qs: string[] = [];
    const ohlc = (f: string, p: string) =>
      `first(${f}) AS ${p}_open, max(${f}) AS ${p}_high, min(${f}) AS ${p}_low, last(${f}) AS ${p}_close`;
    if (spec.mid) {
      const inner = `SELECT (${ident(spec.mid[0])} + ${ident(spec.mid[1])}) / 2 AS mid FROM ${src} WHERE ${range}${tags.length ? ` GROUP BY ${tags.join(', ')}` : ''}`;
      qs.push(`SELECT ${ohlc('mid', 'mid')}, count(mid) AS count INTO ${dst} FROM (${inner}) WHERE ${range} GROUP BY ${groupBy}`);
    }
    if (spec.last) {
      const parts = [ohlc(ident(spec.last), 'last')];
      if (!spec.mid) parts.push(`count(${ident(spec.countField)}) AS count`);
      if (spec.volume) parts.push(`sum(${ident(spec.volume)}) AS volume`);
      qs.push(`SELECT ${parts.join(', ')} INTO ${dst} FROM ${src} WHERE ${range} GROUP BY ${groupBy}`);
    }
    return qs;
  }

  async downsample(opts: DownsampleOptions): Promise<{ points: number }> {
    const since = Math.floor(opts.since_us / MINUTE_US) * MINUTE_US;
    const until = Math.floor(opts.until_us / MINUTE_US) * MINUTE_US;
    if (until <= since) return { points: 0 };
    let points = 0;
    for (const [m, schema] of Object.entries(this.cfg.measurements)) {
      const spec = barSpec(schema);
      if (!spec) continue;
      let written = 0;
      for (const q of this.downsampleQueries(m, spec, since, until)) {
        const r = rows(await this.client.query(q, { db: this.db, method: 'POST' }))[0];
        written = Math.max(written, typeof r?.written === 'number' ? r.written : 0);
      }
      points += written;
    }
    return { points };
  }
}

/**
 * Run downsampling every `everyMs`, each time re-covering the last `lookbackMs` up to the start
 * of the current minute (late data gets folded into bars already written).
 */
export function scheduleDownsample(
  admin: RetentionAdmin,
  clock: Clock,
  opts: {
    everyMs?: number;
    lookbackMs?: number;
    log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  } = {},
): { stop(): void; runNow(): Promise<{ points: number }> } {
  const everyMs = opts.everyMs ?? 60_000;
  const lookbackMs = opts.lookbackMs ?? 10 * 60_000;
  let timer: { cancel(): void } | undefined;
  let stopped = false;
  const runNow = async () => {
    const until = Math.floor(clock.nowUs() / MINUTE_US) * MINUTE_US;
    return admin.downsample({ since_us: until - lookbackMs * 1000, until_us: until });
  };
  const tick = () => {
    runNow()
      .catch((e: Error) => opts.log?.('warn', `downsampling failed: ${e.message}; retrying next run`))
      .finally(() => {
        if (!stopped) timer = clock.setTimeout(tick, everyMs);
      });
  };
  timer = clock.setTimeout(tick, everyMs);
  return {
    stop: () => {
      stopped = true;
      timer?.cancel();
    },
    runNow,
  };
}
