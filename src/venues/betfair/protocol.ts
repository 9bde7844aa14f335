/**
 * Betfair ESA requests (venues.md §3.1-3.2, §3.5). Builders return compact JSON text without the
 * `\r\n` terminator: the transport appends it, so replay and tests see plain JSON.
 */
import { BETFAIR_MARKET_DATA_FIELDS } from '../../config/schema.js';

/** Default stream endpoint (production). Integration: stream-api-integration.betfair.com. */
export const BETFAIR_STREAM_HOST = 'stream-api.betfair.com';
export const BETFAIR_STREAM_PORT = 443;

/** marketDataFilter.fields values (the list lives in the config schema, which validates them). */
export const MARKET_DATA_FIELDS = BETFAIR_MARKET_DATA_FIELDS;
export type MarketDataField = (typeof MARKET_DATA_FIELDS)[number];

/** Fields we subscribe to when the config does not say: best offers, traded volume, LTP, definition. */
export const DEFAULT_MARKET_DATA_FIELDS: readonly MarketDataField[] = [
  'EX_BEST_OFFERS',
  'EX_TRADED',
  'EX_TRADED_VOL',
  'EX_LTP',
  'EX_MARKET_DEF',
];

export interface MarketFilter {
  marketIds?: string[];
  eventTypeIds?: string[];
  marketTypes?: string[];
  countryCodes?: string[];
  eventIds?: string[];
}

export interface MarketDataFilter {
  fields: MarketDataField[];
  /** 1-10; used by EX_BEST_OFFERS / EX_BEST_OFFERS_DISP. */
  ladderLevels?: number;
}

export interface MarketSubscriptionRequest {
  id: number;
  marketFilter: MarketFilter;
  marketDataFilter: MarketDataFilter;
  /** 500-5000 ms; the server echoes the value it uses. */
  heartbeatMs?: number;
  conflateMs?: number;
  segmentationEnabled?: boolean;
  /** Resume tokens from the previous connection (both or neither; venues.md §3.5). */
  initialClk?: string;
  clk?: string;
}

/** `{"op":"authentication","id":1,"appKey":"...","session":"..."}`. The text holds secrets: never log it. */
export function buildAuthentication(id: number, appKey: string, sessionToken: string): string {
  return JSON.stringify({ op: 'authentication', id, appKey, session: sessionToken });
}

/** `{"op":"marketSubscription",...}`. Empty filter arrays are left out (absent = no restriction). */
export function buildMarketSubscription(req: MarketSubscriptionRequest): string {
  const marketFilter: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(req.marketFilter)) if (Array.isArray(v) && v.length > 0) marketFilter[k] = v;
  const msg: Record<string, unknown> = {
    op: 'marketSubscription',
    id: req.id,
    marketFilter,
    marketDataFilter: {
      fields: req.marketDataFilter.fields,
      ...(req.marketDataFilter.ladderLevels !== undefined ? { ladderLevels: req.marketDataFilter.ladderLevels } : {}),
    },
  };
  if (req.conflateMs !== undefined) msg.conflateMs = req.conflateMs;
  if (req.heartbeatMs !== undefined) msg.heartbeatMs = req.heartbeatMs;
  if (req.segmentationEnabled !== undefined) msg.segmentationEnabled = req.segmentationEnabled;
  if (req.initialClk !== undefined && req.clk !== undefined) {
    msg.initialClk = req.initialClk;
    msg.clk = req.clk;
  }
  return JSON.stringify(msg);
}

/** `{"op":"heartbeat","id":n}`: only keeps firewalls open; the server heartbeats on its own. */
export function buildHeartbeat(id: number): string {
  return JSON.stringify({ op: 'heartbeat', id });
}

/** Clamp a heartbeat request into Betfair's allowed 500-5000 ms. */
export function clampHeartbeatMs(ms: number): number {
  return Math.min(5000, Math.max(500, Math.round(ms)));
}
