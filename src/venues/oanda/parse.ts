/**
 * Pure parsing of one OANDA v20 pricing-stream line (venues.md §2.2). Prices stay the exact decimal
 * strings OANDA sends; the time keeps its exact text (nanoseconds) next to the µs value.
 * Docs: https://developer.oanda.com/rest-live-v20/pricing-ep/ (ClientPrice, PricingHeartbeat).
 */
import { epochSecondsTextToUs, rfc3339ToUs } from '../../core/clock.js';

/** One liquidity bucket: price as sent, liquidity (an integer on the wire) as text. */
export interface OandaBucket {
  price: string;
  liquidity: string | null;
}

export interface OandaPrice {
  type: 'PRICE';
  instrument: string;
  /** The `time` field exactly as received (RFC 3339 with 9 digits, or UNIX "seconds.nanoseconds"). */
  time: string;
  timeUs: number;
  bids: OandaBucket[];
  asks: OandaBucket[];
  /** The `tradeable` flag, or `status === 'tradeable'` on old messages without the flag. */
  tradeable: boolean;
  status: string | null;
  closeoutBid: string | null;
  closeoutAsk: string | null;
}

export interface OandaHeartbeat {
  type: 'HEARTBEAT';
  time: string;
  timeUs: number;
}

/** A well-formed message of a type we do not handle (logged and skipped). */
export interface OandaUnknown {
  type: 'unknown';
  rawType: string;
}

export type OandaMessage = OandaPrice | OandaHeartbeat | OandaUnknown;

export const OANDA_PARSE_ERRORS = ['json', 'schema', 'time', 'price', 'line_too_long'] as const;
export type OandaParseErrorCode = (typeof OANDA_PARSE_ERRORS)[number];

export interface OandaParseError {
  type: 'error';
  code: OandaParseErrorCode;
  message: string;
}

export type OandaParseResult = OandaMessage | OandaParseError;

const err = (code: OandaParseErrorCode, message: string): OandaParseError => ({ type: 'error', code, message });

/** A non-negative or negative decimal as OANDA writes it ("1.09177", "114.295"). */
const DECIMAL = /^-?\d+(?:\.\d+)?$/;

const MIN_TIME_US = Date.UTC(2000, 0, 1) * 1000;
const MAX_TIME_US = Date.UTC(2100, 0, 1) * 1000;

/** RFC 3339 (`2016-10-27T08:38:44.327443673Z`) or UNIX (`1477557524.327443673`) time text to µs. */
export function oandaTimeToUs(text: string): number | null {
  const c = text.charCodeAt(4);
  // '-' at index 4 means a date; otherwise try UNIX seconds (Accept-Datetime-Format: UNIX).
  return c === 45 ? rfc3339ToUs(text) : epochSecondsTextToUs(text);
}

function parseTime(o: Record<string, unknown>): { time: string; timeUs: number } | OandaParseError {
  const time = o.time;
  if (typeof time !== 'string') return err('schema', 'missing string field "time"');
  const timeUs = oandaTimeToUs(time);
  if (timeUs === null) return err('time', `unparseable time ${JSON.stringify(time.slice(0, 40))}`);
  // "0" parses as UNIX time but is no price time: outside 2000-2100 means a broken field.
  if (timeUs < MIN_TIME_US || timeUs > MAX_TIME_US) return err('time', `implausible time ${JSON.stringify(time.slice(0, 40))}`);
  return { time, timeUs };
}

function parseBuckets(v: unknown, side: 'bids' | 'asks'): OandaBucket[] | OandaParseError {
  // OANDA may send an empty side (or omit it) when there is no quote.
  if (v === undefined) return [];
  if (!Array.isArray(v)) return err('schema', `"${side}" is not an array`);
  const out: OandaBucket[] = [];
  for (const b of v as unknown[]) {
    if (typeof b !== 'object' || b === null) return err('schema', `"${side}" holds a non-object`);
    const { price, liquidity } = b as { price?: unknown; liquidity?: unknown };
    if (typeof price !== 'string') return err('schema', `"${side}[].price" is not a string`);
    if (!DECIMAL.test(price)) return err('price', `"${side}[].price" is not a decimal: ${JSON.stringify(price.slice(0, 40))}`);
    let liq: string | null;
    if (typeof liquidity === 'number' && Number.isFinite(liquidity)) liq = String(liquidity);
    else if (typeof liquidity === 'string' && DECIMAL.test(liquidity)) liq = liquidity;
    else if (liquidity === undefined || liquidity === null) liq = null;
    else return err('schema', `"${side}[].liquidity" is not a number`);
    out.push({ price, liquidity: liq });
  }
  return out;
}

const optString = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * Parse one line. Never throws. Empty lines are the caller's to skip (the line splitter does).
 */
export function parse(line: string): OandaParseResult {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch (e) {
    return err('json', e instanceof Error ? e.message : 'invalid JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return err('schema', 'not a JSON object');
  const m = o as Record<string, unknown>;
  const type = m.type;

  // {"type":"HEARTBEAT","time":"2016-10-27T08:38:44.327443673Z"}
  if (type === 'HEARTBEAT') {
    const t = parseTime(m);
    return 'type' in t ? t : { type: 'HEARTBEAT', time: t.time, timeUs: t.timeUs };
  }

  // {"type":"PRICE","time":"2023-09-29T20:58:00.136640494Z","bids":[{"price":"0.86582","liquidity":10000000}],
  //  "asks":[...],"closeoutBid":"0.86582","closeoutAsk":"0.86704","status":"non-tradeable","tradeable":false,"instrument":"EUR_GBP"}
  // OANDA's own v20 client treats a missing `type` as PRICE; so do we.
  if (type === 'PRICE' || type === undefined) {
    const instrument = m.instrument;
    if (typeof instrument !== 'string' || instrument === '') return err('schema', 'PRICE without a string "instrument"');
    const t = parseTime(m);
    if ('type' in t) return t;
    const bids = parseBuckets(m.bids, 'bids');
    if (!Array.isArray(bids)) return bids;
    const asks = parseBuckets(m.asks, 'asks');
    if (!Array.isArray(asks)) return asks;
    const status = optString(m.status);
    const tradeable = typeof m.tradeable === 'boolean' ? m.tradeable : status === 'tradeable';
    return {
      type: 'PRICE',
      instrument,
      time: t.time,
      timeUs: t.timeUs,
      bids,
      asks,
      tradeable,
      status,
      closeoutBid: optString(m.closeoutBid),
      closeoutAsk: optString(m.closeoutAsk),
    };
  }

  if (typeof type !== 'string') return err('schema', '"type" is not a string');
  return { type: 'unknown', rawType: type };
}
