/**
 * The built-in live console: a node:http server on 127.0.0.1 (config.console) that serves a static
 * page (./static, read relative to this file, so `dist/console/static` must sit beside the compiled
 * server) and pushes the live picture over server-sent events.
 *
 * It reads the bus, not the store, so it works the same with InfluxDB and the embedded store: a bus
 * reader handed in by the caller (`opts.bus`, a {@link ConsoleBus}; `nbpy console` gives it one SUB
 * socket connected to every enabled publisher, data + heartbeats) feeds a ConsoleModel; the
 * services' /health routes are polled each second. The console never builds a bus socket itself:
 * like every module outside bin/ and cli/ it does not import the bus (STYLE.md, "Which way imports
 * go"). What reaches a browser is bounded whatever the record rate: one `points` event per sample
 * interval carrying at most one point per series, and one `state` event per second.
 *
 * Routes: `/` (page), `/static/*`, `/events` (SSE), `/api/state` (JSON snapshot), `/api/series`.
 *
 * Exposure: loopback by default. Bound elsewhere, every route needs the bearer token (env var
 * `console.tokenEnv`, else NBPY_STATUS_TOKEN): an `Authorization: Bearer` header, or the cookie set
 * when a browser opens `/?token=...` once (EventSource cannot send headers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import { UsageError } from '../core/errors.js';
import type { BusRecord } from '../core/records.js';
import { ConsoleModel, type ServiceSpec } from './state.js';

/** Counters of a bus reader, shown under `bus` in /api/state. */
export interface ConsoleBusStats {
  messages_in: number;
  records_in: number;
  decode_errors: number;
}

/**
 * What the console reads the bus through (structural, so the console needs no bus import):
 * `nbpy console` adapts a BusSubscriber to it (src/cli/console.ts, `openConsoleBus`); a test may
 * hand in anything that yields record batches.
 */
export interface ConsoleBus {
  /** Where it reads from (`tcp://127.0.0.1:5558`), reported in /api/state. */
  readonly endpoints: readonly string[];
  /** Decoded record batches in arrival order; ends (or throws) once `close()` was called. */
  batches(): AsyncIterable<BusRecord[]>;
  close(): void | Promise<void>;
  stats(): ConsoleBusStats;
}

export interface ConsoleOptions {
  config: Config;
  /**
   * The bus reader. The console owns it from here on: it closes it in `close()`, and also when
   * `startConsole` fails (port in use, token missing), so a caller never closes it itself.
   */
  bus: ConsoleBus;
  /** Default config.console.host (127.0.0.1). */
  host?: string;
  /** Default config.console.port; 0 = any free port. */
  port?: number;
  /** Chart sample interval: at most one point per series per interval is sent (default 250 ms). */
  sampleIntervalMs?: number;
  /** State (tables) push interval (default 1000 ms). */
  stateIntervalMs?: number;
  /** /health poll interval (default 1000 ms) and per-request timeout (default 1500 ms); 2 misses in a row = STALE. */
  healthIntervalMs?: number;
  /**
   * With no browser connected the services are asked only this often (default 10,000 ms): every ask
   * costs each service an HTTP answer. A browser connecting, or /api/state asked for after more than
   * `healthIntervalMs`, asks at once.
   */
  idleHealthIntervalMs?: number;
  healthTimeoutMs?: number;
  /** No record and no heartbeat for this long = STALE (default 5000 ms). */
  staleAfterMs?: number;
  /** Most chart series tracked (default 256). */
  maxSeries?: number;
  clock?: Clock;
  log?: (msg: string, obj?: Record<string, unknown>) => void;
  /** Where the token (console.tokenEnv, NBPY_STATUS_TOKEN) is read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ConsoleHandle {
  /** `http://127.0.0.1:8081/` */
  url: string;
  port: number;
  /** The current snapshot (what /api/state returns). */
  state(): ConsoleStateBody;
  close(): Promise<void>;
}

export interface ConsoleStats {
  clients: number;
  events_sent: number;
  points_events: number;
  state_events: number;
  points_sent: number;
  sample_ticks: number;
  /** Rounds of /health asks to the services. */
  health_polls: number;
}

export type ConsoleStateBody = ReturnType<ConsoleModel['snapshot']> & {
  bus: { endpoints: string[] } & ConsoleBusStats;
  sse: ConsoleStats;
  config: { sample_interval_ms: number; max_points_per_series: number; stale_after_ms: number; storage: string };
  store_latest: Record<string, unknown>;
};

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Next to this module (src/, tsc's dist/console/), or dist/console/static seen from the bundle in dist/bin/ or dist/bin/chunks/. */
const STATIC_DIR = ['./static/', '../console/static/', '../../console/static/']
  .map((rel) => new URL(rel, import.meta.url))
  .map((u) => fileURLToPath(u))
  .find((d) => existsSync(join(d, 'index.html')))!;
const STATIC_FILES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/static/app.js': 'app.js',
  '/static/style.css': 'style.css',
};
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Where a service's /health answers: loopback unless it binds one specific other address. */
function statusHost(bindHost: string | undefined): string {
  if (!bindHost || bindHost === '0.0.0.0' || bindHost === '::' || bindHost === 'localhost') return '127.0.0.1';
  return bindHost.includes(':') ? `[${bindHost}]` : bindHost;
}

/** The services the console watches, from the config. */
export function servicesFromConfig(config: Config): ServiceSpec[] {
  const out: ServiceSpec[] = [];
  for (const p of config.publishers) {
    if (!p.enabled) continue;
    out.push({ name: p.name, kind: 'publisher', healthUrl: `http://127.0.0.1:${p.statusPort}/health`, topic: p.topic, venue: p.venue });
  }
  for (const s of config.subscribers) {
    if (!s.enabled) continue;
    out.push({ name: s.name, kind: 'subscriber', healthUrl: `http://${statusHost(s.bindHost)}:${s.port}/health` });
  }
  return out;
}

/**
 * Start the console on the bus reader it is given. Resolves once it listens; from then on it
 * consumes `opts.bus`, which it closes on `close()` (or at once if starting fails).
 */
export async function startConsole(opts: ConsoleOptions): Promise<ConsoleHandle> {
  // Closed exactly once, whichever path gets there first.
  let closing: Promise<void> | undefined;
  const closeBus = () => (closing ??= Promise.resolve().then(() => opts.bus.close()));
  try {
    return await serve(opts, closeBus);
  } catch (e) {
    await closeBus();
    throw e;
  }
}

async function serve(opts: ConsoleOptions, closeBus: () => Promise<void>): Promise<ConsoleHandle> {
  const { config, bus } = opts;
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? (() => {});
  const host = opts.host ?? config.console.host;
  const sampleIntervalMs = opts.sampleIntervalMs ?? 250;
  const stateIntervalMs = opts.stateIntervalMs ?? 1000;
  const healthIntervalMs = opts.healthIntervalMs ?? 1000;
  const idleHealthIntervalMs = opts.idleHealthIntervalMs ?? 10_000;
  const healthTimeoutMs = opts.healthTimeoutMs ?? 1500;
  const staleAfterMs = opts.staleAfterMs ?? 5000;
  const env = opts.env ?? process.env;
  const token = env[config.console.tokenEnv] || env.NBPY_STATUS_TOKEN || undefined;
  if (!LOOPBACK.has(host) && !token)
    throw new UsageError(
      `console on ${host} is not loopback: set a bearer token in ${config.console.tokenEnv} (or NBPY_STATUS_TOKEN), or bind 127.0.0.1`,
    );
  // The services' status endpoints need NBPY_STATUS_TOKEN when they are not on loopback.
  const statusAuth: Record<string, string> = env.NBPY_STATUS_TOKEN ? { authorization: `Bearer ${env.NBPY_STATUS_TOKEN}` } : {};
  const services = servicesFromConfig(config);
  const model = new ConsoleModel(services, clock.nowMs(), { staleAfterMs, maxSeries: opts.maxSeries });

  const endpoints = [...bus.endpoints];
  const pump = (async () => {
    for await (const batch of bus.batches()) model.observe(batch, clock.nowMs());
  })().catch((e: Error) => log('bus receive loop ended', { error: e.message }));

  // ---------------------------------------------------------------- SSE clients
  const clients = new Set<ServerResponse>();
  const stats: ConsoleStats = {
    clients: 0,
    events_sent: 0,
    points_events: 0,
    state_events: 0,
    points_sent: 0,
    sample_ticks: 0,
    health_polls: 0,
  };
  const send = (res: ServerResponse, event: string, data: unknown) => {
    // A browser that cannot keep up gets events dropped rather than buffered without bound.
    if (res.writableLength > 4 * 1024 * 1024) return false;
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    stats.events_sent++;
    return true;
  };
  const broadcast = (event: string, data: unknown) => {
    for (const c of clients) send(c, event, data);
  };

  // ---------------------------------------------------------------- health polling
  const storeLatest: Record<string, unknown> = {};
  const noStoreLatest = new Set<string>();
  let polling: Promise<void> | undefined;
  let pollCount = 0;
  let lastPollMs = -Infinity;
  /** Ask every service's /health (and now and then /store/latest); a call during a poll joins it. */
  const pollHealth = (): Promise<void> => (polling ??= pollOnce().finally(() => (polling = undefined)));
  const pollOnce = async () => {
    pollCount++;
    lastPollMs = clock.nowMs();
    stats.health_polls++;
    await Promise.all(
      services.map(async (s) => {
        try {
          const res = await fetch(s.healthUrl, { headers: statusAuth, signal: AbortSignal.timeout(healthTimeoutMs) });
          const body = (await res.json()) as Record<string, unknown>;
          model.serviceHealth(s.name, clock.nowMs(), { body });
        } catch (e) {
          const err = e as Error & { cause?: { code?: string } };
          const why = err.name === 'TimeoutError' ? `no answer within ${healthTimeoutMs} ms` : (err.cause?.code ?? err.message);
          model.serviceHealth(s.name, clock.nowMs(), { error: why });
        }
        // The subscribers' optional `/store/latest` route: newest stored records per measurement.
        if (s.kind === 'subscriber' && !noStoreLatest.has(s.name) && pollCount % 5 === 1) {
          try {
            const res = await fetch(s.healthUrl.replace(/\/health$/, '/store/latest'), {
              headers: statusAuth,
              signal: AbortSignal.timeout(healthTimeoutMs),
            });
            if (res.status === 404) noStoreLatest.add(s.name);
            else if (res.ok) storeLatest[s.name] = await res.json();
          } catch {
            // not answering: /health already says so
          }
        }
      }),
    );
  };
  const healthStale = () => clock.nowMs() - lastPollMs > healthIntervalMs;

  const stateBody = (): ConsoleStateBody => ({
    ...model.snapshot(clock.nowMs()),
    bus: { endpoints, ...bus.stats() },
    sse: { ...stats, clients: clients.size },
    config: {
      sample_interval_ms: sampleIntervalMs,
      max_points_per_series: config.console.maxPointsPerSeries,
      stale_after_ms: staleAfterMs,
      storage: config.storage.backend,
    },
    store_latest: storeLatest,
  });

  const timers = [
    setInterval(() => {
      stats.sample_ticks++;
      const batch = model.flushPoints();
      if (batch.points.length === 0 && batch.defs.length === 0) return;
      stats.points_events++;
      stats.points_sent += batch.points.length;
      broadcast('points', batch);
    }, sampleIntervalMs),
    setInterval(() => {
      model.tick(clock.nowMs());
      if (clients.size === 0) return;
      stats.state_events++;
      broadcast('state', stateBody());
    }, stateIntervalMs),
    setInterval(() => {
      if (clients.size > 0 || clock.nowMs() - lastPollMs >= idleHealthIntervalMs - healthIntervalMs / 2) void pollHealth();
    }, healthIntervalMs),
  ];
  void pollHealth();

  // ---------------------------------------------------------------- HTTP
  // The cookie holds a hash of the token, not the token itself.
  const cookieValue = token ? createHash('sha256').update(`nbpy-console:${token}`).digest('hex') : '';
  const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  const authorised = (req: IncomingMessage, url: URL): 'ok' | 'login' | 'denied' => {
    if (!token) return 'ok';
    if (same(req.headers.authorization ?? '', `Bearer ${token}`)) return 'ok';
    const cookie = /(?:^|;\s*)nbpy_console=([0-9a-f]{64})/.exec(req.headers.cookie ?? '')?.[1];
    if (cookie && same(cookie, cookieValue)) return 'ok';
    const q = url.searchParams.get('token');
    return q !== null && same(q, token) ? 'login' : 'denied';
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const reqUrl = new URL(req.url ?? '/', 'http://localhost');
    const path = reqUrl.pathname;
    const auth = authorised(req, reqUrl);
    if (auth === 'denied') {
      res
        .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' })
        .end('bearer token required (open /?token=... once)\n');
      return;
    }
    if (auth === 'login') {
      // Drop the token from the address bar (and history) at once.
      res.writeHead(303, { location: path, 'set-cookie': `nbpy_console=${cookieValue}; HttpOnly; SameSite=Strict; Path=/` }).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    const file = STATIC_FILES[path];
    if (file) {
      const body = await readFile(STATIC_DIR + file);
      res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' }).end(body);
    } else if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write('retry: 2000\n\n');
      clients.add(res);
      req.on('close', () => clients.delete(res));
      send(res, 'hello', {
        series: model.allSeries(),
        sample_interval_ms: sampleIntervalMs,
        max_points_per_series: config.console.maxPointsPerSeries,
        stale_after_ms: staleAfterMs,
      });
      send(res, 'state', stateBody());
      // Health may be up to idleHealthIntervalMs old: ask now and send the state again.
      if (healthStale())
        void pollHealth().then(() => {
          if (clients.has(res)) send(res, 'state', stateBody());
        });
    } else if (path === '/api/state') {
      if (healthStale()) await pollHealth();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stateBody()));
    } else if (path === '/api/series') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(model.allSeries()));
    } else if (path === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try / or /api/state\n');
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${e.message}\n`);
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          e.code === 'EADDRINUSE'
            ? new UsageError(
                `console port ${host}:${opts.port ?? config.console.port} is in use; set console.port in the config (or --port) to a free port`,
              )
            : e,
        ),
      );
      server.listen(opts.port ?? config.console.port, host, () => resolve());
    });
  } catch (e) {
    for (const t of timers) clearInterval(t);
    await closeBus();
    await pump;
    throw e;
  }
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? config.console.port);
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;

  return {
    url: `http://${urlHost}:${port}/`,
    port,
    state: stateBody,
    close: async () => {
      for (const t of timers) clearInterval(t);
      for (const c of clients) c.end();
      clients.clear();
      await closeBus();
      await pump;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
