/**
 * Requests to Kraken spot WebSocket v2 (../shared/reference/venues.md §1.2). Pure builders.
 * `params.symbol` is always a list; an unsubscribe repeats the params that identify the
 * subscription (book `depth`).
 */

/** Public market-data endpoint (v2). */
export const KRAKEN_V2_URL = 'wss://ws.kraken.com/v2';

export const KRAKEN_BOOK_DEPTHS = [10, 25, 100, 500, 1000] as const;
export type KrakenBookDepth = (typeof KRAKEN_BOOK_DEPTHS)[number];

export type KrakenChannel = 'ticker' | 'book' | 'trade' | 'instrument';

export interface SubscribeOptions {
  /** Book depth (book only). */
  depth?: KrakenBookDepth;
  /** Ask for a snapshot first (venue default: true for book/ticker, false for trade). */
  snapshot?: boolean;
  /** Ticker trigger (ticker only). */
  eventTrigger?: 'trades' | 'bbo';
}

function params(
  channel: KrakenChannel,
  symbols: readonly string[] | undefined,
  opts: SubscribeOptions,
  forUnsubscribe: boolean,
): Record<string, unknown> {
  const p: Record<string, unknown> = { channel };
  if (symbols !== undefined) p.symbol = [...symbols];
  if (channel === 'book' && opts.depth !== undefined) p.depth = opts.depth;
  if (!forUnsubscribe) {
    if (opts.snapshot !== undefined) p.snapshot = opts.snapshot;
    if (channel === 'ticker' && opts.eventTrigger !== undefined) p.event_trigger = opts.eventTrigger;
  }
  return p;
}

/**
 * `{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10,"snapshot":true},"req_id":7}`.
 * `symbols` undefined = no symbol list (the `instrument` channel covers every pair).
 */
export function subscribeRequest(
  channel: KrakenChannel,
  symbols: readonly string[] | undefined,
  opts: SubscribeOptions = {},
  reqId?: number,
): string {
  return JSON.stringify({
    method: 'subscribe',
    params: params(channel, symbols, opts, false),
    ...(reqId !== undefined ? { req_id: reqId } : {}),
  });
}

/** `{"method":"unsubscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10},"req_id":8}`. */
export function unsubscribeRequest(
  channel: KrakenChannel,
  symbols: readonly string[] | undefined,
  opts: SubscribeOptions = {},
  reqId?: number,
): string {
  return JSON.stringify({
    method: 'unsubscribe',
    params: params(channel, symbols, opts, true),
    ...(reqId !== undefined ? { req_id: reqId } : {}),
  });
}

/** `{"method":"ping","req_id":9}`. */
export function pingRequest(reqId?: number): string {
  return JSON.stringify(reqId !== undefined ? { method: 'ping', req_id: reqId } : { method: 'ping' });
}
