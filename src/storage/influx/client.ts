/**
 * A small HTTP client for the InfluxDB 1.x API: /ping, /query, /write. Every request has a
 * timeout; failures become NbpyErrors that say whether retrying can help. Credentials go in a
 * Basic Authorization header and are never put in a message or a log line.
 */
import { gzip as gzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import { NbpyError } from '../../core/errors.js';
import { AdaptiveTimeout } from '../adaptive-timeout.js';

const gzip = promisify(gzipCb);

export interface InfluxCredentials {
  username?: string;
  password?: string;
}

/** Read credentials from the environment variables named in the config (values never logged). */
export function credentialsFromEnv(
  names: { usernameEnv?: string | undefined; passwordEnv?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): InfluxCredentials {
  const username = names.usernameEnv ? env[names.usernameEnv] : undefined;
  const password = names.passwordEnv ? env[names.passwordEnv] : undefined;
  return username ? { username, password: password ?? '' } : {};
}

export interface InfluxClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8086. */
  url: string;
  credentials?: InfluxCredentials;
  /** Per-request timeout (config `influxdb.requestTimeoutMs`). */
  requestTimeoutMs?: number;
  /** gzip write bodies (config `subscribers[].gzip`). */
  gzip?: boolean;
  /** gzip level: 1 is several times faster than the default and still shrinks lines ~5x. */
  gzipLevel?: number;
}

/** An HTTP answer InfluxDB gave with an error status. */
export class InfluxHttpError extends NbpyError {
  constructor(
    code: string,
    message: string,
    retriable: boolean,
    readonly status: number,
    /** The `error` text of InfluxDB's JSON answer (or the raw body). */
    readonly body: string,
  ) {
    super(code, message, retriable);
    this.name = 'InfluxHttpError';
  }
}

export interface QueryOptions {
  db?: string;
  /** Time format of results: 'u' gives integer µs. */
  epoch?: 'ns' | 'u' | 'ms' | 's';
  /** POST for statements that change things (CREATE, DROP, SELECT INTO, DELETE, ALTER). */
  method?: 'GET' | 'POST';
  timeoutMs?: number;
}

export interface InfluxSeries {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}
export interface InfluxStatementResult {
  statement_id: number;
  series?: InfluxSeries[];
  error?: string;
}

export interface WriteOptions {
  db: string;
  rp?: string;
  precision?: 'ns' | 'u' | 'ms' | 's';
}

const READ_ONLY_RE = /^\s*(SELECT(?![\s\S]*\bINTO\b)|SHOW)\b/i;

export class InfluxClient {
  readonly url: string;
  private readonly auth: string | undefined;
  private readonly timeoutMs: number;
  private readonly writeTimeout: AdaptiveTimeout;
  private readonly gzip: boolean;
  private readonly gzipLevel: number;

  constructor(opts: InfluxClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    const c = opts.credentials;
    this.auth = c?.username ? 'Basic ' + Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64') : undefined;
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.writeTimeout = new AdaptiveTimeout(this.timeoutMs);
    this.gzip = opts.gzip ?? true;
    this.gzipLevel = opts.gzipLevel ?? 1;
  }

  private async request(
    path: string,
    init: RequestInit,
    timeoutMs = this.timeoutMs,
  ): Promise<{ status: number; text: string; headers: Headers }> {
    const headers = new Headers(init.headers);
    if (this.auth) headers.set('authorization', this.auth);
    let res: Response;
    try {
      res = await fetch(this.url + path, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      if (err.name === 'TimeoutError' || err.name === 'AbortError')
        throw new NbpyError(
          'E_INFLUX_TIMEOUT',
          `InfluxDB at ${this.url} did not answer ${path.split('?')[0]} within ${timeoutMs} ms`,
          true,
        );
      const code = err.cause?.code ?? err.message;
      throw new NbpyError('E_INFLUX_UNREACHABLE', `InfluxDB at ${this.url} is unreachable (${code}); is influxd running?`, true);
    }
    let text: string;
    try {
      text = await res.text();
    } catch {
      throw new NbpyError('E_INFLUX_UNREACHABLE', `InfluxDB at ${this.url} dropped the connection mid-answer`, true);
    }
    return { status: res.status, text, headers: res.headers };
  }

  private httpError(what: string, status: number, text: string): InfluxHttpError {
    let msg = text;
    try {
      msg = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON
    }
    if (status === 401 || status === 403)
      return new InfluxHttpError(
        'E_INFLUX_AUTH',
        `InfluxDB at ${this.url} refused ${what} (${status}: ${msg}); check the user/password environment variables named in backing.influxdb.credentials`,
        false,
        status,
        msg,
      );
    const retriable = status >= 500 || status === 408 || status === 429;
    return new InfluxHttpError(
      retriable ? 'E_INFLUX_SERVER' : 'E_INFLUX_REQUEST',
      `InfluxDB ${what} failed (${status}): ${msg}`,
      retriable,
      status,
      msg,
    );
  }

  /** GET /ping. Returns the server version. */
  async ping(timeoutMs?: number): Promise<{ version: string }> {
    const r = await this.request('/ping', { method: 'GET' }, timeoutMs);
    if (r.status !== 204 && r.status !== 200) throw this.httpError('ping', r.status, r.text);
    return { version: r.headers.get('x-influxdb-version') ?? 'unknown' };
  }

  /** Run InfluxQL. Throws when the HTTP call or any statement fails. */
  async query(q: string, opts: QueryOptions = {}): Promise<InfluxStatementResult[]> {
    const params = new URLSearchParams({ q });
    if (opts.db) params.set('db', opts.db);
    if (opts.epoch) params.set('epoch', opts.epoch);
    const method = opts.method ?? (READ_ONLY_RE.test(q) ? 'GET' : 'POST');
    const r =
      method === 'GET'
        ? await this.request(`/query?${params}`, { method: 'GET' }, opts.timeoutMs)
        : await this.request(
            '/query',
            { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: params.toString() },
            opts.timeoutMs,
          );
    if (r.status !== 200) throw this.httpError(`query ${JSON.stringify(q.slice(0, 120))}`, r.status, r.text);
    const body = JSON.parse(r.text) as { results?: InfluxStatementResult[]; error?: string };
    if (body.error) throw new InfluxHttpError('E_INFLUX_QUERY', `InfluxDB query failed: ${body.error}`, false, r.status, body.error);
    const results = body.results ?? [];
    const failed = results.find((x) => x.error);
    if (failed)
      throw new InfluxHttpError(
        'E_INFLUX_QUERY',
        `InfluxDB query ${JSON.stringify(q.slice(0, 120))} failed: ${failed.error}`,
        false,
        r.status,
        failed.error!,
      );
    return results;
  }

  /** The timeout the next /write gets, ms (adaptive: see AdaptiveTimeout). */
  get writeTimeoutMs(): number {
    return this.writeTimeout.current;
  }

  /**
   * POST /write with a line-protocol body. Resolves on 204; throws InfluxHttpError otherwise. Its
   * timeout starts at `requestTimeoutMs` and adapts to a slow store (AdaptiveTimeout).
   */
  async write(body: string | Buffer, opts: WriteOptions): Promise<void> {
    const params = new URLSearchParams({ db: opts.db, precision: opts.precision ?? 'ns' });
    if (opts.rp) params.set('rp', opts.rp);
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    let payload: string | Buffer = body;
    if (this.gzip) {
      payload = await gzip(typeof body === 'string' ? Buffer.from(body) : body, { level: this.gzipLevel });
      headers['content-encoding'] = 'gzip';
    }
    const timeoutMs = this.writeTimeout.current;
    const t0 = performance.now();
    let r: { status: number; text: string };
    try {
      r = await this.request(`/write?${params}`, { method: 'POST', headers, body: payload as BodyInit }, timeoutMs);
    } catch (e) {
      if ((e as NbpyError).code === 'E_INFLUX_TIMEOUT') this.writeTimeout.timedOut(timeoutMs);
      throw e;
    }
    this.writeTimeout.answered(performance.now() - t0);
    if (r.status === 204 || r.status === 200) return;
    throw this.httpError('write', r.status, r.text);
  }
}

/** The rows of the first series of the first statement as objects keyed by column. */
export function rows(results: InfluxStatementResult[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const s of results[0]?.series ?? [])
    for (const v of s.values ?? []) {
      const o: Record<string, unknown> = { ...(s.tags ?? {}) };
      if (s.name !== undefined) o._measurement = s.name;
      s.columns.forEach((c, i) => (o[c] = v[i]));
      out.push(o);
    }
  return out;
}

/** Quote an InfluxQL identifier ("default" is a keyword, names may hold anything). */
export function ident(name: string): string {
  return '"' + name.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** Quote an InfluxQL string literal. */
export function literal(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}
