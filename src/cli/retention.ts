/**
 * `nbpy retention create|list|stats|cleanup|downsample` against config.storage.backend:
 * influxdb -> InfluxAdmin; embedded -> the RetentionAdmin of each subscriber's DuckDB file
 * (`<dataDir>/embedded/<subscriber>.duckdb`). A file a running subscriber holds (DuckDB: one writer
 * per file) is read through that subscriber's `/store/stats` route; other commands say which
 * subscriber holds it.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { NbpyError } from '../core/errors.js';
import { UsageError } from '../core/errors.js';
import type { RetentionAdmin } from '../storage/admin.js';
import { InfluxClient, credentialsFromEnv } from '../storage/influx/client.js';
import { InfluxAdmin } from '../storage/influx/admin.js';
import { EmbeddedSink } from '../storage/embedded/store.js';
import { EmbeddedRetention } from '../storage/embedded/retention.js';
import { embeddedFileFor } from './subscriber.js';
import { loadFromCommand, printJson, table, wantsJson } from './common.js';

interface Target {
  /** 'influxdb' or the subscriber whose file it is. */
  name: string;
  /** Null when the file is held by a running subscriber. */
  admin: RetentionAdmin | null;
  heldBy?: { subscriber: string; port: number; file: string };
  close(): Promise<void>;
}

async function targets(cfg: Config, opts: { create: boolean }): Promise<Target[]> {
  if (cfg.storage.backend === 'influxdb') {
    const client = new InfluxClient({
      url: cfg.backing.influxdb.url,
      credentials: credentialsFromEnv(cfg.backing.influxdb.credentials),
      requestTimeoutMs: cfg.influxdb.requestTimeoutMs,
    });
    return [{ name: 'influxdb', admin: new InfluxAdmin({ client, influxdb: cfg.influxdb }), close: async () => {} }];
  }
  const out: Target[] = [];
  for (const s of cfg.subscribers.filter((x) => x.enabled)) {
    const file = embeddedFileFor(cfg, s.name);
    if (!opts.create && !existsSync(file)) continue;
    const sink = new EmbeddedSink({
      path: file,
      measurements: cfg.influxdb.measurements,
      retentionPolicies: cfg.influxdb.retentionPolicies,
    });
    try {
      await sink.open();
      out.push({ name: s.name, admin: new EmbeddedRetention(sink, cfg.influxdb.retentionPolicies), close: () => sink.close() });
    } catch (e) {
      if ((e as NbpyError).code !== 'E_STORE_LOCKED') throw e;
      out.push({ name: s.name, admin: null, heldBy: { subscriber: s.name, port: s.port, file }, close: async () => {} });
    }
  }
  return out;
}

const held = (t: Target) =>
  `${t.heldBy!.file} is held by the running subscriber ${t.heldBy!.subscriber} (status port ${t.heldBy!.port}); stop it to run this, or read it through http://127.0.0.1:${t.heldBy!.port}/store/stats`;

async function each<T>(
  cmd: Command,
  create: boolean,
  fn: (admin: RetentionAdmin, t: Target) => Promise<T>,
): Promise<{ store: string; result?: T; error?: string }[]> {
  const { config } = loadFromCommand(cmd);
  const ts = await targets(config, { create });
  if (ts.length === 0)
    throw new UsageError('no store to work on: no subscriber has written an embedded file yet (run the stack or `nbpy retention create`)');
  const out: { store: string; result?: T; error?: string }[] = [];
  for (const t of ts) {
    try {
      if (!t.admin) out.push({ store: t.name, error: held(t) });
      else out.push({ store: t.name, result: await fn(t.admin, t) });
    } finally {
      await t.close();
    }
  }
  if (out.some((o) => o.error)) process.exitCode = 1;
  return out;
}

function durationUs(text: string): number {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(text);
  if (!m) throw new UsageError(`expected a duration such as 30m, 12h or 7d, got "${text}"`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's']! * 1e6;
}

function timeUs(text: string, nowUs: number): number {
  if (/^\d+[smhdw]$/.test(text)) return nowUs - durationUs(text);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`expected a time (RFC 3339) or an age such as 1h, got "${text}"`);
  return t * 1000;
}

export function registerRetention(program: Command): void {
  const r = program
    .command('retention')
    .description('retention policies, store statistics, cleanup and downsampling (InfluxDB or the embedded store)');
  r.command('create')
    .description('create the database and the configured retention policies; idempotent (a changed duration is applied with ALTER)')
    .option('--json', 'print as JSON')
    .action(async (_o, cmd: Command) => {
      const res = await each(cmd, true, (a) => a.create());
      if (wantsJson(cmd)) return printJson(res);
      for (const x of res) {
        if (x.error) console.error(`${x.store}: ${x.error}`);
        else console.log(`${x.store}: ${x.result!.changed.length ? x.result!.changed.join('; ') : 'no changes'}`);
      }
    });
  r.command('list')
    .description('the retention policies with durations, shard durations and the default flag')
    .option('--json', 'print as JSON')
    .action(async (_o, cmd: Command) => {
      const res = await each(cmd, false, (a) => a.list());
      if (wantsJson(cmd)) return printJson(res);
      for (const x of res) {
        console.log(`== ${x.store}`);
        console.log(
          x.error ??
            table(x.result!.map((p) => ({ name: p.name, duration: p.duration, shard_duration: p.shardDuration, default: p.default }))),
        );
      }
    });
  r.command('stats')
    .description('points and series per measurement, first/last times, points in the last minute, disk per policy')
    .option('--json', 'print as JSON')
    .action(async (_o, cmd: Command) => {
      const { config } = loadFromCommand(cmd);
      const res = await each(cmd, false, (a) => a.stats());
      // A held file is read through its subscriber's /store/stats route.
      for (const x of res) {
        if (!x.error) continue;
        const s = config.subscribers.find((y) => y.name === x.store);
        if (!s) continue;
        try {
          const body = await fetch(`http://127.0.0.1:${s.port}/store/stats`, { signal: AbortSignal.timeout(10_000) });
          if (body.ok) {
            x.result = (await body.json()) as never;
            delete x.error;
          }
        } catch {
          // keep the error saying who holds it
        }
      }
      process.exitCode = res.some((x) => x.error) ? 1 : 0;
      if (wantsJson(cmd)) return printJson(res);
      for (const x of res) {
        console.log(`== ${x.store}`);
        if (x.error) console.log(x.error);
        else {
          console.log(table(x.result!.measurements as unknown as Record<string, unknown>[]));
          if (x.result!.disk.length) console.log(table(x.result!.disk as unknown as Record<string, unknown>[]));
        }
      }
    });
  r.command('cleanup')
    .description('delete points older than an age (all measurements or one)')
    .requiredOption('--older-than <age>', 'age such as 7d or 12h')
    .option('--measurement <name>', 'only this measurement')
    .option('--dry-run', 'count only; delete nothing')
    .option('--json', 'print as JSON')
    .action(async (o: { olderThan: string; measurement?: string; dryRun?: boolean }, cmd: Command) => {
      durationUs(o.olderThan);
      const res = await each(cmd, false, (a) =>
        a.cleanup({ olderThan: o.olderThan, measurement: o.measurement, dryRun: o.dryRun === true }),
      );
      if (wantsJson(cmd)) return printJson(res);
      for (const x of res) {
        if (x.error) console.error(`${x.store}: ${x.error}`);
        else
          console.log(
            `${x.store}: ${x.result!.dryRun ? 'would delete' : 'deleted'} ${x.result!.total} points older than ${o.olderThan}` +
              (x.result!.measurements.length ? `\n${table(x.result!.measurements as unknown as Record<string, unknown>[])}` : ''),
          );
      }
    });
  r.command('downsample')
    .description('write 1-minute bars of the window into long_term (re-running a window overwrites it; re-covers late data)')
    .option('--since <time>', 'window start: RFC 3339 time or an age such as 1h (default 1h)', '1h')
    .option('--until <time>', 'window end: RFC 3339 time or an age (default now)')
    .option('--json', 'print as JSON')
    .action(async (o: { since: string; until?: string }, cmd: Command) => {
      const now = Date.now() * 1000;
      const since_us = timeUs(o.since, now);
      const until_us = o.until ? timeUs(o.until, now) : now;
      if (until_us <= since_us) throw new UsageError(`--until must be after --since`);
      const res = await each(cmd, false, (a) => a.downsample({ since_us, until_us }));
      if (wantsJson(cmd)) return printJson(res);
      for (const x of res) console.log(x.error ? `${x.store}: ${x.error}` : `${x.store}: ${x.result!.points} bars written`);
    });
}
