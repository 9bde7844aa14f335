/**
 * Kraken connector: the public entry points. See ../../../../shared/reference/venues.md §1.
 */
import type { KrakenPublisherConfig } from '../../config/schema.js';
import { createKrakenFeedSession, type KrakenFeedSession } from './session.js';

export { createKrakenReplaySession, KrakenFeedSession, type KrakenSessionOptions } from './session.js';
export { createKrakenTransport } from './wire.js';
export { KRAKEN_V2_URL } from './protocol.js';

/** The FeedSession for one configured Kraken publisher (feed ticker|book|trade). */
export function createKrakenSession(cfg: KrakenPublisherConfig): KrakenFeedSession {
  return createKrakenFeedSession({
    feed: cfg.feed,
    instruments: cfg.instruments,
    bookDepth: cfg.bookDepth,
    publishLevels: cfg.publishLevels,
  });
}

/** The URL a publisher connects to: `source.url` when set (tests, simulators), else Kraken's v2 endpoint. */
export function krakenUrl(cfg: KrakenPublisherConfig): string {
  return cfg.source.type === 'live' && cfg.source.url ? cfg.source.url : 'wss://ws.kraken.com/v2';
}
