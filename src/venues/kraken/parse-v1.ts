/**
 * Kraken WebSocket v1 messages (older recordings): text -> typed raw message or a typed parse error.
 * Reference: https://docs.kraken.com/api/docs/websocket-v1/ and ../shared/reference/venues.md §1.7.
 *
 * v1 data frames are JSON arrays `[channelID, payload…, channelName, pair]` whose decimals are
 * strings, so plain `JSON.parse` keeps them exact; event objects carry the u64 `connectionID`, so
 * those go through the lossless parser. Dispatch is on `channelName` and `pair` (the last two
 * elements), never on array length: a book update can carry two payload objects.
 */
import type { Decimal } from '../../core/records.js';
import { JsonNum, parseLosslessJson, type JsonObject, type JsonValue } from './lossless-json.js';
import type { ParseResult, UpdateType } from './parse.js';

export interface V1BookLevel {
  price: Decimal;
  qty: Decimal;
  /** Epoch seconds with µs, as text. */
  time: string;
}

export type V1Message =
  // {"connectionID":17843232920108168701,"event":"systemStatus","status":"online","version":"1.8.3"}
  | { kind: 'systemStatus'; status: string; version: string | null; connection_id: string | null }
  // {"channelID":1664,"channelName":"book-1000","event":"subscriptionStatus","pair":"WAVES/EUR","status":"subscribed","subscription":{"depth":1000,"name":"book"}}
  | {
      kind: 'subscriptionStatus';
      status: string;
      pair: string | null;
      channel_name: string | null;
      name: string | null;
      depth: number | null;
      error: string | null;
    }
  // {"event":"heartbeat"}
  | { kind: 'heartbeat' }
  // {"event":"pong","reqid":1}
  | { kind: 'pong'; reqid: number | null }
  // [1920,{"a":[["0.042990","364630.28272081","1618678145.920470"]]},{"b":[…],"c":"4105471083"},"book-1000","SC/EUR"]
  | { kind: 'book'; type: UpdateType; pair: string; depth: number; asks: V1BookLevel[]; bids: V1BookLevel[]; checksum: number | null }
  // [1668,{"a":["13.253900",35,"35.72892241"],"b":[…],"c":["13.253900","3.71672000"],"v":[today,"24h"],…},"ticker","WAVES/EUR"]
  | {
      kind: 'ticker';
      pair: string;
      bid: Decimal;
      bid_qty: Decimal;
      ask: Decimal;
      ask_qty: Decimal;
      last: Decimal | null;
      volume: Decimal | null;
    }
  // [993,[["354.11000000","0.89594024","1618678142.557535","s","l",""]],"trade","XMR/USD"]
  | { kind: 'trade'; pair: string; trades: { price: Decimal; qty: Decimal; time: string; side: 'buy' | 'sell'; ord_type: string }[] };

class SchemaError extends Error {}

const DEC_RE = /^\d+(\.\d+)?$/;
const TIME_RE = /^\d+(\.\d+)?$/;

function dec(v: unknown, what: string): Decimal {
  if (typeof v !== 'string' || !DEC_RE.test(v)) throw new SchemaError(`${what}: expected a decimal string`);
  return v;
}

function bookLevels(v: unknown, what: string): V1BookLevel[] {
  if (!Array.isArray(v)) throw new SchemaError(`${what}: expected an array`);
  return v.map((l: unknown) => {
    if (!Array.isArray(l) || l.length < 3) throw new SchemaError(`${what}: expected [price, volume, time]`);
    const time = l[2];
    if (typeof time !== 'string' || !TIME_RE.test(time)) throw new SchemaError(`${what}: bad time`);
    return { price: dec(l[0], what), qty: dec(l[1], what), time };
  });
}

function parseBook(payloads: unknown[], channelName: string, pair: string): V1Message {
  const depth = Number(channelName.slice(5));
  if (!Number.isInteger(depth) || depth <= 0) throw new SchemaError(`bad book channel ${channelName}`);
  let asks: V1BookLevel[] = [];
  let bids: V1BookLevel[] = [];
  let checksum: number | null = null;
  let type: UpdateType | null = null;
  for (const p of payloads) {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new SchemaError('book payload: expected an object');
    const o = p as Record<string, unknown>;
    if ('as' in o || 'bs' in o) {
      if (type === 'update') throw new SchemaError('book: snapshot and update keys mixed');
      type = 'snapshot';
      if ('as' in o) asks = bookLevels(o.as, 'as');
      if ('bs' in o) bids = bookLevels(o.bs, 'bs');
    }
    if ('a' in o || 'b' in o) {
      if (type === 'snapshot') throw new SchemaError('book: snapshot and update keys mixed');
      type = 'update';
      // both sides can come in separate payload objects: apply every one of them
      if ('a' in o) asks = asks.concat(bookLevels(o.a, 'a'));
      if ('b' in o) bids = bids.concat(bookLevels(o.b, 'b'));
    }
    if ('c' in o) {
      const c = o.c;
      if (typeof c !== 'string' || !/^\d{1,10}$/.test(c) || Number(c) > 0xffffffff) throw new SchemaError('c: expected a uint32 string');
      checksum = Number(c);
    }
  }
  if (type === null) throw new SchemaError('book: no as/bs/a/b payload');
  return { kind: 'book', type, pair, depth, asks, bids, checksum };
}

function parseTicker(payloads: unknown[], pair: string): V1Message {
  const p = payloads[0];
  if (payloads.length !== 1 || typeof p !== 'object' || p === null || Array.isArray(p))
    throw new SchemaError('ticker: expected one object');
  const o = p as Record<string, unknown>;
  const arr = (k: string): unknown[] => {
    const v = o[k];
    if (!Array.isArray(v)) throw new SchemaError(`${k}: expected an array`);
    return v;
  };
  const a = arr('a');
  const b = arr('b');
  const c = o.c === undefined ? null : arr('c');
  const v = o.v === undefined ? null : arr('v');
  return {
    kind: 'ticker',
    pair,
    ask: dec(a[0], 'a'),
    ask_qty: dec(a[2], 'a'),
    bid: dec(b[0], 'b'),
    bid_qty: dec(b[2], 'b'),
    last: c ? dec(c[0], 'c') : null,
    // index 1 is the rolling 24 h volume (index 0 is "today")
    volume: v ? dec(v[1], 'v') : null,
  };
}

function parseTrade(payloads: unknown[], pair: string): V1Message {
  const p = payloads[0];
  if (payloads.length !== 1 || !Array.isArray(p)) throw new SchemaError('trade: expected one array of trades');
  const trades = p.map((t: unknown) => {
    if (!Array.isArray(t) || t.length < 5) throw new SchemaError('trade: expected [price, volume, time, side, ordertype, misc]');
    const time = t[2];
    if (typeof time !== 'string' || !TIME_RE.test(time)) throw new SchemaError('trade: bad time');
    const side = t[3] === 'b' ? 'buy' : t[3] === 's' ? 'sell' : null;
    if (side === null) throw new SchemaError('trade: side must be b or s');
    const ord = t[4] === 'm' ? 'market' : t[4] === 'l' ? 'limit' : null;
    if (ord === null) throw new SchemaError('trade: ordertype must be m or l');
    return { price: dec(t[0], 'trade price'), qty: dec(t[1], 'trade volume'), time, side, ord_type: ord } as const;
  });
  return { kind: 'trade', pair, trades };
}

function parseArrayFrame(a: unknown[]): V1Message {
  if (a.length < 4 || typeof a[0] !== 'number') throw new SchemaError('expected [channelID, payload…, channelName, pair]');
  const channelName = a[a.length - 2];
  const pair = a[a.length - 1];
  if (typeof channelName !== 'string' || typeof pair !== 'string') throw new SchemaError('channelName and pair must be strings');
  const payloads = a.slice(1, -2);
  if (channelName.startsWith('book-')) return parseBook(payloads, channelName, pair);
  if (channelName === 'ticker') return parseTicker(payloads, pair);
  if (channelName === 'trade') return parseTrade(payloads, pair);
  throw new UnknownChannel(channelName);
}

class UnknownChannel extends Error {}

const optStr = (o: JsonObject, k: string): string | null => (typeof o[k] === 'string' ? (o[k] as string) : null);
const optInt = (o: JsonObject, k: string): number | null => {
  const v = o[k];
  return v instanceof JsonNum && /^\d+$/.test(v.text) ? Number(v.text) : null;
};

function parseEvent(o: JsonObject): V1Message {
  const event = o.event;
  switch (event) {
    case 'heartbeat':
      return { kind: 'heartbeat' };
    case 'pong':
      return { kind: 'pong', reqid: optInt(o, 'reqid') };
    case 'systemStatus': {
      const status = optStr(o, 'status');
      if (status === null) throw new SchemaError('systemStatus: status missing');
      const cid = o.connectionID;
      return { kind: 'systemStatus', status, version: optStr(o, 'version'), connection_id: cid instanceof JsonNum ? cid.text : null };
    }
    case 'subscriptionStatus': {
      const status = optStr(o, 'status');
      if (status === null) throw new SchemaError('subscriptionStatus: status missing');
      const sub = o.subscription;
      const subObj = typeof sub === 'object' && sub !== null && !Array.isArray(sub) && !(sub instanceof JsonNum) ? sub : null;
      return {
        kind: 'subscriptionStatus',
        status,
        pair: optStr(o, 'pair'),
        channel_name: optStr(o, 'channelName'),
        name: subObj ? optStr(subObj, 'name') : null,
        depth: subObj ? optInt(subObj, 'depth') : null,
        error: optStr(o, 'errorMessage'),
      };
    }
    default:
      throw new UnknownChannel(typeof event === 'string' ? event : String(event));
  }
}

/** True when a frame is v1-shaped: a JSON array, or an object with an `event` key. */
export function looksLikeV1(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (c === 0x5b) return true;
    break;
  }
  return text.includes('"event"');
}

/** Parse an already-decoded v1 value (arrays: from JSON.parse; objects: from the lossless parser). */
export function parseV1Value(v: unknown): ParseResult<V1Message> {
  try {
    if (Array.isArray(v)) return { ok: true, msg: parseArrayFrame(v) };
    if (typeof v === 'object' && v !== null && !(v instanceof JsonNum)) return { ok: true, msg: parseEvent(v as JsonObject) };
    return { ok: false, error: { code: 'schema', message: 'expected a JSON array or object' } };
  } catch (e) {
    if (e instanceof SchemaError) return { ok: false, error: { code: 'schema', message: e.message } };
    if (e instanceof UnknownChannel)
      return { ok: false, error: { code: 'unknown_channel', message: `unknown v1 channel or event ${e.message.slice(0, 40)}` } };
    throw e;
  }
}

/** Parse one Kraken v1 text frame. Never throws. */
export function parseV1(text: string): ParseResult<V1Message> {
  let v: unknown;
  try {
    const first = text.trimStart().charCodeAt(0);
    // data arrays only hold decimal strings and small ints: the native parser is exact and fast
    v = first === 0x5b ? (JSON.parse(text) as unknown) : (parseLosslessJson(text) as JsonValue);
  } catch (e) {
    return { ok: false, error: { code: 'json', message: e instanceof Error ? e.message : String(e) } };
  }
  return parseV1Value(v);
}
