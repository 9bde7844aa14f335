/**
 * Kraken spot WebSocket v2 messages: text -> typed raw message or a typed parse error.
 * Reference: https://docs.kraken.com/api/docs/websocket-v2/ and ../shared/reference/venues.md §1.
 *
 * Prices, quantities and 64-bit ids stay exact decimal text (see lossless-json.ts): the book
 * checksum is computed over the digits the venue wrote.
 */
import type { Decimal } from '../../core/records.js';
import { JsonNum, parseLosslessJson, type JsonObject, type JsonValue } from './lossless-json.js';

export interface V2Level {
  price: Decimal;
  qty: Decimal;
}

export interface V2StatusData {
  system: string;
  api_version: string | null;
  /** u64, kept as text (it can exceed 2^53). */
  connection_id: string | null;
  version: string | null;
}

export interface V2Ticker {
  symbol: string;
  bid: Decimal | null;
  bid_qty: Decimal | null;
  ask: Decimal | null;
  ask_qty: Decimal | null;
  last: Decimal | null;
  volume: Decimal | null;
  timestamp: string | null;
}

export interface V2Book {
  symbol: string;
  bids: V2Level[];
  asks: V2Level[];
  /** uint32 CRC32 of the top 10 levels after this message, when sent. */
  checksum: number | null;
  timestamp: string | null;
}

export interface V2Trade {
  symbol: string;
  side: 'buy' | 'sell';
  price: Decimal;
  qty: Decimal;
  ord_type: string;
  /** Integer id, as text. */
  trade_id: string;
  timestamp: string | null;
}

export interface V2Pair {
  symbol: string;
  status: string | null;
  price_precision: number | null;
  qty_precision: number | null;
}

export type UpdateType = 'snapshot' | 'update';

export type V2Message =
  // {"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":1234,"system":"online","version":"2.0.0"}]}
  | { kind: 'status'; type: UpdateType; data: V2StatusData[] }
  // {"channel":"heartbeat"}
  | { kind: 'heartbeat' }
  // {"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"ETH/USD"},"success":true,"time_in":"…","time_out":"…","req_id":7}
  | {
      kind: 'ack';
      method: 'subscribe' | 'unsubscribe';
      success: boolean;
      channel: string | null;
      symbol: string | null;
      depth: number | null;
      error: string | null;
      req_id: number | null;
    }
  // {"method":"pong","req_id":9,"time_in":"…","time_out":"…"}
  | { kind: 'pong'; req_id: number | null }
  // {"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","bid":…,"bid_qty":…,"ask":…,…}]}
  | { kind: 'ticker'; type: UpdateType; data: V2Ticker[] }
  // {"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[],"asks":[{"price":1797.29,"qty":0.00000000}],"checksum":3329440863,"timestamp":"…"}]}
  | { kind: 'book'; type: UpdateType; data: V2Book[] }
  // {"channel":"trade","type":"snapshot","data":[{"symbol":"MATIC/USD","side":"buy","price":0.5147,"qty":6423.46326,"ord_type":"limit","trade_id":4665846,"timestamp":"…"}]}
  | { kind: 'trade'; type: UpdateType; data: V2Trade[] }
  // {"channel":"instrument","type":"snapshot","data":{"assets":[…],"pairs":[{"symbol":"BTC/USD","price_precision":1,"qty_precision":8,…}]}}
  | { kind: 'instrument'; type: UpdateType; pairs: V2Pair[] }
  // {"error":"…","method":"…","success":false,…} without a known method, or a method we never send
  | { kind: 'error'; method: string | null; error: string };

export interface ParseError {
  /** `json` (not JSON), `schema` (JSON of the wrong shape), `unknown_channel`, `unknown_method`. */
  code: 'json' | 'schema' | 'unknown_channel' | 'unknown_method';
  message: string;
}

export type ParseResult<M> = { ok: true; msg: M } | { ok: false; error: ParseError };

/** Thrown inside the schema readers; turned into a `schema` ParseError. */
class SchemaError extends Error {}

const isObj = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof JsonNum);

const DECIMAL_RE = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

function reqStr(o: JsonObject, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new SchemaError(`${k}: expected a string`);
  return v;
}
function optStr(o: JsonObject, k: string): string | null {
  const v = o[k];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new SchemaError(`${k}: expected a string`);
  return v;
}
function reqNum(o: JsonObject, k: string): Decimal {
  const v = o[k];
  if (!(v instanceof JsonNum)) throw new SchemaError(`${k}: expected a number`);
  return v.text;
}
function optNum(o: JsonObject, k: string): Decimal | null {
  const v = o[k];
  if (v === undefined || v === null) return null;
  if (!(v instanceof JsonNum)) throw new SchemaError(`${k}: expected a number`);
  return v.text;
}
function optInt(o: JsonObject, k: string): number | null {
  const t = optNum(o, k);
  if (t === null) return null;
  if (!/^\d+$/.test(t)) throw new SchemaError(`${k}: expected a non-negative integer`);
  return Number(t);
}
function reqArr(o: JsonObject, k: string): JsonValue[] {
  const v = o[k];
  if (!Array.isArray(v)) throw new SchemaError(`${k}: expected an array`);
  return v;
}
function objects(arr: JsonValue[], what: string): JsonObject[] {
  return arr.map((v) => {
    if (!isObj(v)) throw new SchemaError(`${what}: expected objects`);
    return v;
  });
}
function updateType(o: JsonObject): UpdateType {
  const t = o.type;
  if (t !== 'snapshot' && t !== 'update') throw new SchemaError('type: expected snapshot or update');
  return t;
}

function levels(o: JsonObject, k: string): V2Level[] {
  return objects(reqArr(o, k), k).map((l) => {
    const price = reqNum(l, 'price');
    const qty = reqNum(l, 'qty');
    if (price.startsWith('-') || qty.startsWith('-')) throw new SchemaError(`${k}: negative price or qty`);
    return { price, qty };
  });
}

function readBook(d: JsonObject): V2Book {
  const checksum = optInt(d, 'checksum');
  if (checksum !== null && checksum > 0xffffffff) throw new SchemaError('checksum: not a uint32');
  return {
    symbol: reqStr(d, 'symbol'),
    bids: d.bids === undefined ? [] : levels(d, 'bids'),
    asks: d.asks === undefined ? [] : levels(d, 'asks'),
    checksum,
    timestamp: optStr(d, 'timestamp'),
  };
}

function readTicker(d: JsonObject): V2Ticker {
  return {
    symbol: reqStr(d, 'symbol'),
    bid: optNum(d, 'bid'),
    bid_qty: optNum(d, 'bid_qty'),
    ask: optNum(d, 'ask'),
    ask_qty: optNum(d, 'ask_qty'),
    last: optNum(d, 'last'),
    volume: optNum(d, 'volume'),
    timestamp: optStr(d, 'timestamp'),
  };
}

function readTrade(d: JsonObject): V2Trade {
  const side = d.side;
  if (side !== 'buy' && side !== 'sell') throw new SchemaError('side: expected buy or sell');
  const id = reqNum(d, 'trade_id');
  if (!/^\d+$/.test(id)) throw new SchemaError('trade_id: expected an integer');
  const price = reqNum(d, 'price');
  const qty = reqNum(d, 'qty');
  if (!DECIMAL_RE.test(price) || !DECIMAL_RE.test(qty)) throw new SchemaError('price/qty: not decimal');
  return {
    symbol: reqStr(d, 'symbol'),
    side,
    price,
    qty,
    ord_type: optStr(d, 'ord_type') ?? '',
    trade_id: id,
    timestamp: optStr(d, 'timestamp'),
  };
}

function readPair(d: JsonObject): V2Pair {
  const pp = optInt(d, 'price_precision');
  const qp = optInt(d, 'qty_precision');
  if ((pp !== null && pp > 30) || (qp !== null && qp > 30)) throw new SchemaError('precision out of range');
  return { symbol: reqStr(d, 'symbol'), status: optStr(d, 'status'), price_precision: pp, qty_precision: qp };
}

function readStatus(d: JsonObject): V2StatusData {
  const cid = d.connection_id;
  return {
    system: reqStr(d, 'system'),
    api_version: optStr(d, 'api_version'),
    connection_id: cid instanceof JsonNum ? cid.text : typeof cid === 'string' ? cid : null,
    version: optStr(d, 'version'),
  };
}

function dataArray(o: JsonObject): JsonObject[] {
  return objects(reqArr(o, 'data'), 'data');
}

function fromObject(o: JsonObject): ParseResult<V2Message> {
  const channel = o.channel;
  if (typeof channel === 'string') {
    switch (channel) {
      case 'heartbeat':
        return { ok: true, msg: { kind: 'heartbeat' } };
      case 'status':
        return { ok: true, msg: { kind: 'status', type: updateType(o), data: dataArray(o).map(readStatus) } };
      case 'ticker':
        return { ok: true, msg: { kind: 'ticker', type: updateType(o), data: dataArray(o).map(readTicker) } };
      case 'book':
        return { ok: true, msg: { kind: 'book', type: updateType(o), data: dataArray(o).map(readBook) } };
      case 'trade':
        return { ok: true, msg: { kind: 'trade', type: updateType(o), data: dataArray(o).map(readTrade) } };
      case 'instrument': {
        const data = o.data;
        if (!isObj(data)) throw new SchemaError('data: expected an object');
        const pairs = data.pairs === undefined ? [] : objects(reqArr(data, 'pairs'), 'pairs').map(readPair);
        return { ok: true, msg: { kind: 'instrument', type: updateType(o), pairs } };
      }
      default:
        return { ok: false, error: { code: 'unknown_channel', message: `unknown channel ${JSON.stringify(channel).slice(0, 40)}` } };
    }
  }
  const method = o.method;
  if (typeof method === 'string') {
    const reqId = optInt(o, 'req_id');
    if (method === 'pong') return { ok: true, msg: { kind: 'pong', req_id: reqId } };
    const success = o.success;
    if (typeof success !== 'boolean') throw new SchemaError('success: expected a boolean');
    if (method === 'subscribe' || method === 'unsubscribe') {
      const result = isObj(o.result) ? o.result : undefined;
      const symbol = result ? optStr(result, 'symbol') : optStr(o, 'symbol');
      return {
        ok: true,
        msg: {
          kind: 'ack',
          method,
          success,
          channel: result ? optStr(result, 'channel') : null,
          symbol: symbol ?? optStr(o, 'symbol'),
          depth: result ? optInt(result, 'depth') : null,
          error: optStr(o, 'error'),
          req_id: reqId,
        },
      };
    }
    if (!success) return { ok: true, msg: { kind: 'error', method, error: optStr(o, 'error') ?? 'unknown error' } };
    return { ok: false, error: { code: 'unknown_method', message: `unexpected method ${JSON.stringify(method).slice(0, 40)}` } };
  }
  if (o.success === false && typeof o.error === 'string') return { ok: true, msg: { kind: 'error', method: null, error: o.error } };
  return { ok: false, error: { code: 'schema', message: 'neither channel nor method' } };
}

/** Parse one already-decoded v2 JSON value (used by the protocol auto-detection in the session). */
export function parseV2Value(v: JsonValue): ParseResult<V2Message> {
  if (!isObj(v)) return { ok: false, error: { code: 'schema', message: 'expected a JSON object' } };
  try {
    return fromObject(v);
  } catch (e) {
    if (e instanceof SchemaError) return { ok: false, error: { code: 'schema', message: e.message } };
    throw e;
  }
}

/** Parse one Kraken v2 text frame. Never throws. */
export function parseV2(text: string): ParseResult<V2Message> {
  let v: JsonValue;
  try {
    v = parseLosslessJson(text);
  } catch (e) {
    return { ok: false, error: { code: 'json', message: e instanceof Error ? e.message : String(e) } };
  }
  return parseV2Value(v);
}
