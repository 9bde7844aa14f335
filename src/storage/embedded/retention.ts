/**
 * The embedded store's RetentionAdmin (../admin.ts): the interface the CLI and the subscriber's
 * /store/stats use for both backends, over EmbeddedRetentionAdmin (./admin.ts) and the sink's
 * serialised DuckDB connection.
 */
import { NbpyError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { CleanupOptions, CleanupResult, DownsampleOptions, RetentionAdmin, RetentionPolicyInfo, StoreStats } from '../admin.js';
import { EmbeddedRetentionAdmin, type RetentionPolicySpec } from './admin.js';
import { parseDurationUs } from './duration.js';
import { ident, tableExists, type EmbeddedSink } from './store.js';

export class EmbeddedRetention implements RetentionAdmin {
  private readonly inner: EmbeddedRetentionAdmin;
  private readonly clock: Clock;
  constructor(
    private readonly sink: EmbeddedSink,
    private readonly policies: readonly (RetentionPolicySpec & { shardDuration?: string })[],
    clock: Clock = systemClock,
  ) {
    this.clock = clock;
    this.inner = new EmbeddedRetentionAdmin(sink, { retentionPolicies: policies, clock });
  }

  async create(): Promise<{ changed: string[] }> {
    const before = new Map((await this.inner.list()).map((p) => [p.name, p]));
    await this.inner.create();
    const changed: string[] = [];
    for (const p of this.policies) {
      const cur = before.get(p.name);
      if (!cur) changed.push(`retention policy ${p.name} created (${p.duration}${p.default ? ', default' : ''})`);
      else if (cur.duration !== p.duration || cur.default !== (p.default === true))
        changed.push(`retention policy ${p.name} altered (${cur.duration} -> ${p.duration}${p.default ? ', default' : ''})`);
    }
    return { changed };
  }

  async list(): Promise<RetentionPolicyInfo[]> {
    const shard = new Map(this.policies.map((p) => [p.name, p.shardDuration ?? '-']));
    return (await this.inner.list()).map((p) => ({
      name: p.name,
      duration: p.duration,
      shardDuration: shard.get(p.name) ?? '-',
      default: p.default,
    }));
  }

  async stats(): Promise<StoreStats> {
    const m = await this.inner.stats();
    return {
      measurements: m.map((s) => ({
        measurement: s.measurement,
        retentionPolicy: '*',
        points: s.points,
        series: s.series,
        first_us: s.firstUs,
        last_us: s.lastUs,
        points_last_minute: s.lastMinutePoints,
      })),
      disk: [],
    };
  }

  async cleanup(opts: CleanupOptions): Promise<CleanupResult> {
    const ageUs = parseDurationUs(opts.olderThan);
    if (ageUs === null || !Number.isFinite(ageUs))
      throw new NbpyError('E_USAGE', `olderThan: expected a duration such as 30d or 12h, got ${JSON.stringify(opts.olderThan)}`, false);
    const cutoff = this.clock.nowUs() - ageUs;
    const names = opts.measurement ? [opts.measurement] : Object.keys(this.sink.measurements);
    const out = await this.sink.withConnection(async (conn) => {
      const found: { measurement: string; points: number }[] = [];
      for (const m of names) {
        if (!(await tableExists(conn, m))) continue;
        const where = `WHERE time_us < ${Math.floor(cutoff)}`;
        const n = Number((await conn.runAndReadAll(`SELECT count(*)::DOUBLE AS n FROM ${ident(m)} ${where}`)).getRowObjectsJS()[0]?.n ?? 0);
        if (n && !opts.dryRun) await conn.run(`DELETE FROM ${ident(m)} ${where}`);
        found.push({ measurement: m, points: n });
      }
      return found;
    });
    return { dryRun: opts.dryRun, olderThan: opts.olderThan, measurements: out, total: out.reduce((a, b) => a + b.points, 0) };
  }

  async downsample(opts: DownsampleOptions): Promise<{ points: number }> {
    let points = 0;
    for (const [m, schema] of Object.entries(this.sink.measurements)) {
      if (!Object.values(schema.fields).includes('float')) continue;
      const exists = await this.sink.withConnection((conn) => tableExists(conn, m));
      if (!exists) continue;
      points += (await this.inner.downsample(m, { fromUs: opts.since_us, toUs: opts.until_us })).bars;
    }
    return { points };
  }
}
