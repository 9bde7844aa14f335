/**
 * Pure parse of one Betfair ESA message text (venues.md §3.3) into a typed message or a typed
 * error. Never throws.
 *
 * Prices and sizes are JSON numbers on the wire; we keep their exact lexemes ("1.10", "19505.48")
 * by quoting every numeric lexeme before `JSON.parse` (a native regex pass that skips strings), so
 * nothing goes through a binary float. Market ids are strings on the wire and stay strings.
 */
import type { FrameError } from '../connector.js';

/** `[price, size]` exactly as sent. */
export type PriceSize = readonly [price: string, size: string];
/** `[level, price, size]` (level 0 = best). */
export type LevelPriceSize = readonly [level: number, price: string, size: string];

export const PRICE_LADDERS = ['atb', 'atl', 'trd', 'spb', 'spl'] as const;
export type PriceLadderName = (typeof PRICE_LADDERS)[number];
export const LEVEL_LADDERS = ['batb', 'batl', 'bdatb', 'bdatl'] as const;
export type LevelLadderName = (typeof LEVEL_LADDERS)[number];

/** RunnerChange `rc[j]`. Absent fields are unchanged. */
export interface RunnerChange {
  /** Selection id. */
  id: number;
  /** Handicap; absent on the wire = 0. */
  hc: number;
  atb?: PriceSize[];
  atl?: PriceSize[];
  trd?: PriceSize[];
  spb?: PriceSize[];
  spl?: PriceSize[];
  batb?: LevelPriceSize[];
  batl?: LevelPriceSize[];
  bdatb?: LevelPriceSize[];
  bdatl?: LevelPriceSize[];
  ltp?: string;
  tv?: string;
  /** SP near/far: lexeme, "Infinity", or null for "NaN" (the venue sends those as strings). */
  spn?: string | null;
  spf?: string | null;
}

export interface RunnerDefinition {
  id: number;
  hc: number;
  status: string;
}

/** The fields of `marketDefinition` we use (it is always sent complete). */
export interface MarketDefinition {
  status: string;
  inPlay: boolean;
  version: number | null;
  runners: RunnerDefinition[];
}

/** MarketChange `mc[i]`. */
export interface MarketChange {
  /** Market id, a string ("1.180770798"). */
  id: string;
  img: boolean;
  con: boolean;
  tv?: string;
  marketDefinition?: MarketDefinition;
  rc: RunnerChange[];
}

export type ChangeType = 'SUB_IMAGE' | 'RESUB_DELTA' | 'HEARTBEAT';
export type SegmentType = 'SEG_START' | 'SEG' | 'SEG_END';

/** `{"op":"mcm",...}` (recorder files drop id/ct/initialClk: those are null then). */
export interface ChangeMessage {
  kind: 'mcm';
  id: number | null;
  ct: ChangeType | null;
  clk: string | null;
  initialClk: string | null;
  /** Publish time, ms since epoch. */
  pt: number | null;
  heartbeatMs: number | null;
  conflateMs: number | null;
  segmentType: SegmentType | null;
  /** 503 = Betfair's upstream is lagging; null = healthy. */
  status: number | null;
  mc: MarketChange[];
}

/** `{"op":"connection","connectionId":"002-230915140112-174"}` */
export interface ConnectionMessage {
  kind: 'connection';
  connectionId: string;
}

/** `{"op":"status","id":1,"statusCode":"SUCCESS","connectionClosed":false}` */
export interface StatusMessage {
  kind: 'status';
  id: number | null;
  statusCode: string;
  errorCode: string | null;
  errorMessage: string | null;
  connectionClosed: boolean;
  connectionId: string | null;
  connectionsAvailable: number | null;
}

/** Any other op (e.g. `ocm` order changes): ignored, not an error. */
export interface UnknownMessage {
  kind: 'unknown';
  op: string;
}

export interface ParseError {
  kind: 'error';
  error: FrameError;
}

export type BetfairMessage = ConnectionMessage | StatusMessage | ChangeMessage | UnknownMessage;

class Bad extends Error {}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** JSON text with every number lexeme turned into a string holding that lexeme. */
export function quoteNumbers(text: string): string {
  // A hand-written scan (2.5x the speed of a regex replace): strings are skipped as they are, every
  // run of number characters outside a string is quoted. A malformed lexeme ("1-2") becomes a string
  // that the field checks (JSON_NUMBER) reject, so bad input still ends as one parse error.
  let out = '';
  let from = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (!((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45)) break;
      }
      out += `${text.slice(from, i)}"${text.slice(i, j)}"`;
      from = j;
      i = j - 1;
    }
  }
  return from === 0 ? text : out + text.slice(from);
}

const sample = (text: string): string => text.slice(0, 200);

function num(v: unknown, what: string): number {
  if (typeof v !== 'string' || !JSON_NUMBER.test(v)) throw new Bad(`${what}: expected a number`);
  return Number(v);
}
function optNum(v: unknown, what: string): number | null {
  return v === undefined || v === null ? null : num(v, what);
}
function dec(v: unknown, what: string): string {
  if (typeof v !== 'string' || !JSON_NUMBER.test(v)) throw new Bad(`${what}: expected a number`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Bad(`${what}: expected a string`);
  return v;
}
function optStr(v: unknown, what: string): string | null {
  return v === undefined || v === null ? null : str(v, what);
}
function bool(v: unknown, what: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new Bad(`${what}: expected a boolean`);
  return v;
}
function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Bad(`${what}: expected an object`);
  return v as Record<string, unknown>;
}
function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Bad(`${what}: expected an array`);
  return v;
}

function priceLadder(v: unknown, what: string): PriceSize[] {
  const a = arr(v, what);
  const out: PriceSize[] = new Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const e = a[i];
    if (!Array.isArray(e) || e.length !== 2) throw new Bad(`${what}: expected [price,size]`);
    out[i] = [dec(e[0], what), dec(e[1], what)];
  }
  return out;
}

function levelLadder(v: unknown, what: string): LevelPriceSize[] {
  const a = arr(v, what);
  const out: LevelPriceSize[] = new Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const e = a[i];
    if (!Array.isArray(e) || e.length !== 3) throw new Bad(`${what}: expected [level,price,size]`);
    const level = num(e[0], what);
    if (!Number.isInteger(level) || level < 0 || level > 9) throw new Bad(`${what}: level out of range`);
    out[i] = [level, dec(e[1], what), dec(e[2], what)];
  }
  return out;
}

/** spn/spf: a number lexeme, or the strings "Infinity"/"-Infinity" (kept) and "NaN" (null). */
function spValue(v: unknown, what: string): string | null {
  if (v === null || v === 'NaN') return null;
  if (v === 'Infinity' || v === '-Infinity') return v;
  return dec(v, what);
}

function runnerChange(v: unknown): RunnerChange {
  const o = obj(v, 'rc');
  const rc: RunnerChange = { id: num(o.id, 'rc.id'), hc: optNum(o.hc, 'rc.hc') ?? 0 };
  for (const k of PRICE_LADDERS) if (o[k] !== undefined && o[k] !== null) rc[k] = priceLadder(o[k], `rc.${k}`);
  for (const k of LEVEL_LADDERS) if (o[k] !== undefined && o[k] !== null) rc[k] = levelLadder(o[k], `rc.${k}`);
  if (o.ltp !== undefined && o.ltp !== null) rc.ltp = dec(o.ltp, 'rc.ltp');
  if (o.tv !== undefined && o.tv !== null) rc.tv = dec(o.tv, 'rc.tv');
  if (o.spn !== undefined) rc.spn = spValue(o.spn, 'rc.spn');
  if (o.spf !== undefined) rc.spf = spValue(o.spf, 'rc.spf');
  return rc;
}

function marketDefinition(v: unknown): MarketDefinition {
  const o = obj(v, 'marketDefinition');
  const runners = o.runners === undefined || o.runners === null ? [] : arr(o.runners, 'marketDefinition.runners');
  return {
    status: str(o.status, 'marketDefinition.status'),
    inPlay: bool(o.inPlay, 'marketDefinition.inPlay'),
    version: optNum(o.version, 'marketDefinition.version'),
    runners: runners.map((r) => {
      const ro = obj(r, 'marketDefinition.runners[]');
      return { id: num(ro.id, 'runner.id'), hc: optNum(ro.hc, 'runner.hc') ?? 0, status: optStr(ro.status, 'runner.status') ?? 'ACTIVE' };
    }),
  };
}

function marketChange(v: unknown): MarketChange {
  const o = obj(v, 'mc');
  const mc: MarketChange = {
    id: str(o.id, 'mc.id'),
    img: bool(o.img, 'mc.img'),
    con: bool(o.con, 'mc.con'),
    rc: o.rc === undefined || o.rc === null ? [] : arr(o.rc, 'mc.rc').map(runnerChange),
  };
  if (o.tv !== undefined && o.tv !== null) mc.tv = dec(o.tv, 'mc.tv');
  if (o.marketDefinition !== undefined && o.marketDefinition !== null) mc.marketDefinition = marketDefinition(o.marketDefinition);
  return mc;
}

const CHANGE_TYPES = new Set<string>(['SUB_IMAGE', 'RESUB_DELTA', 'HEARTBEAT']);
const SEGMENT_TYPES = new Set<string>(['SEG_START', 'SEG', 'SEG_END']);

function changeMessage(o: Record<string, unknown>): ChangeMessage {
  const ct = optStr(o.ct, 'ct');
  if (ct !== null && !CHANGE_TYPES.has(ct)) throw new Bad(`ct: unknown change type ${ct.slice(0, 20)}`);
  const seg = optStr(o.segmentType, 'segmentType');
  if (seg !== null && !SEGMENT_TYPES.has(seg)) throw new Bad(`segmentType: unknown ${seg.slice(0, 20)}`);
  return {
    kind: 'mcm',
    id: optNum(o.id, 'id'),
    ct: ct as ChangeType | null,
    clk: optStr(o.clk, 'clk'),
    initialClk: optStr(o.initialClk, 'initialClk'),
    pt: optNum(o.pt, 'pt'),
    heartbeatMs: optNum(o.heartbeatMs, 'heartbeatMs'),
    conflateMs: optNum(o.conflateMs, 'conflateMs'),
    segmentType: seg as SegmentType | null,
    status: optNum(o.status, 'status'),
    mc: o.mc === undefined || o.mc === null ? [] : arr(o.mc, 'mc').map(marketChange),
  };
}

function statusMessage(o: Record<string, unknown>): StatusMessage {
  return {
    kind: 'status',
    id: optNum(o.id, 'id'),
    statusCode: str(o.statusCode, 'statusCode'),
    errorCode: optStr(o.errorCode, 'errorCode'),
    errorMessage: optStr(o.errorMessage, 'errorMessage'),
    connectionClosed: bool(o.connectionClosed, 'connectionClosed'),
    connectionId: optStr(o.connectionId, 'connectionId'),
    connectionsAvailable: optNum(o.connectionsAvailable, 'connectionsAvailable'),
  };
}

/** Parse one message text (without its `\r\n`). */
export function parseBetfairMessage(text: string): BetfairMessage | ParseError {
  let raw: unknown;
  try {
    raw = JSON.parse(quoteNumbers(text));
  } catch {
    return { kind: 'error', error: { code: 'json', message: 'betfair frame is not valid JSON', sample: sample(text) } };
  }
  try {
    const o = obj(raw, 'message');
    const op = str(o.op, 'op');
    switch (op) {
      case 'mcm':
        return changeMessage(o);
      case 'status':
        return statusMessage(o);
      case 'connection':
        return { kind: 'connection', connectionId: str(o.connectionId, 'connectionId') };
      default:
        return { kind: 'unknown', op: op.slice(0, 40) };
    }
  } catch (e) {
    const message = e instanceof Bad ? e.message : 'unexpected message shape';
    return { kind: 'error', error: { code: 'schema', message: `betfair message: ${message}`, sample: sample(text) } };
  }
}
