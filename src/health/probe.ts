/**
 * Health probe (I/O): gathers {@link Observations} from the running system, then evaluate.ts judges
 * them. Every network call has a short timeout and runs in parallel, so a hung service (SIGSTOP)
 * costs one timeout, not one per check.
 *
 * Sources: InfluxDB /ping and a query round trip; Grafana /api/health; `docker compose ps` when a
 * backing service uses the docker provider; the service manager's run directory
 * (given by the CLI from supervisor/state.ts readStatus); a TCP connect to each publisher's PUB port; GET /health on every
 * status port; the newest point per measurement and series over a SHORT range (InfluxDB query, or the
 * subscribers' `/store/newest` route with the embedded store); free disk under dataDir. The bus sample
 * (records seen per topic) is taken by the caller and passed in as `busAgesMs` (health does not
 * import the bus; the CLI wires it).
 */
import { execFile } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { summarise, type HealthResult } from './checks.js';
import {
  enabledServices,
  evaluate,
  storedMeasurements,
  type HttpObservation,
  type Observations,
  type ProcessObservation,
  type ServiceObservation,
  type StoreObservation,
} from './evaluate.js';

export interface ProbeOptions {
  /** Per-request timeout, ms (default 2000). */
  timeoutMs?: number;
  /** Newest data record age per topic from a bus sample, ms (null: none seen in the sample). */
  busAgesMs?: Record<string, number | null>;
  /** Previous spool sizes (monitor mode). */
  previousSpoolBytes?: Record<string, number>;
  windowUptimePct?: Record<string, number | null>;
  windowText?: string;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** Run `docker compose ps` (default: when a backing service uses the docker provider). */
  docker?: boolean;
  /**
   * What the service manager says: its pid while it runs, and each service process by name (the CLI
   * reads its status files, supervisor/state.ts; this layer does not). Absent or null: nothing known.
   */
  manager?: (nowMs: number) => ManagerView | null;
}

export interface ManagerView {
  supervisorPid: number | null;
  processes: ReadonlyMap<string, ProcessObservation>;
}

/** GET a URL and parse JSON when it is JSON. */
export async function httpGet(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<HttpObservation> {
  const t0 = performance.now();
  try {
    const r = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    const text = await r.text();
    const ms = Math.round(performance.now() - t0);
    let body: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
    } catch {
      // not JSON
    }
    // /health answers 503 with a JSON body when the service is down: still an answer.
    const ok = r.status < 400 || (r.status === 503 && body !== undefined);
    return {
      ok,
      status: r.status,
      ms,
      ...(body ? { body } : {}),
      ...(ok ? {} : { error: `HTTP ${r.status}: ${text.slice(0, 200).trim()}` }),
    };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    const what =
      err.name === 'TimeoutError' || err.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.message);
    return { ok: false, error: what };
  }
}

/** Does host:port accept a TCP connection within the timeout? */
export function tcpAccepts(host: string, port: number, timeoutMs: number): Promise<{ accepting: boolean; error?: string }> {
  return new Promise((resolveP) => {
    const sock = connect({ host, port });
    const done = (r: { accepting: boolean; error?: string }) => {
      clearTimeout(timer);
      sock.destroy();
      resolveP(r);
    };
    const timer = setTimeout(() => done({ accepting: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    sock.once('connect', () => done({ accepting: true }));
    sock.once('error', (e: NodeJS.ErrnoException) => done({ accepting: false, error: e.code ?? e.message }));
  });
}

/** Basic auth header from the credential env var names of backing.influxdb (values never logged). */
function influxHeaders(config: Config, env: NodeJS.ProcessEnv): Record<string, string> {
  const c = config.backing.influxdb.credentials;
  const user = c.usernameEnv ? env[c.usernameEnv] : undefined;
  if (!user) return {};
  const password = (c.passwordEnv ? env[c.passwordEnv] : undefined) ?? '';
  return { authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') };
}

const q = (name: string) => '"' + name.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';

interface InfluxResult {
  series?: { name?: string; tags?: Record<string, string>; columns: string[]; values?: unknown[][] }[];
  error?: string;
}

/** Run several InfluxQL statements in one GET; returns one result per statement. */
export async function influxQuery(
  config: Config,
  statements: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
): Promise<InfluxResult[]> {
  const base = config.backing.influxdb.url.replace(/\/+$/, '');
  const params = new URLSearchParams({ q: statements.join(';'), db: config.influxdb.database, epoch: 'u' });
  const r = await fetch(`${base}/query?${params}`, { headers: influxHeaders(config, env), signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${text.slice(0, 200).trim()}`);
  const body = JSON.parse(text) as { results?: InfluxResult[]; error?: string };
  if (body.error) throw new Error(body.error);
  return body.results ?? [];
}

/** Field used to find a measurement's newest point: `seq` when the schema has it (every record has one). */
function probeField(config: Config, measurement: string): string | undefined {
  const schema = config.influxdb.measurements[measurement];
  if (!schema) return undefined;
  return 'seq' in schema.fields ? 'seq' : Object.keys(schema.fields)[0];
}

/**
 * Newest point per measurement and series, and points in the last `rateWindowS`, from InfluxDB,
 * over a short look-back range only (never a scan of all history).
 */
export async function influxFreshness(
  config: Config,
  opts: { lookbackS: number; rateWindowS: number; timeoutMs: number; env: NodeJS.ProcessEnv },
): Promise<StoreObservation[]> {
  const measures = storedMeasurements(config);
  const statements: string[] = [];
  const plan: { measurement: string; field: string | undefined }[] = [];
  for (const m of measures) {
    const field = probeField(config, m.measurement);
    plan.push({ measurement: m.measurement, field });
    if (!field) continue;
    const from = `${q(config.influxdb.database)}.${q(m.retentionPolicy)}.${q(m.measurement)}`;
    const tags = config.influxdb.measurements[m.measurement]?.tags ?? [];
    const groupBy = tags.length ? ` GROUP BY ${tags.map(q).join(',')}` : '';
    statements.push(`SELECT last(${q(field)}) FROM ${from} WHERE time > now() - ${opts.lookbackS}s${groupBy}`);
    statements.push(`SELECT count(${q(field)}) FROM ${from} WHERE time > now() - ${opts.rateWindowS}s`);
  }
  const results = statements.length ? await influxQuery(config, statements, opts.timeoutMs, opts.env) : [];
  const out: StoreObservation[] = [];
  let i = 0;
  for (const p of plan) {
    if (!p.field) {
      out.push({
        measurement: p.measurement,
        newestUs: null,
        recentPoints: null,
        rateWindowS: opts.rateWindowS,
        error: 'no schema in influxdb.measurements',
      });
      continue;
    }
    const last = results[i++];
    const count = results[i++];
    const err = last?.error ?? count?.error;
    if (err) {
      out.push({ measurement: p.measurement, newestUs: null, recentPoints: null, rateWindowS: opts.rateWindowS, error: err });
      continue;
    }
    const series: Record<string, number> = {};
    let newest: number | null = null;
    for (const s of last?.series ?? []) {
      const t = s.values?.[0]?.[0];
      if (typeof t !== 'number') continue;
      const label =
        Object.values(s.tags ?? {})
          .filter(Boolean)
          .join(':') || p.measurement;
      series[label] = t;
      if (newest === null || t > newest) newest = t;
    }
    const n = count?.series?.[0]?.values?.[0]?.[1];
    out.push({
      measurement: p.measurement,
      newestUs: newest,
      recentPoints: typeof n === 'number' ? n : 0,
      rateWindowS: opts.rateWindowS,
      series,
    });
  }
  return out;
}

/**
 * The embedded store lives inside the subscriber processes (one DuckDB file, one writer), so its
 * freshness is asked through each subscriber's status port: GET /store/newest?window_s=N answers
 * `{measurements:[{measurement, points_last_window, newest_us, series?: {label: newest_us}}]}`
 * (src/storage/reader.ts; `points` is accepted too).
 */
export async function embeddedFreshness(config: Config, opts: { rateWindowS: number; timeoutMs: number }): Promise<StoreObservation[]> {
  const { subscribers } = enabledServices(config);
  const wanted = new Set(storedMeasurements(config).map((m) => m.measurement));
  const found = new Map<string, StoreObservation>();
  const answers = await Promise.all(
    subscribers.map((s) => httpGet(`http://${s.bindHost}:${s.port}/store/newest?window_s=${opts.rateWindowS}`, opts.timeoutMs)),
  );
  const errors = new Map<string, string>();
  answers.forEach((a, idx) => {
    if (!a.ok || !Array.isArray(a.body?.measurements)) {
      errors.set(subscribers[idx]!.name, `subscriber ${subscribers[idx]!.name} /store/newest: ${a.error ?? 'gave no measurements'}`);
      return;
    }
    for (const m of a.body.measurements as {
      measurement?: unknown;
      points?: unknown;
      points_last_window?: unknown;
      newest_us?: unknown;
      series?: unknown;
    }[]) {
      const points = typeof m.points_last_window === 'number' ? m.points_last_window : m.points;
      if (typeof m.measurement !== 'string' || !wanted.has(m.measurement)) continue;
      const prev = found.get(m.measurement);
      const newest = typeof m.newest_us === 'number' ? m.newest_us : null;
      if (prev && (prev.newestUs ?? 0) >= (newest ?? 0)) continue;
      found.set(m.measurement, {
        measurement: m.measurement,
        newestUs: newest,
        recentPoints: typeof points === 'number' ? points : null,
        rateWindowS: opts.rateWindowS,
        ...(m.series && typeof m.series === 'object' ? { series: m.series as Record<string, number> } : {}),
      });
    }
  });
  return storedMeasurements(config).map(
    (m) =>
      found.get(m.measurement) ?? {
        measurement: m.measurement,
        newestUs: null,
        recentPoints: null,
        rateWindowS: opts.rateWindowS,
        ...(errors.has(m.subscriber) ? { error: errors.get(m.subscriber)! } : {}),
      },
  );
}

/** `docker compose ps --format json` (a JSON array, or one object per line in newer versions). */
export function dockerComposePs(
  timeoutMs: number,
): Promise<{ available: boolean; error?: string; containers: { service: string; state: string; health: string }[] }> {
  return new Promise((resolveP) => {
    execFile('docker', ['compose', 'ps', '--all', '--format', 'json'], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        resolveP({
          available: false,
          error: code === 'ENOENT' ? 'docker is not installed (or not on PATH)' : `${stderr.trim().split('\n')[0] || err.message}`,
          containers: [],
        });
        return;
      }
      const text = stdout.trim();
      let items: Record<string, unknown>[] = [];
      try {
        items = text.startsWith('[')
          ? (JSON.parse(text) as Record<string, unknown>[])
          : text
            ? text.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
            : [];
      } catch (e) {
        resolveP({ available: false, error: `unreadable docker compose output: ${(e as Error).message}`, containers: [] });
        return;
      }
      resolveP({
        available: true,
        containers: items.map((c) => ({ service: String(c.Service ?? ''), state: String(c.State ?? ''), health: String(c.Health ?? '') })),
      });
    });
  });
}

/** Free space of the file system holding `path` (or its nearest existing parent). */
export function diskFree(path: string): { path: string; freeBytes: number; totalBytes: number } | { path: string; error: string } {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  try {
    const s = statfsSync(p);
    return { path, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  } catch (e) {
    return { path, error: (e as Error).message };
  }
}

/** Gather every observation. */
export async function gather(config: Config, opts: ProbeOptions = {}): Promise<Observations> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const env = opts.env ?? process.env;
  const now = opts.now ?? Date.now;
  const { publishers, subscribers } = enabledServices(config);

  const run = opts.manager?.(now()) ?? null;
  const proc = (name: string): ServiceObservation['process'] => run?.processes.get(name) ?? null;

  const pubObs = publishers.map(async (p): Promise<ServiceObservation> => {
    const url = `http://127.0.0.1:${p.statusPort}/health`;
    const [status, zmq] = await Promise.all([httpGet(url, timeoutMs), tcpAccepts(p.connectHost, p.port, timeoutMs)]);
    return {
      name: p.name,
      kind: 'publisher',
      process: proc(p.name),
      zmqPort: { endpoint: `tcp://${p.connectHost}:${p.port}`, ...zmq },
      status: { ...status, url },
    };
  });
  const subObs = subscribers.map(async (s): Promise<ServiceObservation> => {
    const url = `http://${s.bindHost === '0.0.0.0' ? '127.0.0.1' : s.bindHost}:${s.port}/health`;
    return { name: s.name, kind: 'subscriber', process: proc(s.name), status: { ...(await httpGet(url, timeoutMs)), url } };
  });

  const influxBacked = config.storage.backend === 'influxdb';
  const influxUrl = config.backing.influxdb.url.replace(/\/+$/, '');
  const influxP = influxBacked
    ? (async () => {
        const ping = await httpGet(`${influxUrl}${config.backing.influxdb.healthPath}`, timeoutMs, influxHeaders(config, env));
        if (!ping.ok) return { url: influxUrl, ping };
        const t0 = performance.now();
        try {
          const res = await influxQuery(config, ['SHOW DATABASES'], timeoutMs, env);
          const names = (res[0]?.series?.[0]?.values ?? []).map((v) => v[0]);
          return {
            url: influxUrl,
            ping,
            query: { ok: true, ms: Math.round(performance.now() - t0), databaseExists: names.includes(config.influxdb.database) },
          };
        } catch (e) {
          return { url: influxUrl, ping, query: { ok: false, error: (e as Error).message } };
        }
      })()
    : undefined;
  const g = config.backing.grafana;
  const grafanaP = g.enabled
    ? httpGet(`${g.url.replace(/\/+$/, '')}${g.healthPath}`, timeoutMs).then((health) => ({ url: g.url, health }))
    : undefined;
  const wantedContainers = [
    ...(influxBacked && config.backing.influxdb.provider === 'docker' ? [config.backing.influxdb.composeService] : []),
    ...(g.enabled && g.provider === 'docker' ? [g.composeService] : []),
  ];
  const dockerP =
    (opts.docker ?? wantedContainers.length > 0)
      ? dockerComposePs(Math.max(timeoutMs, 5000)).then((d) => ({ ...d, wanted: wantedContainers }))
      : undefined;

  const rateWindowS = 60;
  const lookbackS = Math.max(2 * config.validation.maxNewestAgeS, 300);
  const storeP: Promise<{ store: StoreObservation[]; error?: string }> = (async () => {
    try {
      if (influxBacked)
        return { store: await influxFreshness(config, { lookbackS, rateWindowS, timeoutMs: Math.max(timeoutMs, 5000), env }) };
      return { store: await embeddedFreshness(config, { rateWindowS, timeoutMs }) };
    } catch (e) {
      return { store: [], error: (e as Error).message };
    }
  })();

  const [services, influx, grafana, docker, store] = await Promise.all([
    Promise.all([...pubObs, ...subObs]),
    influxP,
    grafanaP,
    dockerP,
    storeP,
  ]);
  const nowMs = now();

  // Newest record per topic: the freshest of the bus sample and the subscribers' own view.
  const topicAgesMs: Record<string, number | null> = {};
  const betfairStatuses: Record<string, string[]> = {};
  for (const p of publishers) {
    const ages: number[] = [];
    const bus = opts.busAgesMs?.[p.topic];
    if (typeof bus === 'number') ages.push(bus);
    for (const s of services) {
      if (s.kind !== 'subscriber' || !s.status.ok) continue;
      const t = (s.status.body?.topics as Record<string, { last_record_age_ms?: unknown }> | undefined)?.[p.topic];
      if (t && typeof t.last_record_age_ms === 'number' && t.last_record_age_ms >= 0) ages.push(t.last_record_age_ms);
    }
    const pub = services.find((s) => s.kind === 'publisher' && s.name === p.name);
    // No subscriber covers the topic and no bus sample: the publisher's own last-message age is the best evidence.
    if (ages.length === 0 && pub?.status.ok) {
      const a = pub.status.body?.last_message_age_ms;
      if (typeof a === 'number' && a >= 0) ages.push(a);
    }
    topicAgesMs[p.topic] = ages.length ? Math.min(...ages) : null;
    const ms = pub?.status.body?.market_statuses;
    if (Array.isArray(ms)) betfairStatuses[p.topic] = ms.filter((x): x is string => typeof x === 'string');
  }

  return {
    nowMs,
    supervisor: run ? { running: run.supervisorPid !== null, ...(run.supervisorPid !== null ? { pid: run.supervisorPid } : {}) } : null,
    ...(influx ? { influx } : {}),
    ...(grafana ? { grafana } : {}),
    ...(docker ? { docker } : {}),
    services,
    topicAgesMs,
    betfairStatuses,
    store: store.store,
    ...(store.error ? { storeError: store.error } : {}),
    disk: diskFree(config.dataDir),
    ...(opts.previousSpoolBytes ? { previousSpoolBytes: opts.previousSpoolBytes } : {}),
    ...(opts.windowUptimePct ? { windowUptimePct: opts.windowUptimePct } : {}),
    ...(opts.windowText ? { windowText: opts.windowText } : {}),
  };
}

/** One health check: gather, evaluate, summarise. Returns the observations too (the monitor keeps some). */
export async function runHealthCheck(config: Config, opts: ProbeOptions = {}): Promise<HealthResult & { observations: Observations }> {
  const obs = await gather(config, opts);
  return { ...summarise(evaluate(obs, config), obs.nowMs), observations: obs };
}
