/**
 * Generating an `influxd` 1.x config for an nbpy-owned server (tests, the process provider).
 *
 * We start from the binary's own `influxd config` output rather than a template of ours, so every
 * key the installed version knows keeps its default, and only rewrite what must change: the data,
 * meta and WAL directories, the HTTP bind address, the RPC (backup/restore) bind address that
 * defaults to 127.0.0.1:8088 (two servers on one host would fight over it), usage reporting, and the
 * UDP-style listeners (graphite, collectd, opentsdb, udp) which must never open ports we do not own,
 * and the coordinator's write timeout, which must not be shorter than the client's: influxd answers
 * `500 timeout` when it passes, while it goes on applying the write, and the client then sends the
 * same batch again to a server already too busy to finish the first.
 */
import { join } from 'node:path';

export interface InfluxdConfigOptions {
  /** Directory holding meta/, data/ and wal/. */
  dir: string;
  /** HTTP API `host:port`. */
  httpBindAddress: string;
  /** RPC service (backup/restore) `host:port`; must be a port nobody else uses. */
  rpcBindAddress: string;
  /** Turn on HTTP authentication (users must then exist; the first admin can be created anonymously). */
  authEnabled?: boolean;
  /** Quieter logs: HTTP access log and query log off (default true). */
  quiet?: boolean;
  /** Write the monitor's `_internal` database (default false: it costs I/O and disk). */
  monitorStore?: boolean;
  /** `[coordinator] write-timeout`, ms (influxd's default is 10 s); set it above the client's longest write timeout. */
  writeTimeoutMs?: number;
}

const tomlString = (s: string) => JSON.stringify(s);

/**
 * Rewrite `influxd config` output (TOML) for a private server. Pure: text in, text out.
 * Keys are replaced inside their own section only; sections that repeat (`[[graphite]]`) all get
 * `enabled = false`.
 */
export function renderInfluxdConfig(base: string, opts: InfluxdConfigOptions): string {
  const quiet = opts.quiet ?? true;
  const set: Record<string, Record<string, string>> = {
    '': { 'reporting-enabled': 'false', 'bind-address': tomlString(opts.rpcBindAddress) },
    meta: { dir: tomlString(join(opts.dir, 'meta')), 'logging-enabled': String(!quiet) },
    data: {
      dir: tomlString(join(opts.dir, 'data')),
      'wal-dir': tomlString(join(opts.dir, 'wal')),
      'query-log-enabled': String(!quiet),
    },
    monitor: { 'store-enabled': String(opts.monitorStore ?? false) },
    ...(opts.writeTimeoutMs ? { coordinator: { 'write-timeout': tomlString(`${Math.ceil(opts.writeTimeoutMs / 1000)}s`) } } : {}),
    http: {
      enabled: 'true',
      'bind-address': tomlString(opts.httpBindAddress),
      'auth-enabled': String(opts.authEnabled ?? false),
      'log-enabled': String(!quiet),
      'unix-socket-enabled': 'false',
      'pprof-enabled': 'false',
    },
    continuous_queries: { 'log-enabled': String(!quiet) },
    graphite: { enabled: 'false' },
    collectd: { enabled: 'false' },
    opentsdb: { enabled: 'false' },
    udp: { enabled: 'false' },
    ifql: { enabled: 'false' },
  };
  const out: string[] = [];
  let section = '';
  const seen = new Map<string, Set<string>>();
  const flushMissing = () => {
    const want = set[section];
    if (!want) return;
    const got = seen.get(section) ?? new Set<string>();
    for (const [k, v] of Object.entries(want)) if (!got.has(k)) out.push(`  ${k} = ${v}`);
  };
  for (const line of base.split('\n')) {
    const header = /^\s*\[\[?([A-Za-z0-9_.-]+)\]\]?\s*$/.exec(line);
    if (header) {
      flushMissing();
      section = header[1]!;
      seen.set(section, new Set());
      out.push(line);
      continue;
    }
    const kv = /^(\s*)([A-Za-z0-9_-]+)\s*=/.exec(line);
    const want = set[section];
    if (kv && want && want[kv[2]!] !== undefined) {
      const key = kv[2]!;
      if (!seen.has(section)) seen.set(section, new Set());
      seen.get(section)!.add(key);
      out.push(`${kv[1]}${key} = ${want[key]}`);
      continue;
    }
    out.push(line);
  }
  flushMissing();
  return out.join('\n');
}
