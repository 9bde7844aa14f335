/**
 * OANDA wire I/O: one HTTP(S) GET of the v20 pricing stream, yielding one Frame per line
 * (venues.md §2.1). Knows nothing of messages. The token never appears in logs, errors or `target`.
 */
import http from 'node:http';
import https from 'node:https';
import { systemClock, type Clock } from '../../core/clock.js';
import { NbpyError, UsageError } from '../../core/errors.js';
import type { OandaPublisherConfig } from '../../config/schema.js';
import type { Frame, Transport, TransportConnection } from '../connector.js';
import { createLineSplitter, DEFAULT_MAX_LINE_BYTES, oversizeFrameText } from './lines.js';

/** Streaming hosts (the REST hosts answer the stream path with 405). */
export const OANDA_STREAM_HOSTS = {
  practice: 'https://stream-fxpractice.oanda.com',
  live: 'https://stream-fxtrade.oanda.com',
} as const;

export interface OandaTransportOptions {
  /** `https://stream-fxpractice.oanda.com`, or a simulator's `http://127.0.0.1:<port>`. */
  baseUrl: string;
  accountId: string;
  token: string;
  instruments: string[];
  /** Named in error messages so the user knows what to fix (never the token itself). */
  tokenEnv?: string;
  accountIdEnv?: string;
  clock?: Clock;
  /** Lines longer than this are dropped and reported (bounded memory). */
  maxLineBytes?: number;
}

const ERROR_BODY_MAX_BYTES = 4096;

/** Replace every occurrence of the secret so it cannot leak through an error or a log line. */
function redact(text: string, secret: string): string {
  return secret.length >= 4 ? text.split(secret).join('***') : text;
}

/** Turn a non-200 response into an error that names the cause and the fix. */
export function oandaHttpError(
  status: number,
  body: string,
  opts: { token: string; tokenEnv?: string; accountIdEnv?: string; baseUrl: string },
): NbpyError {
  let detail = body.trim().slice(0, 300);
  try {
    const o = JSON.parse(body) as { errorMessage?: unknown; errorCode?: unknown };
    if (typeof o.errorMessage === 'string') detail = o.errorMessage + (o.errorCode !== undefined ? ` (${String(o.errorCode)})` : '');
  } catch {
    // not JSON: keep the text
  }
  detail = redact(detail, opts.token) || 'no body';
  const tokenEnv = opts.tokenEnv ?? 'NBPY_OANDA_TOKEN';
  const accountEnv = opts.accountIdEnv ?? 'NBPY_OANDA_ACCOUNT_ID';
  const host = opts.baseUrl;
  switch (status) {
    case 401:
      return new NbpyError(
        'E_OANDA_UNAUTHORIZED',
        `OANDA rejected the API token (HTTP 401: ${detail}) at ${host}: set ${tokenEnv} to a valid token for this environment (practice tokens work only on stream-fxpractice, live tokens only on stream-fxtrade)`,
        false,
      );
    case 403:
      return new NbpyError(
        'E_OANDA_FORBIDDEN',
        `OANDA refused the account (HTTP 403: ${detail}): the token in ${tokenEnv} is not valid for the account in ${accountEnv}`,
        false,
      );
    case 404:
      return new NbpyError(
        'E_OANDA_NOT_FOUND',
        `OANDA answered 404 (${detail}) at ${host}: check the account id in ${accountEnv} and the stream URL`,
        false,
      );
    case 400:
      return new NbpyError(
        'E_OANDA_BAD_REQUEST',
        `OANDA rejected the request (HTTP 400: ${detail}): check the instrument names in the publisher config`,
        false,
      );
    case 405:
      return new NbpyError(
        'E_OANDA_WRONG_HOST',
        `OANDA answered 405 (${detail}) at ${host}: the pricing stream needs a stream-* host, not the api-* REST host`,
        false,
      );
    case 429:
      return new NbpyError(
        'E_OANDA_RATE_LIMITED',
        `OANDA rate limit (HTTP 429: ${detail}): at most 2 new streams per second and 20 per IP`,
        true,
      );
    default:
      return new NbpyError(`E_OANDA_HTTP_${status}`, `OANDA stream answered HTTP ${status} (${detail}) at ${host}`, status >= 500);
  }
}

/** The streaming base URL of a publisher: `source.url` when set (simulator), else the environment's host. */
export function oandaBaseUrl(cfg: Pick<OandaPublisherConfig, 'environment' | 'source'>): string {
  if (cfg.source.type === 'live' && cfg.source.url) return cfg.source.url;
  return OANDA_STREAM_HOSTS[cfg.environment];
}

/**
 * Transport options from a publisher config and the environment: the token and account id come
 * from the env vars the config names. Throws a UsageError naming the missing variable.
 */
export function oandaTransportOptionsFromConfig(
  cfg: Pick<OandaPublisherConfig, 'environment' | 'source' | 'credentials' | 'instruments'>,
  env: NodeJS.ProcessEnv,
  baseUrl = oandaBaseUrl(cfg),
): OandaTransportOptions {
  const { tokenEnv, accountIdEnv } = cfg.credentials;
  const token = env[tokenEnv];
  const accountId = env[accountIdEnv];
  const missing = [!token && tokenEnv, !accountId && accountIdEnv].filter((x): x is string => !!x);
  if (missing.length) throw new UsageError(`OANDA ${cfg.environment} stream needs ${missing.join(' and ')} set in the environment`);
  return { baseUrl, token: token!, accountId: accountId!, instruments: [...cfg.instruments], tokenEnv, accountIdEnv };
}

export function createOandaTransport(opts: OandaTransportOptions): Transport {
  const clock = opts.clock ?? systemClock;
  const base = opts.baseUrl.replace(/\/+$/, '');
  const query = `instruments=${opts.instruments.map(encodeURIComponent).join(',')}&snapshot=true`;
  const url = `${base}/v3/accounts/${encodeURIComponent(opts.accountId)}/pricing/stream?${query}`;
  const target = `${base}/v3/accounts/<account>/pricing/stream?${query}`;
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;

  return {
    target,
    connect(signal: AbortSignal): Promise<TransportConnection> {
      return new Promise<TransportConnection>((resolve, reject) => {
        if (signal.aborted) return reject(new Error(`connect to ${target} aborted`));
        const mod = url.startsWith('https:') ? https : http;
        let req: http.ClientRequest;
        try {
          req = mod.request(url, {
            method: 'GET',
            // agent: false = a fresh socket per stream; a pooled socket could be a dead one.
            agent: false,
            signal,
            headers: {
              Authorization: `Bearer ${opts.token}`,
              'Accept-Datetime-Format': 'RFC3339',
              Accept: 'application/octet-stream, application/json',
              'User-Agent': 'nbpy',
            },
          });
        } catch (e) {
          return reject(
            new NbpyError('E_OANDA_URL', `cannot open ${target}: ${redact(e instanceof Error ? e.message : String(e), opts.token)}`),
          );
        }
        req.on('error', (e: NodeJS.ErrnoException) => {
          const why = signal.aborted ? 'aborted' : redact(e.message, opts.token);
          reject(new NbpyError('E_OANDA_CONNECT', `cannot reach ${target}: ${why}`, true));
        });
        req.on('response', (res) => {
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            const parts: Buffer[] = [];
            let n = 0;
            res.on('data', (c: Buffer) => {
              if (n < ERROR_BODY_MAX_BYTES) parts.push(c.subarray(0, ERROR_BODY_MAX_BYTES - n));
              n += c.length;
            });
            const fail = () => {
              req.destroy();
              reject(oandaHttpError(status, Buffer.concat(parts).toString('utf8'), { ...opts, baseUrl: base }));
            };
            res.on('end', fail);
            res.on('error', fail);
            return;
          }
          let closed = false;
          async function* frames(): AsyncGenerator<Frame> {
            const splitter = createLineSplitter(maxLineBytes);
            try {
              for await (const chunk of res as AsyncIterable<Buffer>) {
                const receivedAtUs = clock.nowUs();
                for (const item of splitter.push(chunk)) {
                  yield 'line' in item ? { text: item.line, receivedAtUs } : { text: oversizeFrameText(item.oversize), receivedAtUs };
                }
              }
            } catch (e) {
              if (!closed) throw new Error(`OANDA stream broke: ${redact(e instanceof Error ? e.message : String(e), opts.token)}`);
            } finally {
              req.destroy();
            }
          }
          resolve({
            frames: frames(),
            send() {
              throw new NbpyError('E_OANDA_SEND', 'the OANDA pricing stream is receive-only (plain HTTP GET)');
            },
            close() {
              closed = true;
              res.destroy();
              req.destroy();
            },
          });
        });
        req.end();
      });
    },
  };
}
