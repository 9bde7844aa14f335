/**
 * The status endpoint every nbpy process serves on its status port: `/metrics` (Prometheus text,
 * prom-client) and `/health` (JSON). Loopback by default; when bound elsewhere a bearer token is
 * required (set through the env var the config names).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface HealthReport {
  service: string;
  kind: string;
  /** The process is ready for work (socket bound, venue connected or store reachable). */
  ready: boolean;
  status: 'ok' | 'degraded' | 'down';
  /** Process-specific numbers (the same as the metrics, for people and scripts). */
  [key: string]: unknown;
}

export interface StatusServer {
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
/** A peer address on this host (IPv4 loopback, IPv6 loopback, IPv4-mapped loopback). */
const LOOPBACK_PEER = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

export async function startStatusServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  health: () => HealthReport | Promise<HealthReport>;
  /** Required for non-loopback binds. */
  token?: string;
  /** More JSON routes (`/store/stats` -> handler); a handler's error becomes a 500 with its message. */
  routes?: Record<string, (url: URL) => Promise<unknown>>;
}): Promise<StatusServer> {
  if (!LOOPBACK.has(opts.host) && !opts.token)
    throw new Error(
      `status endpoint on ${opts.host}:${opts.port} is not loopback: set a bearer token (NBPY_STATUS_TOKEN) or bind 127.0.0.1`,
    );
  // The token guards the endpoint from other hosts. Clients on this host (nbpy's own probes, the
  // console, `nbpy status`) are exempt: they could read the same numbers from the process anyway.
  const expected = opts.token && !LOOPBACK.has(opts.host) ? Buffer.from(`Bearer ${opts.token}`) : undefined;
  const authorised = (req: IncomingMessage) => {
    if (!expected) return true;
    if (LOOPBACK_PEER.test(req.socket.remoteAddress ?? '')) return true;
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!authorised(req)) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('bearer token required\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      const body = await opts.registry.metrics();
      res.writeHead(200, { 'content-type': opts.registry.contentType }).end(body);
    } else if (path === '/health' || path === '/status') {
      const h = await opts.health();
      res.writeHead(h.status === 'down' ? 503 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(h));
    } else if (path && opts.routes?.[path]) {
      const body = await opts.routes[path]!(new URL(req.url ?? '/', 'http://localhost'));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics or /health\n');
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${e.message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(e.code === 'EADDRINUSE' ? `status port ${opts.host}:${opts.port} is in use; pick a free port in the config` : e.message),
      ),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : opts.port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        // Idle keep-alive connections are closed at once; one still busy gets a second, then it is cut.
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}

/** A registry with process metrics and the `service` label on everything. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * A Prometheus counter that mirrors a monotonically growing number kept elsewhere (a stats object):
 * read at scrape time, so hot paths only bump plain numbers.
 */
export function mirrorCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | Record<string, number>,
  labelName = 'reason',
  /** Label values shown at 0 before anything is counted, so every series exists from the start. */
  knownLabels: readonly string[] = [],
): void {
  const seen = new Map<string, number>();
  const labelled = typeof read() !== 'number';
  new Counter({
    name,
    help,
    labelNames: labelled ? [labelName] : [],
    registers: [registry],
    collect() {
      const v = read();
      if (typeof v === 'number') {
        this.inc(Math.max(0, v - (seen.get('') ?? 0)));
        seen.set('', Math.max(v, seen.get('') ?? 0));
        return;
      }
      for (const label of knownLabels) if (!seen.has(label)) this.inc({ [labelName]: label }, 0);
      for (const [label, value] of Object.entries(v)) {
        const prev = seen.get(label) ?? 0;
        if (value > prev || !seen.has(label)) {
          this.inc({ [labelName]: label }, Math.max(0, value - prev));
          seen.set(label, Math.max(value, prev));
        }
      }
    },
  });
}

/** A gauge read at scrape time. */
export function mirrorGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

export { Histogram, Registry };
